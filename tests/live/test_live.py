"""Live labs, for real: `lab up` of the incident's `original` variant with its setup steps, then
exec, capture, shell (through a real pseudo-terminal), steps, a second lab, `lab clean`, and
`lab down` leaving nothing of the lab behind."""

from __future__ import annotations

import glob
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pexpect
import pytest

from lab.deploy.journal import STATE_DIR, leftovers, read, same_process
from lab.live import registry
from tests.conftest import REPO
from tests.integration import machine
from tests.terminal import converse_in_remote_client

pytestmark = pytest.mark.root
SCENARIO = "scenarios/tdengine-docker-cross-subnet.yaml"
LAB = [sys.executable, "-m", "lab"]
UP_TIMEOUT_S = 600
CAPTURE_WAIT_S = 30
SHOW_DNODES = ["taos", "-h", "10.0.31.2", "-P", "16030", "-s", "show dnodes"]


def lab(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `lab ARGS...` from the repository; its exit status and output."""
    return subprocess.run([*LAB, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def journal_of(name: str) -> list[dict]:
    """The journal records of the lab called `name` (exactly)."""
    (found,) = [one for one in registry.labs() if one.name == name]
    return read(found.journal)


def assert_down_and_gone(name: str, records: list[dict], before_network: dict) -> None:
    """`lab down NAME` succeeds and nothing of that lab is left: the same checks as the crash tests."""
    run_id = registry.find(name).run_id
    owner = next(r for r in records if r["kind"] == "run")
    done = lab("down", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert not same_process(owner["pid"], owner["started"]), "the keeper outlived `lab down`"
    assert not (STATE_DIR / f"{run_id}.jsonl").exists(), "the lab's journal is left: something was not undone"
    assert leftovers(records) == []
    marker = f"lab-{run_id}"
    inodes = {r["netns"] for r in records if r["kind"] == "node"}
    assert not machine.namespaces_of_processes_older_than(inodes, 0), "a namespace of the lab survived"
    assert machine.lab_processes((marker,)) == [], "a process of the lab survived"
    assert not [m for m in machine.root_mounts() if marker in m], "a mount of the lab survived"
    assert sorted(glob.glob(f"/sys/fs/cgroup/*/{marker}-*")) == [], "a cgroup of the lab survived"
    assert not glob.glob(f"/tmp/{marker}-*"), "a /tmp folder of the lab survived"
    assert machine.root_network() == before_network, "the machine's own network changed"
    assert name not in lab("status").stdout


@pytest.fixture(scope="module")
def before():
    """The machine's own network before any lab of this module was up."""
    return machine.root_network()


@pytest.fixture(scope="module")
def incident(tmp_path_factory, before):
    """The incident's `original` variant with its setup steps, brought up from a terminal that is then closed."""
    name = f"t-{uuid.uuid4().hex[:6]}-original"
    results = tmp_path_factory.mktemp("live-results")
    terminal = pexpect.spawn("bash", ["--norc", "--noprofile"], cwd=str(REPO), encoding="utf-8", timeout=UP_TIMEOUT_S)
    command = [*LAB, "up", SCENARIO, "--variant", "original", "--steps", "--name", name, "--results", str(results)]
    terminal.sendline(" ".join(command) + "; echo UP-EXIT-$?")
    terminal.expect(r"UP-EXIT-(\d+)")
    printed = terminal.before
    assert terminal.match.group(1) == "0", printed
    terminal.close(force=True)  # the terminal that started it ends (SIGHUP to its session)
    assert f"lab {name} is up" in printed
    assert "taosnode1 cluster-ready: ok" in printed
    records = journal_of(name)
    yield name, records, results
    if any(one.name == name for one in registry.labs()):  # a test failed before `lab down`
        lab("down", name)


def _resets(pcap: Path) -> list:
    """The TCP resets from 10.0.31.2:6030 in a capture file (so far)."""
    from scapy.all import IP, TCP, rdpcap
    from scapy.error import Scapy_Exception

    try:
        packets = rdpcap(str(pcap))
    except (Scapy_Exception, EOFError):  # not even the file header yet
        return []
    return [p for p in packets if TCP in p and p[IP].src == "10.0.31.2" and p[TCP].sport == 6030 and p[TCP].flags.R]


def test_the_remote_client_fails_the_lan_client_works_and_the_rst_is_captured(incident, tmp_path):
    name, _, _ = incident
    assert name in lab("status").stdout
    pcap = tmp_path / "remote.pcap"
    with open(pcap, "wb") as into:
        capture = subprocess.Popen(
            [*LAB, "capture", name[:9], "remote-client:remote", "-w", "-"],
            cwd=REPO,
            stdout=into,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert "listening on" in capture.stderr.readline()
            remote = lab("exec", name, "remote-client", "--", *SHOW_DNODES)
            deadline = time.monotonic() + CAPTURE_WAIT_S  # packet-buffered: wait until the RST is written
            while not (resets := _resets(pcap)) and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            capture.send_signal(signal.SIGINT)  # as Ctrl-C: tcpdump flushes and stops
            capture.wait(timeout=30)
    assert capture.returncode == 0, capture.stderr.read()
    assert "Unable to establish connection" in remote.stdout + remote.stderr
    lan = lab("exec", name, "win-client", "--", *SHOW_DNODES)
    assert "Query OK, 3 row(s) in set" in lan.stdout, lan.stdout + lan.stderr
    assert lan.stdout.count(" ready ") == 3
    from scapy.all import rdpcap

    seen = "\n".join(p.summary() for p in rdpcap(str(pcap)))
    assert resets, f"no RST from 10.0.31.2:6030 in the remote client's capture; it holds:\n{seen}\n{remote.stdout}"


def test_exec_returns_the_status_and_wrong_names_list_what_exists(incident):
    name, _, _ = incident
    assert lab("exec", name, "router", "--", "sh", "-c", "exit 7").returncode == 7
    wrong = lab("exec", "no-such-lab", "router", "--", "true")
    assert wrong.returncode == 2 and name in wrong.stderr and "Traceback" not in wrong.stderr
    wrong = lab("exec", name, "no-such-node", "--", "true")
    assert wrong.returncode == 2 and "remote-client" in wrong.stderr and "taosnode1" in wrong.stderr


def test_a_shell_in_a_node_through_a_real_terminal(incident):
    name, _, _ = incident
    shell = pexpect.spawn(
        LAB[0], [*LAB[1:], "shell", name, "remote-client"], cwd=str(REPO), encoding="utf-8", timeout=60
    )
    shell.setwinsize(37, 101)
    converse_in_remote_client(shell, name, asked=(("getent hosts taosnode1", r"10\.0\.31\.2\s+taosnode1"),))


def test_a_shell_in_a_container_through_its_engine(incident):
    name, _, _ = incident
    shell = pexpect.spawn(LAB[0], [*LAB[1:], "shell", name, "taosnode2"], cwd=str(REPO), encoding="utf-8", timeout=60)
    shell.expect(re.escape(f"[{name}] taosnode2:"))
    shell.sendline("hostname; exit")
    shell.expect(r"[\r\n]taosnode2\r\n")
    shell.expect(pexpect.EOF)


def test_steps_record_into_the_labs_folder_for_explain(incident):
    name, records, _ = incident
    folder = Path(next(r["results"] for r in records if r["kind"] == "run"))
    ran = lab("steps", name, "show-dnodes")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # the remote client's failure is what `original` expects
    assert "show-dnodes" in ran.stdout and "cluster-ready" not in ran.stdout  # its table: this call's steps only
    results = json.loads((folder / "results.json").read_text())
    steps = [(o["node"], o["step"]) for o in results["outcomes"]]
    assert ("taosnode1", "cluster-ready") in steps  # from `up --steps`
    assert ("remote-client", "show-dnodes") in steps and ("win-client", "show-dnodes") in steps
    explained = lab("explain", str(folder))
    assert explained.returncode == 0, explained.stdout + explained.stderr
    # from the lab's own captures and the nodes' state as the steps left them, as after a run
    failing = explained.stdout.split("original / remote-client / show-dnodes: FAILED", 1)[1].split("\n\n")[0]
    assert "refused (RST from 10.0.31.2:6030)" in failing, explained.stdout
    assert "handed endpoint(s): taosnode1:6030" in failing, explained.stdout
    assert "remote-client's /etc/hosts maps taosnode1 -> 10.0.31.2" in failing, explained.stdout


def test_a_live_lab_survives_clean_and_a_second_lab_and_down_of_the_other(incident, tmp_path, before):
    name, records, _ = incident
    cleaned = lab("clean")
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert registry.find(name).state == "up", "`lab clean` touched a live lab"
    assert lab("exec", name, "remote-client", "--", "hostname").stdout == "remote-client\n"
    second = f"{name}-b"
    up = lab(
        "up", SCENARIO, "--variant", "original", "--name", second, "--results", str(tmp_path), timeout=UP_TIMEOUT_S
    )
    assert up.returncode == 0, up.stdout + up.stderr
    both = lab("status").stdout
    assert name in both and second in both
    wrong = lab("status", name[:4])  # a prefix of both names
    assert wrong.returncode == 2 and name in wrong.stderr
    assert lab("exec", second, "remote-client", "--", "hostname").stdout == "remote-client\n"
    assert_down_and_gone(second, journal_of(second), before)
    lan = lab("exec", name, "win-client", "--", *SHOW_DNODES)
    assert lan.stdout.count(" ready ") == 3, lan.stdout + lan.stderr


def test_down_leaves_nothing_behind(incident, before):
    name, records, _ = incident
    assert_down_and_gone(name, records, before)
    gone = lab("exec", name, "router", "--", "true")
    assert gone.returncode == 2 and "no lab" in gone.stderr
