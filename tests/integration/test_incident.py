"""The incident replayed with the emulated and with the real TDengine: the matrix, and the explanation
of the failing cell. The real one runs where it is available (tests/real_tdengine.py)."""

from __future__ import annotations

import sys

import pytest

from lab.analysis.explain import explain_outcome
from lab.analysis.rundir import RunDir

from ..conftest import REPO
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "scenarios" / "tdengine-docker-cross-subnet.yaml"


@pytest.fixture(scope="module", params=["emulated", "real", "installed"])
def incident(request, tmp_path_factory):
    """The incident's replay with the emulated TDengine, with the real one from its folder (--tdengine-home),
    and with the real one installed in the official layout (in a private mount namespace: tdengine_installed.py)."""
    results = tmp_path_factory.mktemp(f"results-{request.param}")
    if request.param == "emulated":
        return run_lab(SCENARIO, results)
    home = request.getfixturevalue("tdengine_home")
    if request.param == "real":
        return run_lab(SCENARIO, results, "--tdengine-home", str(home))
    scenario = tmp_path_factory.mktemp("installed") / SCENARIO.name
    scenario.write_text(SCENARIO.read_text().replace("tdengine: emulated", "tdengine: installed"))
    work = tmp_path_factory.mktemp("usr-overlay")
    wrapper = [
        "unshare",
        "--mount",
        "--",
        sys.executable,
        str(REPO / "tests" / "tdengine_installed.py"),
        str(home),
        str(work),
        "--",
    ]
    return run_lab(scenario, results, wrapper=wrapper)


def test_replay_exits_0_with_the_expected_matrix(incident):
    assert incident.returncode == 0, incident.stdout + incident.stderr
    for variant in ("original", "fixed"):
        for client in ("win-client", "remote-client"):
            assert incident.outcome(variant, client, "connect")["ok"], (variant, client)
    assert incident.outcome("original", "win-client", "show-dnodes")["ok"]
    assert incident.outcome("fixed", "win-client", "show-dnodes")["ok"]
    assert incident.outcome("fixed", "remote-client", "show-dnodes")["ok"]
    failing = incident.outcome("original", "remote-client", "show-dnodes")
    assert not failing["ok"] and failing["met"]
    assert failing["exit_code"] == 0, "taos -s exits 0 after a failed query: success is judged from the output"
    assert "DB error: Unable to establish connection" in failing["output"]
    assert "expectations met: 28/28" in incident.stdout


def test_the_remote_client_connects_but_cannot_operate_on_the_data(incident):
    for variant in ("original", "fixed"):
        for step in ("create-database", "create-table", "insert", "select"):
            assert incident.outcome(variant, "win-client", step)["ok"], (variant, step)
    assert "Query OK, 1 row(s) in set" in incident.outcome("original", "win-client", "select")["output"]
    for step in ("insert", "select"):
        failing = incident.outcome("original", "remote-client", step)
        assert not failing["ok"] and failing["met"] and failing["exit_code"] == 0, step
        assert "DB error: Unable to establish connection" in failing["output"], failing["output"]
        assert incident.outcome("fixed", "remote-client", step)["ok"], step
    rows = incident.outcome("fixed", "remote-client", "select")["output"]
    assert "Query OK, 2 row(s) in set" in rows and "10.30000" in rows and "12.60000" in rows


def test_clients_saw_three_ready_dnodes_with_each_configuration(incident):
    for variant, ports in (("original", ("6030", "6030", "6030")), ("fixed", ("6030", "7030", "8030"))):
        output = incident.outcome(variant, "remote-client" if variant == "fixed" else "win-client", "show-dnodes")[
            "output"
        ]
        for number, port in enumerate(ports, 1):
            assert f"taosnode{number}:{port}" in output
        assert output.count(" ready ") == 3


def test_explanation_of_the_failing_cell_is_derived_from_observations(incident):
    run = RunDir(incident.run_dir)
    failing = next(
        o for o in run.outcomes if (o["variant"], o["node"], o["step"]) == ("original", "remote-client", "show-dnodes")
    )
    explanation = explain_outcome(run, failing)
    tcp = [a for a in explanation.attempts if a.protocol == "tcp"]
    assert len(tcp) == 1
    attempt = tcp[0]
    assert (attempt.dst, attempt.dport) == ("10.0.31.2", 6030)
    assert attempt.endpoints == ["taosnode1:6030", "taosnode2:6030", "taosnode3:6030"]
    assert sorted(name for name, _ in attempt.names) == ["taosnode1", "taosnode2", "taosnode3"]
    assert attempt.answers == ["refused (RST from 10.0.31.2:6030)"]
    assert attempt.nat_rule is None and "nothing is published at 10.0.31.2:6030" in attempt.nat
    udp = [a for a in explanation.attempts if a.protocol == "udp"]
    assert udp and udp[0].dport == 16030 and udp[0].succeeded, "the connect went through the published port"
    assert udp[0].nat_rule.to == "172.19.0.41:6030"
    text = (incident.run_dir / "explanation.txt").read_text()
    assert "handed endpoint(s): taosnode1:6030, taosnode2:6030, taosnode3:6030" in text
    assert (
        "maps taosnode1 -> 10.0.31.2 (line 4), taosnode2 -> 10.0.31.2 (line 5), taosnode3 -> 10.0.31.2 (line 6)" in text
    )
    cell = explanation.text()
    assert "refused (RST from 10.0.31.2:6030)" in cell
    for local in ("127.0.", "DNS", "loopback"):  # every node resolves its own name from its hosts file
        assert local not in cell, cell


def test_explanation_of_the_failing_insert_names_the_handed_endpoints(incident):
    run = RunDir(incident.run_dir)
    failing = next(
        o for o in run.outcomes if (o["variant"], o["node"], o["step"]) == ("original", "remote-client", "insert")
    )
    explanation = explain_outcome(run, failing)
    tcp = [a for a in explanation.attempts if a.protocol == "tcp"]
    assert tcp and all((a.dst, a.dport) == ("10.0.31.2", 6030) for a in tcp), tcp
    assert tcp[0].endpoints == ["taosnode1:6030", "taosnode2:6030", "taosnode3:6030"]
    assert tcp[0].answers == ["refused (RST from 10.0.31.2:6030)"]


def test_results_folder_holds_everything_a_user_gets(incident):
    directory = incident.run_dir
    for name in (
        "results.json",
        "outcomes.csv",
        "transcript.log",
        "report.md",
        "explanation.txt",
        "topology-original.svg",
        "topology-fixed.svg",
    ):
        assert (directory / name).stat().st_size > 0, name
    for variant in ("original", "fixed"):
        for capture in ("win-client-any", "remote-client-any", "server-lan"):
            assert (directory / variant / "captures" / f"{capture}.pcap").stat().st_size > 24
        session = (directory / variant / "sessions" / "remote-client--show-dnodes.txt").read_text()
        assert session.startswith("\nWelcome to the TDengine shell from Linux, Client Version:2.0.20.0\n")
    report = (directory / "report.md").read_text()
    for part in (
        "## Topology",
        "![topology of original](topology-original.svg)",
        "## Configurations side by side",
        "serverPort  7030",
        "## What each client saw",
        "## Why the failures happened",
        "nothing is published at 10.0.31.2:6030",
    ):
        assert part in report, part
    assert "<svg" in (directory / "topology-original.svg").read_text()
