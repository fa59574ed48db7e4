"""`lab validate SCENARIO...`: check scenario files without building anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import err, load_or_report, out
from ..errors import ExitStatus
from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `validate` subparser."""
    validate = commands.add_parser(
        "validate",
        help="check scenario files without building anything",
        description="Check scenario files without building anything.",
    )
    validate.add_argument("scenarios", type=Path, nargs="+", metavar="scenario")
    add_remote_options(validate)
    return validate


def execute(args: argparse.Namespace) -> int:
    """0 when every file is valid, 2 otherwise (each problem printed), 130 when interrupted."""
    status = ExitStatus.OK
    try:
        for path in args.scenarios:
            scenario = load_or_report(path)
            if scenario is None:
                status = ExitStatus.INVALID
                continue
            steps = sum(len(step.on) for step in scenario.variants[0].steps)
            out.print(
                f"{path}: ok — scenario '{scenario.name}', {len(scenario.variants)} variant(s) "
                f"({', '.join(v.name for v in scenario.variants)}), {steps} step run(s) per variant"
            )
    except KeyboardInterrupt:
        err.print("interrupted: validation stopped (nothing was built)")
        return ExitStatus.INTERRUPTED
    return status
