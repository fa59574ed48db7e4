"""`lab clean`: remove what crashed or killed runs left behind, from their journals."""

from __future__ import annotations

import argparse
import os

from ..console import err, out
from ..errors import ExitStatus, InvalidInput
from ..remote import add_options as add_remote_options
from .fetch import add_results_option


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `clean` subparser."""
    clean = commands.add_parser(
        "clean",
        help="remove what crashed or killed runs left behind",
        description="Remove what crashed or killed runs left behind (from their journals): processes, "
        "everything in their nodes' namespaces, their Docker engines' cgroups, mounts and folders. "
        "Runs still in progress are left alone. Exit status 1 names what could not be removed.",
    )
    clean.add_argument("--run", metavar="ID", help="only this run and its workers (the id in its journal's name)")
    add_remote_options(clean)
    remote = clean.add_argument_group("with --on")
    remote.add_argument(
        "--remote-cache",
        action="store_true",
        help="then also remove the lab's files from the lab machine (its versions, virtualenvs, and what "
        "commands left there; a command still running keeps its own)",
    )
    add_results_option(remote, "where the results of runs there whose connection was lost come home")
    return clean


def execute(args: argparse.Namespace) -> int:
    """0 when everything of the dead runs is gone (or nothing was left), 1 when something could
    not be removed (each named; its journal is kept for another try), 3 when not root,
    130 when interrupted (the run being cleaned is finished first)."""
    from ..deploy.journal import clean, journals, of_run

    if args.remote_cache:
        raise InvalidInput("--remote-cache only applies with --on HOST: it removes the lab's files from that machine")
    if os.geteuid() != 0:
        err.print("cannot clean: removing namespaces, processes and mounts needs root (sudo)")
        return ExitStatus.UNFIT
    if args.run and not any(of_run(path, args.run) for path in journals()):
        raise InvalidInput(
            f"no journal of a run '{args.run}'; runs with journals: {', '.join(p.stem for p in journals()) or 'none'}"
        )
    try:
        cleaned = clean(args.run)
    except KeyboardInterrupt:
        err.print("interrupted: the run being cleaned was finished; `lab clean` again cleans the rest")
        return ExitStatus.INTERRUPTED
    for run in cleaned:
        out.print(f"run {run.run_id}: " + ("; ".join(run.done) if run.done else "nothing was left"), markup=False)
        if run.left:
            err.print(f"run {run.run_id}: could not remove: {'; '.join(run.left)}", markup=False)
    stuck = {run.run_id for run in cleaned if run.left}
    live = [p.stem for p in journals() if p.stem not in stuck]
    if live:
        out.print(f"still running (left alone): {', '.join(live)}")
    if not cleaned and not live:
        out.print("nothing to clean")
    if stuck:
        err.print(f"not everything could be removed (journals kept: {', '.join(sorted(stuck))})", markup=False)
        return ExitStatus.UNMET
    return ExitStatus.OK
