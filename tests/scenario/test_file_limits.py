"""Reading a scenario is bounded (issue 13, class 2): only regular files, at most MAX_SCENARIO_BYTES,
refused at once (a FIFO is never opened, /dev/zero never read) with exit 2 and the reason."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lab.scenario.loader import MAX_SCENARIO_BYTES

HANG_GUARD_S = 30  # not a speed target: without the fix these cases block forever or exhaust memory


def validate(path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "lab", "validate", str(path)], capture_output=True, text=True, timeout=HANG_GUARD_S
    )


def fifo(tmp_path):
    path = tmp_path / "scenario.yaml"
    os.mkfifo(path)
    return path


def too_large(tmp_path):
    path = tmp_path / "scenario.yaml"
    path.write_text("name: x\n" + "# padding\n" * (MAX_SCENARIO_BYTES // 10 + 1))
    return path


@pytest.mark.parametrize(
    "make,reason",
    [
        (fifo, "it is a FIFO (named pipe); give a regular file"),
        (lambda tmp_path: "/dev/zero", "it is a character device; give a regular file"),
        (too_large, f"bytes, more than the limit of {MAX_SCENARIO_BYTES >> 20} MiB"),
        (lambda tmp_path: tmp_path, "it is a folder; give a regular file"),
        (lambda tmp_path: tmp_path / "missing.yaml", "cannot read it (No such file or directory)"),
    ],
    ids=["fifo", "dev-zero", "too-large", "folder", "missing"],
)
def test_a_file_that_is_not_a_scenario_is_refused_at_once(tmp_path, make, reason):
    path = make(tmp_path)
    result = validate(path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"error {path}:1:1: cannot use the scenario file: " in result.stderr
    assert reason in result.stderr
    assert "Traceback" not in result.stderr
