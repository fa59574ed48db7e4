"""`lab run SCENARIO`: build every variant's network, replay its steps, record the results."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from rich.live import Live
from rich.markup import escape

from .. import kinds
from ..console import RunningVariants, err, load_or_report, out, outcome_table, pivot_table, results_line
from ..errors import ExitStatus, InvalidInput
from ..machine import check_machine
from ..remote import add_options as add_remote_options
from ..results.matrix import outcome_matrix
from ..results.pivot import pivot_tables
from ..results.record import trial_label
from ..software import SOFTWARE, check_software, home_option, with_homes
from ..software.base import HOME_MODE
from ..sweep import add_sweep_options, check_sweep_options

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
    add_sweep_options(run)
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


def check_results_root(root: Path) -> None:
    """Make sure run folders can be made in `root` (creating it if need be); InvalidInput (2) if not."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        os.rmdir(tempfile.mkdtemp(prefix=".lab-write-check-", dir=root))
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        if isinstance(exc, FileExistsError) or (os.path.lexists(root) and not os.path.isdir(root)):
            why = "it is not a folder"
        raise InvalidInput(f"--results {root}: cannot make run folders there ({why}); give a folder you can write")


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
    check_sweep_options(args)
    check_results_root(args.results)
    homes = {s.name: getattr(args, f"{s.name}_home") for s in SOFTWARE if getattr(args, f"{s.name}_home", None)}
    scenario = with_homes(scenario, homes)
    check_machine()
    for variant in scenario.variants:
        if not args.variant or variant.name in args.variant:
            check_software(variant.deployment.software)
    from ..deploy.journal import clean

    try:
        for run in clean():
            err.print(f"cleaned what an earlier run ({run.run_id}) left behind: {'; '.join(run.done) or 'nothing'}")
            if run.left:
                err.print(f"could not remove what run {run.run_id} left: {'; '.join(run.left)}")
    except KeyboardInterrupt:
        err.print("interrupted before anything was built")
        return ExitStatus.INTERRUPTED
    started = time.monotonic()

    def progress(text: str) -> None:
        err.print(f"[dim]{time.monotonic() - started:6.1f}s[/dim] {escape(text)}", markup=True)

    def on_outcome(o, trial: int = 1) -> None:
        verdict = "ok" if o.ok else f"failed ({o.error})"
        flag = "" if o.met else f"  <- NOT MET, expected {o.expected}"
        label = trial_label(o.variant, trial, args.repeat)
        progress(f"[{label}] {o.node} {o.step}: {verdict} in {o.duration_s:.2f}s{flag}")

    err.print(f"running {scenario.name}: {len(scenario.variants)} variant(s)")
    running = RunningVariants()  # live lines, on a terminal, when variants run in parallel
    live = (
        Live(running, console=err, transient=True, refresh_per_second=2)
        if err.is_terminal and args.jobs > 1
        else nullcontext()
    )
    try:
        with live:
            record = run_scenario(
                scenario, args.results, progress, on_outcome, args.variant, args.repeat, args.jobs, running.update
            )
    except KeyboardInterrupt:
        err.print("interrupted: the lab was torn down; the results folder is marked incomplete")
        return ExitStatus.INTERRUPTED
    try:
        outcomes = record.as_dict()["outcomes"]
        out.print(outcome_table(outcome_matrix(outcomes)))
        clients = [n.name for n in scenario.variants[0].deployment.nodes if kinds.kind(n.kind).client]
        for table in pivot_tables(scenario.axes, outcomes, clients, record.reasons):
            out.print(pivot_table(table))
        for variant in record.variants:
            if not variant["built"]:
                out.print(
                    f"[red]variant {escape(variant['name'])} could not be built:[/red] {escape(variant['error'])}"
                )
        met = sum(o.met for o in record.outcomes)
        out.print(f"expectations met: {met}/{len(record.outcomes)}")
        out.print(results_line(record.directory), markup=False)
    except KeyboardInterrupt:
        err.print(f"interrupted after the run had finished (the lab was torn down); {results_line(record.directory)}")
        return ExitStatus.INTERRUPTED
    return ExitStatus.OK if record.all_met else ExitStatus.UNMET
