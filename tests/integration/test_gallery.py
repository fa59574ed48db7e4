"""The gallery of "handed an endpoint unreachable from outside the NAT": real, unmodified vsftpd,
etcd and nats-server from Debian's packages, each replayed failing and fixed, and explained from
the bytes on the wire."""

from __future__ import annotations

import pytest

from lab.analysis.explain import Explanation, explain_outcome
from lab.analysis.rundir import RunDir

from ..conftest import REPO
from .conftest import LabRun, run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

CLIENTS = ("win-client", "remote-client")
ROUTER_SAYS_NO_ROUTE = "ICMP network unreachable from router (10.0.2.1)"


def explain(run: LabRun, variant: str, node: str, step: str) -> Explanation:
    folder = RunDir(run.run_dir)
    outcome = next(o for o in folder.outcomes if (o["variant"], o["node"], o["step"]) == (variant, node, step))
    return explain_outcome(folder, outcome)


def assert_cells(run: LabRun, variants: tuple[str, ...], steps: tuple[str, ...], failing: set[tuple[str, str, str]]):
    assert run.returncode == 0, run.stdout + run.stderr
    for variant in variants:
        for client in CLIENTS:
            for step in steps:
                outcome = run.outcome(variant, client, step)
                assert outcome["ok"] is ((variant, client, step) not in failing), (
                    variant,
                    client,
                    step,
                    outcome["output"],
                )
                assert outcome["met"], (variant, client, step)


# --- FTP passive mode: vsftpd and curl ---------------------------------------------------------

FTP = REPO / "scenarios" / "ftp-passive-docker-nat.yaml"
FTP_STEPS = ("login-and-size", "download", "list", "download-ignoring-pasv-address")
PASSIVE_PORTS = range(30000, 30010)


def pasv(address: str, port: int) -> str:
    """A PASV reply's six numbers as vsftpd writes them."""
    return f"{address.replace('.', ',')},{port // 256},{port % 256}"


@pytest.fixture(scope="module")
def ftp_run(tmp_path_factory):
    return run_lab(FTP, tmp_path_factory.mktemp("results"))


def test_ftp_only_data_connections_fail_remote_in_original_everywhere_in_the_half_fix(ftp_run):
    failing = {("original", "remote-client", step) for step in ("download", "list")}
    failing |= {("half-fix", client, step) for client in CLIENTS for step in FTP_STEPS[1:]}
    assert_cells(ftp_run, ("original", "fixed", "half-fix"), FTP_STEPS, failing)


def data_attempt(explanation: Explanation):
    """The data connection of an FTP step, after checking its control connection."""
    assert len(explanation.attempts) == 2, explanation.text()
    control, data = explanation.attempts
    assert (control.dst, control.dport) == ("10.0.31.2", 21) and control.succeeded, explanation.text()
    assert control.nat_rule is not None and control.nat_rule.to == "172.19.0.41:21"
    return data


def test_ftp_original_hands_the_container_address_in_the_pasv_reply(ftp_run):
    explanation = explain(ftp_run, "original", "remote-client", "download")
    data = data_attempt(explanation)
    assert data.dst == "172.19.0.41" and data.dport in PASSIVE_PORTS
    handed = pasv("172.19.0.41", data.dport)
    assert data.endpoints == [f"{handed} (172.19.0.41:{data.dport})"]
    assert data.endpoint_sources[0].startswith("the reply from 10.0.31.2:21 on the wire")
    assert f"227 Entering Passive Mode ({handed})" in data.endpoint_sources[0]
    assert data.answers == [ROUTER_SAYS_NO_ROUTE]
    assert "inside server's Docker network ftpnet" in data.nat
    why = explanation.why()
    assert f"the handed endpoint(s) {handed} (172.19.0.41:{data.dport}) led to 172.19.0.41:{data.dport}" in why
    # the LAN client was handed the same kind of endpoint and its route took it there
    lan = data_attempt(explain(ftp_run, "original", "win-client", "download"))
    assert lan.dst == "172.19.0.41" and lan.succeeded and lan.endpoints[0].startswith("172,19,0,41,")


def test_ftp_half_fix_hands_a_port_the_host_does_not_publish(ftp_run):
    for client in CLIENTS:
        data = data_attempt(explain(ftp_run, "half-fix", client, "download"))
        assert data.dst == "10.0.31.2" and data.dport in PASSIVE_PORTS
        assert data.endpoints == [f"{pasv('10.0.31.2', data.dport)} (10.0.31.2:{data.dport})"]
        assert data.answers == [f"refused (RST from 10.0.31.2:{data.dport})"]
        assert f"no NAT rule for tcp port {data.dport}" in data.nat and "31000-31009/tcp" in data.nat


def test_ftp_fixed_hands_the_servers_address_and_an_identically_published_port(ftp_run):
    for client in CLIENTS:
        data = data_attempt(explain(ftp_run, "fixed", client, "download"))
        assert data.dst == "10.0.31.2" and data.succeeded
        assert data.endpoints == [f"{pasv('10.0.31.2', data.dport)} (10.0.31.2:{data.dport})"]
        assert data.nat_rule is not None and data.nat_rule.to == f"172.19.0.41:{data.dport}"


# --- etcd: members advertise their client URLs ------------------------------------------------

ETCD = REPO / "scenarios" / "etcd-cluster-docker-nat.yaml"
ETCD_STEPS = ("put", "get", "member-list", "endpoint-status-cluster", "endpoint-health-cluster")
CLUSTER_STEPS = ("endpoint-status-cluster", "endpoint-health-cluster")


@pytest.fixture(scope="module")
def etcd_run(tmp_path_factory):
    return run_lab(ETCD, tmp_path_factory.mktemp("results"))


def test_etcd_only_what_follows_the_advertised_urls_fails_remote_in_original(etcd_run):
    failing = {("original", "remote-client", step) for step in CLUSTER_STEPS}
    assert_cells(etcd_run, ("original", "fixed"), ETCD_STEPS, failing)


def test_etcd_original_hands_out_the_members_container_urls(etcd_run):
    for step in CLUSTER_STEPS:
        explanation = explain(etcd_run, "original", "remote-client", step)
        evidence = explanation.text()
        entry, *members = explanation.attempts
        assert (entry.dst, entry.dport) == ("10.0.31.2", 12379) and entry.succeeded, evidence
        assert sorted(m.dst for m in members) == ["172.19.0.41", "172.19.0.42", "172.19.0.43"], evidence
        for member in members:
            assert member.dport == 2379 and not member.succeeded, evidence
            assert member.endpoints[0] == f"{member.dst}:2379", evidence
            assert member.endpoint_sources[0].startswith("the reply from 10.0.31.2:12379 on the wire")
            assert f"http://{member.dst}:2379" in member.endpoint_sources[0]
            # what the network did: the router has no route (and may stay silent once it rate-limits ICMP)
            assert member.answers in ([ROUTER_SAYS_NO_ROUTE], []), member.answers
            assert "inside server's Docker network etcdnet" in member.nat
        assert "the handed endpoint(s) 172.19.0.4" in explanation.why()


def test_etcd_fixed_hands_out_the_published_ports(etcd_run):
    explanation = explain(etcd_run, "fixed", "remote-client", "endpoint-status-cluster")
    evidence = explanation.text()
    targets = {(a.dst, a.dport) for a in explanation.attempts}
    assert targets == {("10.0.31.2", 12379), ("10.0.31.2", 22379), ("10.0.31.2", 32379)}, evidence
    for attempt in explanation.attempts:
        assert attempt.succeeded, evidence
        if attempt.dport != 12379:
            assert attempt.endpoints[0] == f"10.0.31.2:{attempt.dport}", evidence


# --- NATS: INFO hands clients the cluster's connect_urls -----------------------------------------

NATS = REPO / "scenarios" / "nats-cluster-docker-nat.yaml"
NATS_STEPS = ("discover", "failover")
SERVER_STEPS = {("nats1", "cluster-ready"), ("nats2", "cluster-ready"), ("nats3", "cluster-ready")}
SERVER_STEPS |= {("nats1", "arm-stop"), ("nats2", "nats1-gone"), ("nats3", "nats1-gone"), ("nats2", "arm-stop")}
ENTRY = {"win-client": 14222, "remote-client": 24222}  # the published port each client's failover starts at


@pytest.fixture(scope="module")
def nats_run(tmp_path_factory):
    return run_lab(NATS, tmp_path_factory.mktemp("results"))


def test_nats_only_the_remote_clients_failover_fails_in_original(nats_run):
    assert_cells(nats_run, ("original", "fixed"), NATS_STEPS, {("original", "remote-client", "failover")})
    for variant in ("original", "fixed"):
        for node, step in SERVER_STEPS:
            assert nats_run.outcome(variant, node, step)["ok"], (variant, node, step)
    # what the client printed: INFO announced the container addresses, then no server took over
    assert "discovered nats://172.19.0.42:4222" in nats_run.outcome("original", "remote-client", "discover")["output"]
    failover = nats_run.outcome("original", "remote-client", "failover")["output"]
    assert "no server took over: NoServersError" in failover, failover


def entry_attempt(explanation: Explanation, node: str):
    """The attempts to the published port the client started at (checked), and the others."""
    entry = [a for a in explanation.attempts if (a.dst, a.dport) == ("10.0.31.2", ENTRY[node])]
    assert len(entry) == 1 and entry[0].answers[0] == f"accepted (SYN-ACK from 10.0.31.2:{ENTRY[node]})"
    return entry[0], [a for a in explanation.attempts if a is not entry[0]]


def assert_handed_in_info(attempt, node: str) -> None:
    """`attempt` went where the INFO line of the client's first server said, as JSON on the wire."""
    assert attempt.endpoints[0] == f"{attempt.dst}:{attempt.dport}", attempt.endpoints
    source = attempt.endpoint_sources[0]
    assert source.startswith(f"the reply from 10.0.31.2:{ENTRY[node]} on the wire"), source
    assert f'"{attempt.dst}:{attempt.dport}"' in source, source  # a JSON string in the INFO line


def test_nats_original_hands_the_remote_client_container_addresses_in_connect_urls(nats_run):
    explanation = explain(nats_run, "original", "remote-client", "failover")
    evidence = explanation.text()
    entry, others = entry_attempt(explanation, "remote-client")
    # its server stopped: the published port is gone and the Docker host refuses it
    assert "refused (RST from 10.0.31.2:24222)" in entry.answers, evidence
    assert "no NAT rule for tcp port 24222" in entry.nat, evidence
    # nats1 was stopped before: INFO names the two servers left, by their container addresses
    assert sorted((a.dst, a.dport) for a in others) == [("172.19.0.42", 4222), ("172.19.0.43", 4222)], evidence
    for attempt in others:
        assert not attempt.succeeded, evidence
        assert_handed_in_info(attempt, "remote-client")
        assert '"connect_urls":[' in attempt.endpoint_sources[0], attempt.endpoint_sources
        # the router has no route (and stays silent once it rate-limits its ICMP)
        assert attempt.answers in ([ROUTER_SAYS_NO_ROUTE], []), attempt.answers
        assert "inside server's Docker network natsnet" in attempt.nat, evidence
    why = explanation.why()
    assert "the handed endpoint(s) 172.19.0.42:4222 led to 172.19.0.42:4222, which gave" in why, why
    assert "no server took over" in why, why


def test_nats_original_lan_client_fails_over_through_its_route(nats_run):
    explanation = explain(nats_run, "original", "win-client", "failover")
    _, others = entry_attempt(explanation, "win-client")
    took_over = [a for a in others if a.succeeded]
    assert len(took_over) == 1, explanation.text()
    assert took_over[0].dst in ("172.19.0.42", "172.19.0.43") and took_over[0].dport == 4222, explanation.text()
    assert_handed_in_info(took_over[0], "win-client")


def test_nats_fixed_hands_out_the_published_ports(nats_run):
    took_over_to = {}
    for node in CLIENTS:
        explanation = explain(nats_run, "fixed", node, "failover")
        _, others = entry_attempt(explanation, node)
        took_over = [a for a in others if a.succeeded]
        assert len(took_over) == 1, explanation.text()
        attempt = took_over[0]
        assert attempt.dst == "10.0.31.2" and attempt.dport in (24222, 34222) and attempt.dport != ENTRY[node]
        assert_handed_in_info(attempt, node)
        took_over_to[node] = attempt
    # nats3 is the one server still running at the end (the NAT state is read then): the remote client's way there
    remote = took_over_to["remote-client"]
    assert remote.dport == 34222 and remote.nat_rule is not None and remote.nat_rule.to == "172.19.0.43:4222"
