"""Variants in parallel (`run --jobs 2`) give the outcomes a sequential run gives, cell by cell, and
two variants built at the same time never see each other's packets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from lab.analysis.packets import read_variant_captures
from lab.deploy.journal import STATE_DIR
from lab.results.record import safe_name

from ..conftest import REPO
from ..integration import machine
from ..integration.conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces, bridges, a router and captures

SMALL = REPO / "tests" / "integration" / "scenarios" / "sweep-small.yaml"
BARRIER = REPO / "tests" / "integration" / "scenarios" / "sweep-barrier.yaml"
PORTS = {"low": 1111, "high": 2222}


def cells(results: dict) -> dict[tuple[str, str, str], tuple[bool, bool, str]]:
    """Each cell's success, whether it met its expectation, and the first line of its error without timings."""
    return {
        (o["variant"], o["node"], o["step"]): (o["ok"], o["met"], o["error"].split(" after ")[0])
        for o in results["outcomes"]
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    parallel = run_lab(SMALL, root / "parallel", "--jobs", "2")
    sequential = run_lab(SMALL, root / "sequential", "--jobs", "1")
    return parallel, sequential


def test_parallel_and_sequential_sweeps_agree_cell_by_cell(runs):
    parallel, sequential = runs
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr
        assert run.results["summary"]["all_met"]
    assert "up to 2 at once" in parallel.stderr and "at once" not in sequential.stderr
    assert len(cells(parallel.results)) == 8
    assert cells(parallel.results) == cells(sequential.results)
    for variant in parallel.results["variants"]:  # each worker had a run of its own, and closed its journal
        assert variant["run_id"].startswith(parallel.results["run_id"] + "-w")
        assert not (STATE_DIR / f"{variant['run_id']}.jsonl").exists()


def test_the_terminal_pivot_gives_each_failing_cell_its_reason_from_the_explanation(runs):
    for run in runs:
        pivot = run.stdout[run.stdout.index("client / tcp-port (matrix)") :]
        assert "FAILED 1/1: tcp 10.0.31.2:1111: refused (RST from 10.0.31.2:1111)" in pivot, run.stdout
        assert "(RST or ICMP port unreachable)" not in pivot  # the step's own error, not its explanation


def test_parallel_variants_never_see_each_others_packets(tmp_path):
    """Both combinations probe between two barriers (files in one folder), so each probe is sent while the
    other combination is built and capturing, on the same addresses: each capture must hold only its own."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    scenario = tmp_path / "sweep-barrier.yaml"
    scenario.write_text(BARRIER.read_text().replace("/tmp/lab-sweep-barrier-set-by-the-test", str(barrier)))
    run = run_lab(scenario, tmp_path / "results", "--jobs", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(p.name for p in barrier.iterdir()) == ["high-built", "high-probed", "low-built", "low-probed"]
    for name, port in PORTS.items():
        variant = f"port={name}"
        packets = [p for p in read_variant_captures(run.run_dir / variant) if p.protocol == "tcp"]
        own = [p for p in packets if port in (p.sport, p.dport)]
        other = [p for p in packets if p not in own]
        assert len(own) == 2, f"{variant}: expected its SYN and the RST, got {own}"  # one attempt, refused
        assert other == [], f"{variant} saw another variant's packets: {other}"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_parent_tears_down_every_worker(tmp_path, sig):
    """Two trials of one combination wait at the barrier for the other combination (queued behind them):
    the signal reaches only the parent, which has both workers tear down their variants."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    scenario = tmp_path / "sweep-barrier.yaml"
    scenario.write_text(BARRIER.read_text().replace("/tmp/lab-sweep-barrier-set-by-the-test", str(barrier)))
    results = tmp_path / "results"
    process = subprocess.Popen(
        [sys.executable, "-m", "lab", "run", str(scenario), "--results", str(results), "--jobs", "2", "--repeat", "2"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (barrier / "low-built").exists():  # a worker has built its variant and waits at the barrier
            assert process.poll() is None and time.monotonic() < deadline, "no worker reached the barrier"
            time.sleep(0.1)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stdout + stderr
    (run_dir,) = results.iterdir()
    recorded = json.loads((run_dir / "results.json").read_text())
    assert recorded["complete"] is False
    assert "high-built" not in {p.name for p in barrier.iterdir()}  # the queued trials never started
    for worker in ("w1", "w2"):
        run_id = f"{recorded['run_id']}-{worker}"
        assert not (STATE_DIR / f"{run_id}.jsonl").exists(), f"worker {run_id} left objects in its journal"
        assert machine.lab_processes((f"lab-{run_id}",)) == []
        assert not [d for d in machine.lab_temp_dirs() if f"lab-{run_id}" in d]


def test_a_terminal_shows_one_live_line_per_running_variant(tmp_path):
    """On a terminal (a real pty), `run --jobs 2` keeps a line per running variant under the progress:
    its label, for how long it has run, what it does; the lines go when the variants are done."""
    import pexpect

    child = pexpect.spawn(
        sys.executable,
        [
            "-m",
            "lab",
            "run",
            str(SMALL),
            "--results",
            str(tmp_path),
            "--jobs",
            "2",
            "--variant",
            "route=gateway,port=low",
            "--repeat",
            "2",
        ],
        cwd=str(REPO),
        encoding="utf-8",
        dimensions=(40, 200),
        timeout=180,
    )
    seen = set()
    while len(seen) < 2:
        child.expect(r"running \S*(route=gateway,port=low #[12])\S* \((\d+)s\): ")
        seen.add(child.match.group(1))
    child.expect(r"results: (\S+)")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before


def test_a_repeated_sweep_draws_each_failing_cell_once_from_its_first_failing_trial(tmp_path):
    run = run_lab(SMALL, tmp_path / "results", "--jobs", "2", "--repeat", "2")
    assert run.returncode == 0, run.stdout + run.stderr
    failing = sorted({(o["variant"], o["step"]) for o in run.results["outcomes"] if not o["ok"]})
    assert failing, "sweep-small has failing cells"
    report = (run.run_dir / "report.md").read_text()
    titles = [line.strip() for line in report.splitlines() if line.startswith("    title ")]
    for variant, step in failing:
        for trial in (1, 2):  # each failing trial is explained under its own heading
            assert f"### {variant} #{trial} / client / {step}\n" in report
        # and drawn once, from trial 1 ('#' is '#35;' in Mermaid text)
        mine = [title for title in titles if title.startswith(f"title {variant} #35;") and f"/ {step}: failed" in title]
        assert len(mine) == 1 and mine[0].startswith(f"title {variant} #35;1 / client / {step}: failed: "), titles
        svg = (run.run_dir / f"sequence-{safe_name(variant)}-client-{step}.svg").read_text()
        assert f"{variant} #1 / client / {step}: failed" in svg
