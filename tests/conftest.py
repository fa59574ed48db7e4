"""Shared test helpers: the repository root, golden-file comparison, and the `root` marker's gate.

Tests marked `root` (pytest.ini) need root, namespaces, a real dockerd or an sshd. On a
machine that cannot run a lab they are skipped with the reason; with CI set they fail
instead: CI never skips them silently. Every other test runs as any user.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pytest

from lab.errors import MachineUnfit
from lab.machine import check_machine, find_program, required_programs

REPO = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.real_tdengine"]  # the `tdengine_home` fixture: the real TDengine, when it is here
# what the root tests start besides a lab: sshd and its key tools, nft for the machine snapshots (lab/packages.tsv)
TEST_PROGRAMS = {**required_programs("tests"), "ssh-keygen": "openssh-client"}


def assert_golden(actual: str, golden: Path) -> None:
    """Compare with a golden file; LAB_UPDATE_GOLDEN=1 rewrites it instead."""
    if os.environ.get("LAB_UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    assert golden.exists(), f"missing golden file {golden}; run with LAB_UPDATE_GOLDEN=1 to create it"
    assert actual == golden.read_text(), f"differs from {golden} (LAB_UPDATE_GOLDEN=1 rewrites it)"


@pytest.fixture
def in_repo(monkeypatch):
    """Run the test from the repository root, so paths in messages are short and stable."""
    monkeypatch.chdir(REPO)
    return REPO


@functools.cache
def why_not_a_lab_machine() -> str | None:
    """Why this machine cannot run root-marked tests (a lab, a real dockerd, an sshd), or None if it can."""
    problems = []
    try:
        check_machine()  # Linux, root, the programs of a run
    except MachineUnfit as exc:
        problems += str(exc).splitlines()
    if os.geteuid() != 0 and not any("root" in problem for problem in problems):
        problems.append("the root tests need root: run them with sudo")
    missing = sorted({package for program, package in TEST_PROGRAMS.items() if not find_program(program)})
    if missing:
        problems.append(f"missing programs the root tests use; install with: apt-get install {' '.join(missing)}")
    return "; ".join(problems) or None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Root-marked tests are skipped, with the reason, on a machine that cannot run a lab; on CI they fail."""
    if item.get_closest_marker("root") is None:
        return
    reason = why_not_a_lab_machine()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must run every root test, but this machine cannot run a lab: {reason}", pytrace=False)
    pytest.skip(f"machine cannot run a lab: {reason}")
