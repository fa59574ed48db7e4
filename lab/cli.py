"""The command line: `python -m lab run|validate ...`.

Exit status: 0 every expectation met; 1 an expectation not met (or a variant failed to
build); 2 invalid input or usage; 3 the machine cannot run a lab; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .environment import EnvironmentUnfit, check_environment
from .remote import add_options as add_remote_options
from .scenario.loader import ScenarioInvalid, load_scenario
from .scenario.source import SourceError

EXIT_OK, EXIT_UNMET, EXIT_INVALID, EXIT_UNFIT, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_RESULTS = Path("results")

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 160  # results piped to a file or CI log keep whole table rows
err = Console(stderr=True, highlight=False, soft_wrap=True)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(EXIT_INVALID, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lab", description="Rebuild a network incident on this machine and replay it.",
                     epilog="exit status: 0 all expectations met, 1 some not met, 2 invalid input, "
                            "3 machine unfit (not root, missing programs), 130 interrupted")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    run = commands.add_parser("run", help="build the scenario's network, replay every variant, record results",
                              description="Build the scenario's network, replay every variant, record results.")
    run.add_argument("scenario", type=Path, help="scenario YAML file")
    run.add_argument("--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR",
                     help="where run folders go (default: results/)")
    run.add_argument("--variant", action="append", metavar="NAME", help="run only this variant (repeatable)")
    validate = commands.add_parser("validate", help="check scenario files without building anything",
                                   description="Check scenario files without building anything.")
    validate.add_argument("scenarios", type=Path, nargs="+", metavar="scenario")
    clean = commands.add_parser("clean", help="remove what crashed or killed runs left behind",
                                description="Remove what crashed or killed runs left behind (from their journals). "
                                            "Runs still in progress are left alone.")
    clean.add_argument("--run", metavar="ID", help="only this run (the id in its journal's name)")
    for command in (run, validate, clean):  # --on HOST: the same command on another machine (lab/remote)
        add_remote_options(command)
    explain = commands.add_parser("explain", help="explain from a run's captures and state why each step did what it did",
                                  description="Explain, from what a run observed, why each step did what it did.")
    explain.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder printed as 'results: ...' by run")
    return parser


def cmd_clean(args) -> int:
    from .build.journal import clean, journals

    if os.geteuid() != 0:
        err.print("cannot clean: removing namespaces, processes and mounts needs root (sudo)")
        return EXIT_UNFIT
    if args.run and not any(path.stem == args.run for path in journals()):
        err.print(f"error: no journal of a run '{args.run}'; runs with journals: "
                  f"{', '.join(p.stem for p in journals()) or 'none'}")
        return EXIT_INVALID
    cleaned = clean(args.run)
    for run_id, done in cleaned:
        out.print(f"run {run_id}: " + ("; ".join(done) if done else "nothing was left"))
    live = [p.stem for p in journals()]
    if live:
        out.print(f"still running (left alone): {', '.join(live)}")
    if not cleaned and not live:
        out.print("nothing to clean")
    return EXIT_OK


def cmd_explain(args) -> int:
    from .analysis.explain import explain_run, render
    from .analysis.rundir import NotARunDir, RunDir

    try:
        run = RunDir(args.run_dir)
    except NotARunDir as exc:
        err.print(f"error: {escape(str(exc))}")
        return EXIT_INVALID
    out.print(render(explain_run(run)), markup=False, end="")
    return EXIT_OK


def load_or_report(path: Path):
    """Load a scenario, printing its problems; None when invalid."""
    try:
        return load_scenario(path)
    except ScenarioInvalid as exc:
        for error in exc.errors:
            err.print(f"[red]error[/red] {escape(str(error))}")
        err.print(f"{path}: {len(exc.errors)} problem(s); nothing was built")
    except SourceError as exc:
        err.print(f"[red]error[/red] {escape(str(exc))}")
        err.print(f"{path}: nothing was built")
    return None


def cmd_validate(args) -> int:
    status = EXIT_OK
    for path in args.scenarios:
        scenario = load_or_report(path)
        if scenario is None:
            status = EXIT_INVALID
            continue
        steps = sum(len(step.on) for step in scenario.variants[0].steps)
        out.print(f"{path}: ok — scenario '{scenario.name}', {len(scenario.variants)} variant(s) "
                  f"({', '.join(v.name for v in scenario.variants)}), {steps} step run(s) per variant")
    return status


def outcome_table(outcomes) -> Table:
    """The outcome matrix: a row per node and step, a column per variant; each cell the result
    and, when it differs from the expectation, what was expected."""
    variants = list(dict.fromkeys(o.variant for o in outcomes))
    cells = {(o.variant, o.node, o.step): o for o in outcomes}
    table = Table(title="outcomes (variant x node x step)")
    table.add_column("node")
    table.add_column("step")
    for variant in variants:
        table.add_column(variant)
    for node, step in dict.fromkeys((o.node, o.step) for o in outcomes):
        row = [escape(node), escape(step)]
        for variant in variants:
            o = cells.get((variant, node, step))
            if o is None:
                row.append("-")
                continue
            text = "[green]ok[/green]" if o.ok else f"[red]FAILED[/red] {escape(o.error)}"
            text += f" ({o.duration_s:.2f}s)"
            if not o.met:
                text += f" [bold red]NOT AS EXPECTED[/bold red] (expected {escape(o.expected)})"
            elif not o.ok:
                text += " [dim](as expected)[/dim]"
            row.append(text)
        table.add_row(*row)
    return table


def cmd_run(args) -> int:
    from .runner import run_scenario  # imports Mininet: only when running

    scenario = load_or_report(args.scenario)
    if scenario is None:
        return EXIT_INVALID
    names = {v.name for v in scenario.variants}
    for wanted in args.variant or ():
        if wanted not in names:
            err.print(f"error: {args.scenario} has no variant '{wanted}'; variants are: {', '.join(sorted(names))}")
            return EXIT_INVALID
    try:
        check_environment()
    except EnvironmentUnfit as exc:
        err.print(f"[red]cannot run a lab on this machine:[/red]\n{escape(str(exc))}")
        return EXIT_UNFIT
    from .build.journal import clean

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
        return EXIT_INTERRUPTED
    out.print(outcome_table(record.outcomes))
    for variant in record.variants:
        if not variant["built"]:
            out.print(f"[red]variant {escape(variant['name'])} could not be built:[/red] {escape(variant['error'])}")
    met = sum(o.met for o in record.outcomes)
    out.print(f"expectations met: {met}/{len(record.outcomes)}")
    out.print(f"results: {record.directory}")
    return EXIT_OK if record.all_met else EXIT_UNMET


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` tears the lab down like Ctrl-C does
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "on", None):  # on another machine over SSH (lab/remote)
        from .remote.command import main as run_remotely
        return run_remotely(args)
    if getattr(args, "identity", None) or getattr(args, "accept_new_host_key", False):
        parser.error("--identity and --accept-new-host-key only apply with --on HOST")
    return {"run": cmd_run, "validate": cmd_validate, "explain": cmd_explain, "clean": cmd_clean}[args.command](args)
