"""Shared test helpers: the repository root and golden-file comparison."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.errors import MachineUnfit
from lab.machine import check_machine

REPO = Path(__file__).resolve().parent.parent


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


def skip_unless_lab_machine(items, folder: Path) -> None:
    """Skip the tests under `folder` when this machine cannot run a lab; on CI fail instead."""
    mine = [item for item in items if folder in item.path.parents]
    if not mine:
        return
    try:
        check_machine()
    except MachineUnfit as exc:
        if os.environ.get("CI"):
            raise  # on CI the set-up must have made the machine fit: never skip silently
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=f"machine cannot run a lab: {exc}"))
