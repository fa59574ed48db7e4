"""`lab down LAB` / `lab down --all`: tear live labs down (their keepers remove exactly what they built)."""

from __future__ import annotations

import argparse

from ..console import err, out
from ..errors import ExitStatus, InvalidInput
from ..remote import add_options as add_remote_options
from .fetch import add_results_option


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `down` subparser."""
    down = commands.add_parser(
        "down",
        help="tear a live lab down",
        description="Tear LAB down (or every lab with --all): its keeper removes what it built; what a dead "
        "lab left is removed from its journal, as `lab clean` does. Its results folder stays. With --on HOST, "
        "on HOST: the results folder of each lab brought up with `up --on` comes into --results here, and the "
        "lab's folder there (its scenario) is removed.",
    )
    down.add_argument("lab", nargs="?", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    down.add_argument("--all", action="store_true", help="every lab of this machine")
    add_results_option(down, "with --on: where the labs' results folders come")
    add_remote_options(down)
    return down


def execute(args: argparse.Namespace) -> int:
    """0 when everything of the labs is gone, 1 when something is left (named), 2 on a wrong lab."""
    from ..deploy.journal import clean
    from ..live import registry

    if bool(args.lab) == bool(args.all):
        raise InvalidInput("lab down: give LAB or --all (not both)")
    chosen = registry.labs() if args.all else [registry.find(args.lab)]
    failed = False
    for lab in chosen:
        err.print(f"tearing down lab {lab.name} (keeper pid {lab.keeper}) ...")
        if not registry.stop_keeper(lab):
            err.print(f"lab {lab.name}: its keeper did not stop; its log: {lab.log}", markup=False)
            failed = True
            continue
        left = []
        for cleaned in clean(lab.run_id):  # only what the keeper could not remove (its journal is then kept)
            left += cleaned.left
        if left:
            err.print(f"lab {lab.name}: could not remove: {'; '.join(left)}", markup=False)
            failed = True
        else:
            out.print(f"lab {lab.name} is down; its results: {lab.results}", markup=False)  # read by remote/live.py
    if not chosen:
        out.print("no labs to tear down")
    return ExitStatus.UNMET if failed else ExitStatus.OK
