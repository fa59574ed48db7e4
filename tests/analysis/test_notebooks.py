"""The notebooks, executed headless on a real kernel against real runs: a cell that raises fails the test."""

from __future__ import annotations

import os
import shutil
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from ..conftest import REPO
from ..integration.conftest import run_lab
from .conftest import SCENARIO

NOTEBOOKS = REPO / "notebooks"


def execute(notebook: nbformat.NotebookNode, **env: str) -> nbformat.NotebookNode:
    """Run every cell on the python3 kernel from notebooks/, with `env` added to the kernel's environment."""
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    client.execute(env={**os.environ, **env})
    return notebook


def run_notebook(name: str, **env: str) -> nbformat.NotebookNode:
    return execute(nbformat.read(NOTEBOOKS / name, as_version=4), **env)


def outputs(notebook: nbformat.NotebookNode, kind: str) -> list[str]:
    """The texts of one kind of output ('stream', 'text/markdown', 'image/png', ...) in cell order."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "stream" and output.output_type == "stream":
                found.append(output.text)
            elif kind in output.get("data", {}):
                found.append(output.data[kind])
    return found


def test_the_kernel_is_the_virtualenvs_python():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    assert outputs(execute(notebook), "stream") == [sys.prefix + "\n"]


@pytest.mark.parametrize("name", ["incident-walkthrough.ipynb", "compare-runs.ipynb"])
def test_notebooks_are_kept_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.outputs == [] and cell.execution_count is None for cell in code)


@pytest.mark.root
def test_incident_walkthrough_on_a_run_with_failures(nat_runs):
    _, runs = nat_runs
    notebook = run_notebook("incident-walkthrough.ipynb", LAB_RUN_DIR=str(runs[-1].run_dir))
    text = "".join(outputs(notebook, "stream"))
    assert f"run {runs[-1].run_dir.name}" in text
    assert "default / remote-client / tcp-container: FAILED" in text  # the first failing cell, explained
    assert "ICMP network unreachable from router (10.0.2.1)" in text
    assert "default / win-client / tcp-container: ok" in text  # the same step where it passed
    assert len(outputs(notebook, "image/svg+xml")) == 1  # the topology of the one variant
    assert any("Configurations side by side" in md for md in outputs(notebook, "text/markdown"))
    assert len(outputs(notebook, "image/png")) == 2  # outcome matrix, packet timelines
    pages = outputs(notebook, "text/html")
    drawn = [page for page in pages if "<svg" in page and "sequenceDiagram" in page]
    assert len(drawn) == 2  # the failing cell's sequence diagram beside its packets, and the passing one's
    assert "p_router--xp_remote_client: ICMP network unreachable (10.0.2.1)" in drawn[0]  # where it stopped
    assert "<td>br-taosnet</td>" in drawn[1]  # the passing one reached the container through the bridge


@pytest.mark.root
def test_compare_runs_over_two_runs_of_a_scenario(nat_runs):
    root, runs = nat_runs
    notebook = run_notebook("compare-runs.ipynb", LAB_RESULTS_ROOT=str(root))
    assert f"2 run(s) under {root}, 22 outcome(s), 2 replay(s) of a variant" in "".join(outputs(notebook, "stream"))
    markdown = "\n".join(outputs(notebook, "text/markdown"))
    older, newer = (run.run_dir.name for run in runs)
    assert f"older run `{older}`, newer run `{newer}`" in markdown
    assert len(outputs(notebook, "image/png")) == 2  # pass rates, durations


@pytest.mark.root
def test_compare_runs_counts_the_trials_of_a_repeated_run(nat_runs, tmp_path):
    """A run of the same scenario with --repeat 2 after a single one: every trial is a replay in the
    pass rates, and the two runs compare cell by cell by the share of trials that passed."""
    _, runs = nat_runs
    shutil.copytree(runs[-1].run_dir, tmp_path / runs[-1].run_dir.name)
    repeated = run_lab(SCENARIO, tmp_path, "--repeat", "2")
    assert repeated.returncode == 0, repeated.stdout + repeated.stderr
    notebook = run_notebook("compare-runs.ipynb", LAB_RESULTS_ROOT=str(tmp_path))
    assert f"2 run(s) under {tmp_path}, 33 outcome(s), 3 replay(s) of a variant" in "".join(outputs(notebook, "stream"))
    (rates,) = [page for page in outputs(notebook, "text/html") if "pass_rate" in page]
    assert "<th>replays</th>" in rates and "<td>3</td>" in rates  # each cell: 1 + 2 replays
    markdown = "\n".join(outputs(notebook, "text/markdown"))
    assert f"newer run `{repeated.run_dir.name}`" in markdown
    assert "**No differences**" in markdown  # 2/2 passed (or 0/2) against 1/1 (or 0/1): the same share


@pytest.mark.root
def test_compare_runs_says_so_when_no_scenario_ran_twice(nat_runs, tmp_path):
    _, runs = nat_runs
    shutil.copytree(runs[0].run_dir, tmp_path / runs[0].run_dir.name)
    notebook = run_notebook("compare-runs.ipynb", LAB_RESULTS_ROOT=str(tmp_path))
    markdown = "\n".join(outputs(notebook, "text/markdown"))
    assert "Nothing to compare: fewer than two runs of the same scenario" in markdown
    assert "docker-nat-reachability: 1" in markdown
