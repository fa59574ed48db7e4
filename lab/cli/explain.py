"""`lab explain RUN_DIR`: explain, from a run's captures and state, why each step did what it did."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import out
from ..errors import ExitStatus


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `explain` subparser."""
    explain = commands.add_parser(
        "explain",
        help="explain from a run's captures and state why each step did what it did",
        description="Explain, from what a run observed, why each step did what it did.",
    )
    explain.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder printed as 'results: ...' by run")
    return explain


def execute(args: argparse.Namespace) -> int:
    """0; an unreadable run folder is InvalidInput (2)."""
    from ..analysis.explain import explain_run, render
    from ..analysis.rundir import RunDir

    out.print(render(explain_run(RunDir(args.run_dir))), markup=False, end="")
    return ExitStatus.OK
