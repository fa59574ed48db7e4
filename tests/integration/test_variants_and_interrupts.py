"""Variants are built fresh and kept apart; a Ctrl-C tears everything down and marks the run incomplete."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from lab.deploy.journal import STATE_DIR

from ..conftest import REPO
from . import machine
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

VARIANTS = REPO / "tests" / "integration" / "scenarios" / "variants.yaml"
NAT = REPO / "scenarios" / "docker-nat-reachability.yaml"


def test_each_variant_is_built_fresh_and_recorded_apart(tmp_path):
    run = run_lab(VARIANTS, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [v["name"] for v in run.results["variants"]] == ["first", "second"]
    for variant in ("first", "second"):
        assert run.outcome(variant, "client", "marker")["ok"], "a file of the earlier variant survived"
    own = run.outcome("first", "client", "own-hostname")["output"].split()
    assert own == ["client", "127.0.1.1", "client"], "the node's own host name, from its own hosts file"
    assert run.outcome("first", "echo1", "greeting")["output"] == "hello from 16030\n"
    assert run.outcome("second", "echo1", "greeting")["output"] == "hello from 6030\n"
    assert run.outcome("second", "client", "published")["ok"]
    old = run.outcome("second", "client", "old-port")
    assert not old["ok"] and old["met"] and "refused" in old["output"]
    assert (run.run_dir / "first" / "sessions" / "echo1--greeting.txt").read_text() == "hello from 16030\n"
    assert (run.run_dir / "second" / "sessions" / "echo1--greeting.txt").read_text() == "hello from 6030\n"


def test_unmet_expectation_exits_1(tmp_path):
    scenario = tmp_path / "unmet.yaml"
    scenario.write_text(VARIANTS.read_text().replace("fail: refused", "ok: true"))
    run = run_lab(scenario, tmp_path / "results", "--variant", "second")
    assert run.returncode == 1, run.stdout + run.stderr
    assert [v["name"] for v in run.results["variants"]] == ["second"]
    assert run.results["summary"]["unmet"] == 1
    assert "expectations met: 4/5" in run.stdout


def test_ctrl_c_tears_down_and_marks_the_run_incomplete(tmp_path):
    network_before = machine.root_network()
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "run", str(NAT), "--results", str(tmp_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    for line in process.stderr:
        if "container taosnode2" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    (run_dir,) = tmp_path.iterdir()
    results = json.loads((run_dir / "results.json").read_text())
    assert results["complete"] is False
    # everything of this run is gone (checked by its id: other labs may run meanwhile)
    marker = f"lab-{results['run_id']}"
    assert not (STATE_DIR / f"{results['run_id']}.jsonl").exists(), "teardown left objects in the journal"
    assert machine.lab_processes((marker,)) == []
    assert not [m for m in machine.root_mounts() if marker in m]
    assert not [d for d in machine.lab_temp_dirs() if marker in d]
    assert machine.root_network() == network_before
