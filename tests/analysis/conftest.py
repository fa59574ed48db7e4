"""Real runs of the lab for the analysis tests; a test using `nat_runs` needs a lab machine and is marked `root`."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..conftest import REPO
from ..integration.conftest import LabRun, run_lab

SCENARIO = REPO / "scenarios" / "docker-nat-reachability.yaml"


@pytest.fixture(scope="module")
def nat_runs(tmp_path_factory) -> tuple[Path, list[LabRun]]:
    """Two real runs of docker-nat-reachability in one results folder, which also holds what is not a run
    (a README.md and an empty folder), as results/ does."""
    root = tmp_path_factory.mktemp("results")
    (root / "README.md").write_text("not a run\n")
    (root / "scratch").mkdir()
    runs = [run_lab(SCENARIO, root) for _ in range(2)]
    for run in runs:
        assert run.run_dir is not None, run.stdout + run.stderr
    return root, runs
