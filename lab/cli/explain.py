"""`lab explain RUN_DIR`: explain, from a run's captures and state, why each step did what it did."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..analysis.messages import LANGUAGES
from ..console import err, out
from ..errors import ExitStatus


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `explain` subparser."""
    explain = commands.add_parser(
        "explain",
        help="explain from a run's captures and state why each step did what it did",
        description="Explain, from what a run observed, why each step did what it did.",
    )
    explain.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder printed as 'results: ...' by run")
    explain.add_argument(
        "--lang", choices=LANGUAGES, default="en", help="the language of the explanation (default: en; zh: 中文)"
    )
    return explain


def execute(args: argparse.Namespace) -> int:
    """0; an unreadable run folder is InvalidInput (2); 130 when interrupted."""
    try:
        from ..analysis.explain import explain_run, render
        from ..analysis.messages import language
        from ..analysis.rundir import RunDir

        with language(args.lang):
            text = render(explain_run(RunDir(args.run_dir)))
    except KeyboardInterrupt:
        err.print("interrupted: nothing was explained")
        return ExitStatus.INTERRUPTED
    out.print(text, markup=False, end="")
    return ExitStatus.OK
