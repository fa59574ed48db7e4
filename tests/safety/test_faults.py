"""Fault injection: SIGINT, SIGTERM and SIGKILL at many moments of a real run, then `lab clean`;
nothing of the run may be left.

Each case runs a small real lab (a Docker host with one container, a client; steps that leave
daemons in both nodes) with `python -m lab run`, waits for a moment from the run's own
progress lines on stderr (never a fixed sleep), sends the signal, lets the run end, then runs
`lab clean` when the run could not tear down itself (SIGKILL), and compares the machine with
the snapshot taken before: the root namespace's links, addresses, routes, iptables and
nftables rules; the run's namespaces, processes (zombies aside), mounts, cgroups (Docker's,
under the run's own cgroup parent) and temporary folders. Other labs may run on the machine
meanwhile, so everything but the root namespace is checked by the run's own ids.
"""

from __future__ import annotations

import glob
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lab.deploy.journal import STATE_DIR, leftovers, read
from lab.errors import ExitStatus

from ..conftest import REPO
from ..integration import machine
from .processes import kill_sleepers, new_token, sleepers

pytestmark = pytest.mark.root  # real namespaces, a real dockerd and containers

SCENARIO = REPO / "tests" / "safety" / "scenarios" / "faults.yaml"
MOMENT_WAIT_S = 120  # a bound for a hung run, not a speed target

MOMENTS = {
    "build": "server: dockerd ...",  # nodes and switches exist, dockerd starting
    "containers": "server: container echo1 (",  # docker create/start under way
    "steps": "client background: ok",  # daemons left in both nodes' namespaces
    "teardown": "tearing down ...",
    "report": "report: topology",  # the run is recorded; its own folders are not yet removed
}
CASES = [
    ("SIGINT", "build"),
    ("SIGINT", "containers"),
    ("SIGINT", "steps"),
    ("SIGINT", "teardown"),
    ("SIGTERM", "containers"),
    ("SIGTERM", "teardown"),
    ("SIGKILL", "build"),
    ("SIGKILL", "containers"),
    ("SIGKILL", "steps"),
    ("SIGKILL", "teardown"),
    ("SIGKILL", "report"),
]


class Run:
    """`python -m lab run` in the background, its stderr read line by line as it comes."""

    def __init__(self, scenario: Path, results: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", "-m", "lab", "run", str(scenario), "--results", str(results)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # a shell's background job inherits SIGINT ignored, and Python keeps it so: as at a terminal
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        self.results = results
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str) -> None:
        """Block until the run prints a line containing `text`."""
        deadline = time.monotonic() + MOMENT_WAIT_S
        while True:
            line = self.lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, f"the run ended before {text!r}:\n{''.join(self.seen)}"
            self.seen.append(line)
            if text in line:
                return

    def finish(self) -> tuple[int, str]:
        """Wait for the run's end; its exit status and everything it printed on stderr."""
        try:
            self.process.wait(timeout=MOMENT_WAIT_S)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGABRT)  # faulthandler prints where every thread is
            self.process.wait()
            while (line := self.lines.get(timeout=MOMENT_WAIT_S)) is not None:
                self.seen.append(line)
            pytest.fail(f"the run did not end after the signal:\n{''.join(self.seen)}")
        while (line := self.lines.get(timeout=MOMENT_WAIT_S)) is not None:
            self.seen.append(line)
        return self.process.returncode, "".join(self.seen) + self.process.stdout.read()

    def run_id(self) -> str:
        (run_dir,) = self.results.iterdir()
        return json.loads((run_dir / "results.json").read_text())["run_id"]


def cgroups_of(run_id: str) -> list[str]:
    """Cgroup folders named after the run (each Docker host's cgroup parent), in every hierarchy."""
    return sorted(glob.glob(f"/sys/fs/cgroup/*/lab-{run_id}-*"))


def assert_nothing_left(run_id: str, records: list[dict], signalled_at: float, before: dict, printed: str) -> None:
    """Nothing the run made is left, and the machine's own network is as it was (each failure
    quotes what the run and `lab clean` printed)."""
    marker = f"lab-{run_id}"
    inodes = {r["netns"] for r in records if r["kind"] == "node"}
    checks = {
        "the run's journal (something was not undone)": (STATE_DIR / f"{run_id}.jsonl").exists(),
        "objects of its journal": leftovers(records),
        "namespaces": machine.namespaces_of_processes_older_than(inodes, signalled_at),
        "processes": machine.lab_processes((marker,)),
        "mounts": [m for m in machine.root_mounts() if marker in m],
        "cgroups": cgroups_of(run_id),
        "/tmp folders": [d for d in machine.lab_temp_dirs() if d.startswith(f"/tmp/{marker}-")],
    }
    left = {what: found for what, found in checks.items() if found}
    assert not left, f"the run left {left}\n{printed}"
    assert machine.root_network() == before, f"the machine's own network changed\n{printed}"


@pytest.mark.parametrize("signame, moment", CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_a_signal_at_any_moment_then_clean_leaves_nothing(tmp_path, signame, moment):
    token = new_token()
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(SCENARIO.read_text().replace('token: "600"', f'token: "{token}"'))
    before = machine.root_network()
    run = Run(scenario, tmp_path / "results")
    try:
        run.wait_for(MOMENTS[moment])
        run_id = run.run_id()
        records = read(STATE_DIR / f"{run_id}.jsonl")  # all of its nodes are journaled before "dockerd ..."
        signalled_at = machine.uptime()
        run.process.send_signal(getattr(signal, signame))
        status, printed = run.finish()
        assert "Traceback" not in printed, printed
        if signame == "SIGKILL":
            assert status == -signal.SIGKILL
            if moment == "steps":  # the daemons outlived their dead run: `lab clean` must end them
                assert sleepers(token), "the steps' daemons were expected to survive a SIGKILL"
            records = read(STATE_DIR / f"{run_id}.jsonl")
            cleaned = subprocess.run(
                [sys.executable, "-m", "lab", "clean", "--run", run_id],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=MOMENT_WAIT_S,
            )
            assert cleaned.returncode == ExitStatus.OK, cleaned.stdout + cleaned.stderr
            assert f"run {run_id}:" in cleaned.stdout
            printed += cleaned.stdout + cleaned.stderr
        else:
            assert status == ExitStatus.INTERRUPTED, printed
            assert "interrupted: the lab was torn down" in printed
        assert sleepers(token) == [], "a daemon a step started survived"
        assert_nothing_left(run_id, records, signalled_at, before, printed)
        results = json.loads(next((tmp_path / "results").iterdir()).joinpath("results.json").read_text())
        assert results["complete"] is (moment == "report"), "an interrupted run is marked incomplete"
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        kill_sleepers(token)


def test_a_second_sigint_during_teardown_skips_only_the_waiting(tmp_path):
    token = new_token()
    scenario = tmp_path / "faults.yaml"
    scenario.write_text(SCENARIO.read_text().replace('token: "600"', f'token: "{token}"'))
    before = machine.root_network()
    run = Run(scenario, tmp_path / "results")
    try:
        run.wait_for(MOMENTS["teardown"])
        run_id = run.run_id()
        records = read(STATE_DIR / f"{run_id}.jsonl")
        signalled_at = machine.uptime()
        run.process.send_signal(signal.SIGINT)
        run.wait_for("SIGINT received: finishing the teardown first")
        run.process.send_signal(signal.SIGINT)
        status, printed = run.finish()
        assert status == ExitStatus.INTERRUPTED and "Traceback" not in printed, printed
        assert sleepers(token) == []
        assert_nothing_left(run_id, records, signalled_at, before, printed)
    finally:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()
        kill_sleepers(token)
