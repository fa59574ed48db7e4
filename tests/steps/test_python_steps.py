"""A `python` step runs its arguments with the interpreter that runs the lab (its packages importable)."""

from __future__ import annotations

import sys

from lab.scenario import model
from lab.steps.execute import step_argv


def test_a_python_step_runs_with_the_labs_own_interpreter():
    step = model.Step("client", ("a",), model.Action("python", argv=("/etc/client.py", "go")))
    assert step_argv(step) == [sys.executable, "/etc/client.py", "go"]
