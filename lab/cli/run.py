"""`lab run SCENARIO`: build every variant's network, replay its steps, record the results."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.markup import escape

from ..console import err, load_or_report, out, outcome_table, results_line
from ..errors import ExitStatus, InvalidInput
from ..machine import check_machine
from ..remote import add_options as add_remote_options
from ..results.matrix import outcome_matrix
from ..software import SOFTWARE, check_software, home_option, with_homes
from ..software.base import HOME_MODE

DEFAULT_RESULTS = Path("results")


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `run` subparser."""
    run = commands.add_parser(
        "run",
        help="build the scenario's network, replay every variant, record results",
        description="Build the scenario's network, replay every variant, record results.",
    )
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help="where run folders go (default: results/)"
    )
    run.add_argument("--variant", action="append", metavar="NAME", help="run only this variant (repeatable)")
    for software in SOFTWARE:
        if HOME_MODE in software.modes:
            option, variable = home_option(software)
            run.add_argument(
                option,
                metavar="DIR",
                default=os.environ.get(variable) or None,
                help=f"run {software.name} from this folder in every variant (environment: {variable})",
            )
    add_remote_options(run)
    return run


def execute(args: argparse.Namespace) -> int:
    """Replay the scenario; 0 when every expectation is met, 1 otherwise."""
    from ..runner import run_scenario  # imports Mininet: only when running

    scenario = load_or_report(args.scenario)
    if scenario is None:
        return ExitStatus.INVALID
    names = {v.name for v in scenario.variants}
    for wanted in args.variant or ():
        if wanted not in names:
            raise InvalidInput(f"{args.scenario} has no variant '{wanted}'; variants are: {', '.join(sorted(names))}")
    homes = {s.name: getattr(args, f"{s.name}_home") for s in SOFTWARE if getattr(args, f"{s.name}_home", None)}
    scenario = with_homes(scenario, homes)
    check_machine()
    for variant in scenario.variants:
        if not args.variant or variant.name in args.variant:
            check_software(variant.deployment.software)
    from ..deploy.journal import clean

    for run_id, done in clean():
        err.print(f"cleaned what an earlier run ({run_id}) left behind: {'; '.join(done) or 'nothing'}")
    started = time.monotonic()

    def progress(text: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {escape(text)}", markup=True)

    def on_outcome(o) -> None:
        verdict = "ok" if o.ok else f"failed ({o.error})"
        flag = "" if o.met else f"  <- NOT MET, expected {o.expected}"
        progress(f"[{o.variant}] {o.node} {o.step}: {verdict} in {o.duration_s:.2f}s{flag}")

    err.print(f"running {scenario.name}: {len(scenario.variants)} variant(s)")
    try:
        record = run_scenario(scenario, args.results, progress, on_outcome, args.variant)
    except KeyboardInterrupt:
        err.print("interrupted: the lab was torn down; the results folder is marked incomplete")
        return ExitStatus.INTERRUPTED
    out.print(outcome_table(outcome_matrix(record.as_dict()["outcomes"])))
    for variant in record.variants:
        if not variant["built"]:
            out.print(f"[red]variant {escape(variant['name'])} could not be built:[/red] {escape(variant['error'])}")
    met = sum(o.met for o in record.outcomes)
    out.print(f"expectations met: {met}/{len(record.outcomes)}")
    out.print(results_line(record.directory), markup=False)
    return ExitStatus.OK if record.all_met else ExitStatus.UNMET
