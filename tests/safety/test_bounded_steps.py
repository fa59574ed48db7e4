"""Class 4, bounded steps, in a real lab: a step that daemonises or never ends does not outlive
its timeout, and nothing a step started survives the teardown (the node's shell, a daemon in
its namespace, a child in a container)."""

from __future__ import annotations

import pytest

from lab.deploy.journal import STATE_DIR

from ..conftest import REPO
from ..integration import machine
from ..integration.conftest import run_lab
from .processes import kill_sleepers, new_token, sleepers

pytestmark = pytest.mark.root  # real namespaces, a real dockerd

SCENARIO = REPO / "tests" / "safety" / "scenarios" / "faults.yaml"


def scenario_with_token(tmp_path, token: str):
    path = tmp_path / "faults.yaml"
    path.write_text(SCENARIO.read_text().replace('token: "600"', f'token: "{token}"'))
    return path


def test_daemons_and_endless_steps_are_bounded_and_ended(tmp_path):
    token = new_token()
    try:
        network_before = machine.root_network()
        run = run_lab(scenario_with_token(tmp_path, token), tmp_path / "results", timeout=300)
        assert run.returncode == 0, run.stdout + run.stderr
        for node in ("client", "server"):
            daemon = run.outcome("default", node, "daemon")
            assert daemon["ok"] and daemon["exit_code"] == 0, daemon
        assert run.outcome("default", "client", "setsid")["ok"]
        assert run.outcome("default", "client", "background")["output"] == "started\n"
        for node in ("client", "echo1"):
            forever = run.outcome("default", node, "forever")
            assert not forever["ok"] and forever["met"] and forever["error"] == "timed out after 1s", forever
            assert forever["output"] == "waiting\n"
        assert sleepers(token) == [], "a process a step started outlived the run"
        assert not (STATE_DIR / f"{run.results['run_id']}.jsonl").exists(), "teardown left objects behind"
        assert machine.lab_processes((f"lab-{run.results['run_id']}",)) == []
        assert machine.root_network() == network_before
    finally:
        kill_sleepers(token)
