"""`lab fetch --on HOST`: bring home the results runs there left when their connection was lost."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidInput
from ..remote import add_options as add_remote_options
from .run import DEFAULT_RESULTS


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `fetch` subparser."""
    fetch = commands.add_parser(
        "fetch",
        help="bring home the results of runs on a lab machine whose connection was lost",
        description="Bring home the results folders that runs on a lab machine (--on HOST) left there when "
        "their connection was lost (each marked incomplete: `complete: false` in its results.json), then "
        "remove them there. Runs still in progress are left alone. The next `run --on` or `clean --on` "
        "does the same.",
    )
    add_results_option(fetch, "where they go")
    add_remote_options(fetch)
    return fetch


def add_results_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup, what: str) -> None:
    """`--results DIR`: where results brought home from a lab machine go."""
    parser.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help=f"{what} (default: results/)"
    )


def execute(args: argparse.Namespace) -> int:
    """Only with --on (lab.remote.command): a run on this machine keeps its results here."""
    raise InvalidInput("fetch needs --on HOST: it brings home what runs on that machine left there")
