"""Integration tests build real namespaces and a real dockerd: every test module here is marked `root`."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..conftest import REPO


@dataclass
class LabRun:
    """One finished `python -m lab run`."""

    returncode: int
    stdout: str
    stderr: str
    run_dir: Path | None

    @property
    def results(self) -> dict:
        return json.loads((self.run_dir / "results.json").read_text())

    def outcome(self, variant: str, node: str, step: str) -> dict:
        rows = [o for o in self.results["outcomes"] if (o["variant"], o["node"], o["step"]) == (variant, node, step)]
        assert len(rows) == 1, f"expected one outcome for {variant}/{node}/{step}, found {len(rows)}"
        return rows[0]


def run_lab(
    scenario: Path, results: Path, *extra: str, timeout: float = 600, wrapper: list[str] | None = None
) -> LabRun:
    """Run the lab's CLI as a user would and find its results folder from the last line.

    `wrapper`, when given, replaces `python -m lab`: a program that runs the lab with the arguments after it.
    """
    result = subprocess.run(
        [*(wrapper or [sys.executable, "-m", "lab"]), "run", str(scenario), "--results", str(results), *extra],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    last = result.stdout.strip().splitlines()[-1:] or [""]
    run_dir = Path(last[0].removeprefix("results: ")) if last[0].startswith("results: ") else None
    return LabRun(result.returncode, result.stdout, result.stderr, run_dir)
