"""`lab report RUN_DIR`: write a run folder's pictures and reports again with this lab (runs made
before an upgrade get the new ones): report.md, report.zh.md, their web pages, explanation.txt."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..console import err, out
from ..errors import ExitStatus


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `report` subparser."""
    report = commands.add_parser(
        "report",
        help="write a run folder's reports and pictures again (report.md, report.zh.md, report.html, ...)",
        description="Regenerate every report of a run folder from what it recorded: the sequence diagrams, "
        "topology pictures, explanation.txt, report.md, report.zh.md, report.html and report.zh.html.",
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder printed as 'results: ...' by run")
    return report


def execute(args: argparse.Namespace) -> int:
    """0; an unreadable run folder is InvalidInput (2); 130 when interrupted."""
    try:
        from ..analysis.publish import publish_run, run_scenario
        from ..analysis.rundir import RunDir

        run = RunDir(args.run_dir)
        report = publish_run(run.path, run_scenario(run.path)).report
    except KeyboardInterrupt:
        err.print("interrupted: the reports may be partly written; run `lab report` again")
        return ExitStatus.INTERRUPTED
    for name in ("report.md", "report.zh.md", "report.html", "report.zh.html"):
        out.print(f"wrote {report.parent / name}", markup=False)
    return ExitStatus.OK
