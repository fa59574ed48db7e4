"""The incident's network without a database, built for real: reachability, records, teardown, isolation."""

from __future__ import annotations

import re
import subprocess

import pytest

from lab.deploy.journal import STATE_DIR

from ..conftest import REPO
from . import machine
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "scenarios" / "docker-nat-reachability.yaml"


@pytest.fixture(scope="module")
def nat_run(tmp_path_factory):
    before = machine.snapshot()
    run = run_lab(SCENARIO, tmp_path_factory.mktemp("results"))
    after = machine.snapshot()
    return run, before, after


def test_run_exits_0_with_every_expectation_met(nat_run):
    run, _, _ = nat_run
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().splitlines()[-1] == f"results: {run.run_dir}"
    summary = run.results["summary"]
    assert summary == {"outcomes": 11, "met": 11, "unmet": 0, "all_met": True}


@pytest.mark.parametrize(
    "node,step,ok,text",
    [
        ("win-client", "tcp-container", True, "connected"),
        ("win-client", "tcp-published", True, "connected"),
        ("win-client", "tcp-by-name", True, "taosnode1 (172.19.0.41):6030: connected"),
        ("remote-client", "tcp-published", True, "connected"),
        ("remote-client", "udp-published", True, "reply of 10 bytes from 10.0.31.2:16030"),
        ("remote-client", "tcp-container", False, "unreachable"),
        ("remote-client", "tcp-unpublished", False, "refused"),
        ("remote-client", "tcp-by-name", False, "taosnode1 (10.0.31.2):6030: refused"),
    ],
)
def test_what_each_client_reached(nat_run, node, step, ok, text):
    run, _, _ = nat_run
    outcome = run.outcome("default", node, step)
    assert outcome["ok"] is ok and outcome["met"] is True
    assert text in outcome["output"]


def ttls(pcap, source: str) -> set[str]:
    """The IP TTLs of packets from `source` in a capture, as tcpdump reads them."""
    text = subprocess.run(
        ["tcpdump", "-r", str(pcap), "-n", "-v", "ip", "and", "src", source], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"ttl (\d+)", text))


def test_windows_profile_is_visible_on_the_wire(nat_run):
    run, _, _ = nat_run
    server_lan = run.run_dir / "default" / "captures" / "server-lan.pcap"
    assert ttls(server_lan, "10.0.31.5") == {"128"}  # the Windows client, one hop: nothing decremented
    assert ttls(server_lan, "10.0.2.61") == {"63"}  # Linux's 64, less one for the router
    transcript = (run.run_dir / "transcript.log").read_text()
    assert "[win-client] $ sysctl -q -w net.ipv4.ip_default_ttl=128" in transcript
    assert "[win-client] $ sysctl -q -w net.ipv4.tcp_syn_retries=2" in transcript
    assert "[remote-client] $ sysctl" not in transcript


def test_results_folder_holds_the_records(nat_run):
    run, _, _ = nat_run
    results = run.results
    assert results["schema"] == "lab.results/1" and results["complete"] is True
    assert results["scenario"]["name"] == "docker-nat-reachability" and len(results["scenario"]["sha256"]) == 64
    assert results["versions"]["docker"].startswith("20.") and results["versions"]["kernel"]
    header = (run.run_dir / "outcomes.csv").read_text().splitlines()[0]
    assert header == "variant,node,step,ok,expected,met,exit_code,duration_s,error,output,trial,cell"
    transcript = (run.run_dir / "transcript.log").read_text()
    assert "docker create --name taosnode1" in transcript and "nsenter --net=/proc/" in transcript
    for name in ("win-client-any", "remote-client-any", "server-lan"):
        pcap = run.run_dir / "default" / "captures" / f"{name}.pcap"
        assert pcap.stat().st_size > 24, f"{pcap} holds no packets"
    session = run.run_dir / "default" / "sessions" / "remote-client--tcp-unpublished.txt"
    assert "refused" in session.read_text()


def test_teardown_leaves_nothing(nat_run):
    run, before, after = nat_run
    # subsets, not equality: another lab may be running on the machine at the same time
    assert set(after["processes"]) <= set(before["processes"])
    assert after["netns"] <= before["netns"], "network namespaces outlived the run"
    assert set(after["mounts"]) <= set(before["mounts"])
    assert set(after["tmp"]) <= set(before["tmp"])
    assert not (STATE_DIR / f"{run.results['run_id']}.jsonl").exists(), "the run's journal was not closed"


def test_root_namespace_is_unchanged(nat_run):
    _, before, after = nat_run
    assert after["network"] == before["network"]
