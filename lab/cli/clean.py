"""`lab clean`: remove what crashed or killed runs left behind, from their journals."""

from __future__ import annotations

import argparse
import os

from ..console import err, out
from ..errors import ExitStatus, InvalidInput
from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `clean` subparser."""
    clean = commands.add_parser(
        "clean",
        help="remove what crashed or killed runs left behind",
        description="Remove what crashed or killed runs left behind (from their journals). "
        "Runs still in progress are left alone.",
    )
    clean.add_argument("--run", metavar="ID", help="only this run (the id in its journal's name)")
    add_remote_options(clean)
    return clean


def execute(args: argparse.Namespace) -> int:
    """0 when cleaned (or nothing to clean), 3 when not root."""
    from ..deploy.journal import clean, journals

    if os.geteuid() != 0:
        err.print("cannot clean: removing namespaces, processes and mounts needs root (sudo)")
        return ExitStatus.UNFIT
    if args.run and not any(path.stem == args.run for path in journals()):
        raise InvalidInput(
            f"no journal of a run '{args.run}'; runs with journals: {', '.join(p.stem for p in journals()) or 'none'}"
        )
    cleaned = clean(args.run)
    for run_id, done in cleaned:
        out.print(f"run {run_id}: " + ("; ".join(done) if done else "nothing was left"))
    live = [p.stem for p in journals()]
    if live:
        out.print(f"still running (left alone): {', '.join(live)}")
    if not cleaned and not live:
        out.print("nothing to clean")
    return ExitStatus.OK
