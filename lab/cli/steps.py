"""`lab steps LAB [NAME...]`: run the scenario's steps against a live lab, recorded in its results folder."""

from __future__ import annotations

import argparse
import uuid
from pathlib import Path

from ..console import err, out, outcome_table, results_line
from ..errors import ExitStatus, InvalidInput
from ..remote import add_options as add_remote_options
from ..results.matrix import outcome_matrix


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `steps` subparser."""
    steps = commands.add_parser(
        "steps",
        help="run the scenario's steps against a live lab",
        description="Run the variant's steps (all, or those named) against LAB and add their outcomes to the "
        "lab's results folder, as a run records them (`lab explain` reads it). With --on HOST, in a lab on HOST: "
        "its output relayed (paths there marked (on HOST)), its folder home at `lab down --on HOST`.",
    )
    steps.add_argument("lab", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    steps.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help="steps to run (default: every step; after `up --steps`, all but the setup steps)",
    )
    add_remote_options(steps)
    return steps


def execute(args: argparse.Namespace) -> int:
    """0 when every expectation of the steps run was met, 1 otherwise, 2 on a wrong lab or step name."""
    from ..commands import CommandRunner, Transcript
    from ..deploy.state import save_state
    from ..live import enter, registry
    from ..live.record import open_record, run_named_steps, setup_steps

    lab = registry.live(args.lab)
    scenario, variant = registry.variant_of(lab)
    known = list(dict.fromkeys(step.name for step in variant.steps))
    for name in args.names:
        if name not in known:
            raise InvalidInput(f"variant {variant.name} has no step '{name}'; steps are: {', '.join(known)}")
    names = args.names or known
    if not args.names and lab.setup_done:
        setup = set(setup_steps(variant))
        names = [name for name in known if name not in setup]
        err.print(f"the setup steps ran at `lab up --steps`: running {', '.join(names)}", markup=False)
    folder = Path(lab.results)
    record = open_record(scenario, folder, f"{lab.run_id}-{uuid.uuid4().hex[:4]}")
    transcript = Transcript(folder / "transcript.log")
    runners = {}

    def runner_for(target: str):
        if target not in runners:
            runners[target] = enter.runner(lab, variant, target, transcript)
        return runners[target]

    def told(outcome) -> None:
        verdict = "ok" if outcome.ok else f"failed ({outcome.error})"
        flag = "" if outcome.met else f"  <- NOT MET, expected {outcome.expected}"
        err.print(f"{outcome.node} {outcome.step}: {verdict} in {outcome.duration_s:.2f}s{flag}", markup=False)

    try:
        outcomes = run_named_steps(record, variant, names, runner_for, told)
        # the nodes as the steps left them, for `lab explain` on this folder (the captures run on)
        engines = {host: CommandRunner(host, transcript, env=env) for host, env in lab.engines.items()}
        for warning in save_state(variant, record.variant_dir(variant.name) / "state", runner_for, engines):
            err.print(warning, markup=False)
    finally:
        transcript.close()
    # the steps of this call only: earlier calls' outcomes stay in the folder, not in this table
    rows = record.as_dict()["outcomes"][len(record.outcomes) - len(outcomes) :]
    out.print(outcome_table(outcome_matrix(rows)))
    out.print(results_line(folder), markup=False)
    return ExitStatus.OK if all(o.met for o in outcomes) else ExitStatus.UNMET
