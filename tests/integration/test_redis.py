"""A real, unmodified Redis Cluster behind Docker NAT: the same failure class, explained the same way."""

from __future__ import annotations

import pytest

from lab.analysis.explain import explain_outcome
from lab.analysis.rundir import RunDir

from ..conftest import REPO
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "scenarios" / "redis-cluster-docker-nat.yaml"
KEY_STEPS = ("set-node1-key", "set-node2-key", "set-node3-key", "get-node3-key")


@pytest.fixture(scope="module")
def redis_run(tmp_path_factory):
    return run_lab(SCENARIO, tmp_path_factory.mktemp("results"))


def test_only_the_remote_client_fails_and_only_in_original(redis_run):
    assert redis_run.returncode == 0, redis_run.stdout + redis_run.stderr
    for variant in ("original", "fixed"):
        for client in ("win-client", "remote-client"):
            for step in KEY_STEPS:
                outcome = redis_run.outcome(variant, client, step)
                should_fail = (variant, client) == ("original", "remote-client") and step != "set-node1-key"
                assert outcome["ok"] is not should_fail, (variant, client, step, outcome["output"])
                assert outcome["met"]


def test_the_failure_is_a_moved_redirect_to_an_unroutable_container_address(redis_run):
    run = RunDir(redis_run.run_dir)
    outcome = next(
        o
        for o in run.outcomes
        if (o["variant"], o["node"], o["step"]) == ("original", "remote-client", "set-node2-key")
    )
    assert "Could not connect to Redis at 172.19.0.42:6379: Network is unreachable" in outcome["output"]
    explanation = explain_outcome(run, outcome)
    entry, redirect = explanation.attempts
    assert (entry.dst, entry.dport) == ("10.0.31.2", 7001) and entry.succeeded
    assert entry.nat_rule.to == "172.19.0.41:6379"
    assert (redirect.dst, redirect.dport) == ("172.19.0.42", 6379)
    assert redirect.endpoints == ["172.19.0.42:6379"]
    assert redirect.answers == ["ICMP network unreachable from router (10.0.2.1)"]


def test_fixed_cluster_announces_the_servers_published_ports(redis_run):
    run = RunDir(redis_run.run_dir)
    create = next(o for o in run.outcomes if (o["variant"], o["step"]) == ("fixed", "create-cluster"))
    for port in (7001, 7002, 7003):
        assert f"10.0.31.2:{port}" in create["output"]
