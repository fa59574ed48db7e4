"""The emulated TDengine in real containers on a Docker network: formation, failure, takeover, client rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lab.analysis.explain import explain_outcome
from lab.analysis.rundir import RunDir

from ..conftest import REPO, assert_golden
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "tests" / "integration" / "scenarios" / "tdengine-cluster.yaml"
GOLDEN = Path(__file__).parent / "golden"


def masked(transcript: str) -> str:
    """A shell transcript with what changes from run to run masked: timings, dates, vnode counts
    (where the balancer has put the monitor's vgroup), core counts."""
    transcript = re.sub(r"\(\d+\.\d{6}s\)", "(T s)", transcript)
    transcript = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "YYYY-MM-DD hh:mm:ss.mmm", transcript)
    return re.sub(r"(\|\s+)\d+( \|\s+)\d+( \|)", r"\1V\2N\3", transcript)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    run = run_lab(SCENARIO, tmp_path_factory.mktemp("results"))
    assert run.run_dir is not None, run.stdout + run.stderr
    return run


def test_every_expectation_is_met(cluster):
    assert cluster.returncode == 0, cluster.stdout + cluster.stderr


def test_three_dnodes_form_a_cluster_with_create_dnode(cluster):
    output = cluster.outcome("default", "taosnode1", "cluster-ready")["output"]
    for row in ("taosnode1:6030", "taosnode2:6030", "taosnode3:6030"):
        assert re.search(rf"\| {row}\s+\|\s+\d+ \|\s+\d+ \| ready ", output), row


def test_a_status_from_an_unregistered_endpoint_is_refused(cluster):
    log = cluster.outcome("default", "taosnode4", "unregistered-refused")["output"]
    assert "DNode does not exist" in log
    table = cluster.outcome("default", "taosnode1", "wrong-case-offline")["output"]
    assert re.search(r"\| TAOSNODE4:6030\s+\|.*\| offline\s+\|.*\| status not received\s+\|", table)


def test_a_stopped_dnode_goes_offline_with_status_msg_timeout(cluster):
    table = cluster.outcome("default", "taosnode1", "dnode5-offline")["output"]
    assert re.search(r"\| taosnode5:6030\s+\|.*\| offline\s+\|.*\| status msg timeout\s+\|", table)


def test_another_dnode_takes_over_and_clients_are_redirected_there(cluster):
    mnodes = cluster.outcome("default", "client", "takeover")["output"]
    assert re.search(r"\| taosnode2:6030\s+\| master\s+\|", mnodes)
    redirected = cluster.outcome("default", "client", "redirected")
    assert redirected["ok"]
    assert re.search(r"\| taosnode1:6030\s+\|.*\| offline\s+\|", redirected["output"])


def test_the_client_replaces_its_endpoint_set_after_connect(cluster):
    run = RunDir(cluster.run_dir)
    outcome = next(o for o in run.outcomes if o["step"] == "endpoint-replacement")
    attempts = {(a.protocol, a.dst, a.dport) for a in explain_outcome(run, outcome).attempts}
    assert ("udp", "172.19.0.43", 6030) in attempts, "connect goes to the address given with -h"
    assert ("tcp", "172.19.0.41", 6030) in attempts, "show dnodes goes to the master, by the name handed back"
    assert ("tcp", "172.19.0.43", 6030) not in attempts


def test_the_client_retries_over_its_endpoint_set(cluster):
    run = RunDir(cluster.run_dir)
    outcome = next(o for o in run.outcomes if o["step"] == "takeover")
    tried = [(a.protocol, a.dst) for a in explain_outcome(run, outcome).attempts]
    assert ("udp", "172.19.0.41") in tried and ("udp", "172.19.0.42") in tried, "firstEp (gone), then secondEp"


@pytest.mark.parametrize("step", ["unresolvable", "unanswered", "endpoint-replacement"])
def test_shell_transcripts_match_the_reference_format(cluster, step):
    outcome = cluster.outcome("default", "client", step)
    assert_golden(masked(outcome["output"]), GOLDEN / f"tdengine-{step}.txt")
