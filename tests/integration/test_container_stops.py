"""A container that stops after it was ready is named after the steps, with Docker's status for it and
the folder of its log, in the progress output and the transcript; the run itself goes on."""

from __future__ import annotations

import pytest

from ..conftest import REPO
from .conftest import run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

SCENARIO = REPO / "tests" / "integration" / "scenarios" / "container-stops.yaml"


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    return run_lab(SCENARIO, tmp_path_factory.mktemp("results"))


def test_the_run_warns_of_the_stopped_container_with_its_status(stopped):
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    output = stopped.stdout + stopped.stderr
    warnings = [line for line in output.splitlines() if "warning: container shortlived on server: Exited (3)" in line]
    assert len(warnings) == 1, output
    assert str(stopped.run_dir / "default" / "state") in warnings[0]
    transcript = (stopped.run_dir / "transcript.log").read_text()
    assert "warning: container shortlived on server: Exited (3)" in transcript


def test_the_step_after_the_stop_failed_and_the_one_before_ran(stopped):
    outcomes = {o["step"]: o for o in stopped.results["outcomes"]}
    assert outcomes["wait"]["ok"]
    assert not outcomes["reach"]["ok"] and outcomes["reach"]["met"]
