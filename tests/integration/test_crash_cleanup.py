"""A runner killed with SIGKILL leaves its journal; `python -m lab clean` then removes everything it made."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.deploy.journal import STATE_DIR, leftovers, processes_using, read

from ..conftest import REPO
from . import machine

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

NAT = REPO / "scenarios" / "docker-nat-reachability.yaml"


def _run_id(results_root):
    (run_dir,) = results_root.iterdir()
    return json.loads((run_dir / "results.json").read_text())["run_id"]


@pytest.mark.parametrize(
    "moment",
    [
        "server: dockerd ...",  # during the build, before any container
        "container taosnode3",  # containers up (and their docker-proxies)
        "win-client tcp-published",  # during the steps
    ],
)
def test_sigkill_then_clean_leaves_nothing(tmp_path, moment):
    network_before = machine.root_network()
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "run", str(NAT), "--results", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    seen = []
    for line in process.stderr:
        seen.append(line)
        if moment in line or time.monotonic() > deadline:
            break
    assert any(moment in line for line in seen), "".join(seen)
    killed_at = machine.uptime()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    run_id = _run_id(tmp_path)
    journal = STATE_DIR / f"{run_id}.jsonl"
    assert journal.exists(), "a killed run must leave its journal"
    records = read(journal)
    assert {r["kind"] for r in records} >= {"run", "folder", "node"}
    folder = next(r["path"] for r in records if r["kind"] == "folder")
    netns = {r["netns"] for r in records if r["kind"] == "node"}

    cleaned = subprocess.run(
        [sys.executable, "-m", "lab", "clean", "--run", run_id], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert f"run {run_id}:" in cleaned.stdout
    assert not journal.exists()
    # exactly what this run made is gone (other labs may run on the machine meanwhile)
    assert leftovers(records) == []
    assert not machine.namespaces_of_processes_older_than(netns, killed_at), "a namespace of the run survived"
    assert processes_using(folder) == []
    assert not [m for m in machine.root_mounts() if m.startswith(folder)]
    assert not Path(folder).exists()
    assert machine.root_network() == network_before
    results = json.loads(next(tmp_path.iterdir()).joinpath("results.json").read_text())
    assert results["complete"] is False


def test_clean_of_an_unknown_run_is_a_usage_error():
    result = subprocess.run(
        [sys.executable, "-m", "lab", "clean", "--run", "no-such-run"], cwd=REPO, capture_output=True, text=True
    )
    assert result.returncode == 2 and "no journal of a run 'no-such-run'" in result.stderr
