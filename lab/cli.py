"""The command line: `lab run|validate|explain|clean ...` (also `python -m lab ...`).

Exit status (lab.errors.ExitStatus): 0 every expectation met; 1 an expectation not met
(or a variant failed to build); 2 invalid input or usage; 3 the machine cannot run a lab;
130 interrupted. Every LabError becomes a message and its exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from rich.markup import escape

from .console import err, load_or_report, out, outcome_table, report, results_line
from .errors import ExitStatus, InvalidInput, LabError
from .machine import check_machine
from .remote import add_options as add_remote_options
from .results.matrix import outcome_matrix
from .software import SOFTWARE, check_software, home_option, with_homes
from .software.base import HOME_MODE

DEFAULT_RESULTS = Path("results")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.INVALID, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lab",
        description="Rebuild a network incident on this machine and replay it.",
        epilog="exit status: 0 all expectations met, 1 some not met, 2 invalid input, "
        "3 machine unfit (not root, missing programs), 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
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
    validate = commands.add_parser(
        "validate",
        help="check scenario files without building anything",
        description="Check scenario files without building anything.",
    )
    validate.add_argument("scenarios", type=Path, nargs="+", metavar="scenario")
    clean = commands.add_parser(
        "clean",
        help="remove what crashed or killed runs left behind",
        description="Remove what crashed or killed runs left behind (from their journals). "
        "Runs still in progress are left alone.",
    )
    clean.add_argument("--run", metavar="ID", help="only this run (the id in its journal's name)")
    for command in (run, validate, clean):  # --on HOST: the same command on another machine (lab/remote)
        add_remote_options(command)
    explain = commands.add_parser(
        "explain",
        help="explain from a run's captures and state why each step did what it did",
        description="Explain, from what a run observed, why each step did what it did.",
    )
    explain.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder printed as 'results: ...' by run")
    return parser


def cmd_clean(args) -> int:
    from .deploy.journal import clean, journals

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


def cmd_explain(args) -> int:
    from .analysis.explain import explain_run, render
    from .analysis.rundir import RunDir

    out.print(render(explain_run(RunDir(args.run_dir))), markup=False, end="")
    return ExitStatus.OK


def cmd_validate(args) -> int:
    status = ExitStatus.OK
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
    return status


def cmd_run(args) -> int:
    from .runner import run_scenario  # imports Mininet: only when running

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
    from .deploy.journal import clean

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


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` tears the lab down like Ctrl-C does
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "identity", None) or getattr(args, "accept_new_host_key", False):
        if not getattr(args, "on", None):
            parser.error("--identity and --accept-new-host-key only apply with --on HOST")
    try:
        if getattr(args, "on", None):  # on another machine over SSH (lab/remote)
            from .remote.command import main as run_remotely

            return run_remotely(args)
        return int(
            {"run": cmd_run, "validate": cmd_validate, "explain": cmd_explain, "clean": cmd_clean}[args.command](args)
        )
    except LabError as error:
        return report(error)


def console_main() -> None:
    """The `lab` console script."""
    sys.exit(main())
