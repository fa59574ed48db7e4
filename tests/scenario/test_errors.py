"""Validation errors are pinned with golden files: tests/scenario/errors/NAME.yaml -> NAME.expected.

Each broken scenario must be refused as a whole with every problem named by file, line and
column, and `python -m lab validate` must exit 2 without building anything.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lab.errors import ScenarioInvalid
from lab.scenario.loader import load_scenario

from ..conftest import REPO, assert_golden

ERRORS = Path(__file__).parent / "errors"
CASES = sorted(p.stem for p in ERRORS.glob("*.yaml"))


def error_lines(path: Path) -> str:
    try:
        load_scenario(path)
    except ScenarioInvalid as exc:
        return "".join(f"{problem}\n" for problem in exc.problems)
    raise AssertionError(f"{path} was accepted but should be refused")


@pytest.mark.parametrize("case", CASES)
def test_error_messages(case, in_repo):
    path = ERRORS.relative_to(REPO) / f"{case}.yaml"
    assert_golden(error_lines(path), ERRORS / f"{case}.expected")


@pytest.mark.parametrize("case", CASES)
def test_every_error_has_a_position(case, in_repo):
    path = ERRORS.relative_to(REPO) / f"{case}.yaml"
    for line in error_lines(path).splitlines():
        file, line_no, column, message = line.split(":", 3)
        assert file == str(path) and int(line_no) >= 1 and int(column) >= 1 and message.strip()


def test_validate_command_exits_2_and_names_the_problem(in_repo):
    result = subprocess.run(
        [sys.executable, "-m", "lab", "validate", "tests/scenario/errors/bad-addresses.yaml"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "tests/scenario/errors/bad-addresses.yaml:7:" in result.stderr
    assert "not an IPv4 address" in result.stderr
    assert "nothing was built" in result.stderr


def test_validate_accepts_the_shipped_scenarios(in_repo):
    scenarios = sorted(str(p.relative_to(REPO)) for p in (REPO / "scenarios").glob("*.yaml"))
    result = subprocess.run([sys.executable, "-m", "lab", "validate", *scenarios], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(scenarios)


@pytest.mark.parametrize("case", ["hostile-names", "paths", "duplicates"])
def test_run_of_a_bad_scenario_creates_nothing(case, in_repo, tmp_path):
    results = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "lab", "run", f"tests/scenario/errors/{case}.yaml", "--results", str(results)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "nothing was built" in result.stderr
    assert not results.exists(), "an invalid scenario must not even create the results folder"


def test_no_program_is_started_through_a_shell():
    """Scenario strings reach programs only as argument lists: nothing in the lab starts a shell."""
    offenders = []
    for path in (REPO / "lab").rglob("*.py"):
        text = path.read_text()
        for pattern in ("shell=True", "os.system(", "os.popen(", "getoutput(", "getstatusoutput("):
            if pattern in text:
                offenders.append(f"{path.relative_to(REPO)}: {pattern}")
    assert offenders == []
