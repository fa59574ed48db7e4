"""A live lab's results folder: outcomes of steps run against it, added as a run adds them."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from pathlib import Path

from .. import kinds
from ..commands import CommandRunner
from ..results.record import RunRecord
from ..scenario import model
from ..steps.execute import Outcome, run_steps

_OUTCOME_FIELDS = {f.name for f in dataclasses.fields(Outcome)}


def setup_steps(variant: model.Variant) -> list[str]:
    """The names of the variant's setup steps: the leading ones that run on no client node (for
    TDengine the cluster's formation), i.e. the state its operator had before the clients came."""
    clients = {node.name for node in variant.deployment.nodes if kinds.kind(node.kind).client}
    names: list[str] = []
    for step in variant.steps:
        if clients & set(step.on):
            break
        names.append(step.name)
    return names


def open_record(scenario: model.Scenario, folder: Path, run_id: str) -> RunRecord:
    """The lab's RunRecord over `folder`, holding what earlier `lab steps` recorded there."""
    path = folder / "results.json"
    earlier = json.loads(path.read_text()) if path.exists() else {}
    record = RunRecord(scenario, folder, run_id)
    record.variants = earlier.get("variants", [])
    for row in earlier.get("outcomes", []):
        fields = {key: value for key, value in row.items() if key in _OUTCOME_FIELDS}
        fields["argv"] = tuple(fields["argv"])
        record.outcomes.append(Outcome(**fields))
        record.trials.append(row.get("trial", 1))
    return record


def run_named_steps(
    record: RunRecord,
    variant: model.Variant,
    names: Iterable[str],
    runner_for: Callable[[str], CommandRunner],
    on_outcome: Callable[[Outcome], None],
) -> list[Outcome]:
    """Run the variant's steps called `names` (every step of each name, in the scenario's order) and record each."""
    wanted = set(names)
    chosen = dataclasses.replace(variant, steps=tuple(s for s in variant.steps if s.name in wanted))

    def report(outcome: Outcome) -> None:
        record.add_outcome(outcome)
        on_outcome(outcome)

    outcomes = run_steps(chosen, runner_for, report)
    record.finish()
    return outcomes
