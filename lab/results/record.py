"""Write a run's results: results.json (versioned schema), outcomes.csv, session texts.

Files are written atomically (a temporary file renamed into place), so a reader never
sees half a file; results.json is rewritten after every variant and says `complete:
false` until the run has finished.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import platform
import re
import time
from pathlib import Path

from .. import __version__
from ..scenario import model
from ..steps.execute import Outcome
from .matrix import outcome_matrix

SCHEMA = "lab.results/1"
CSV_FIELDS = (
    "variant",
    "node",
    "step",
    "ok",
    "expected",
    "met",
    "exit_code",
    "duration_s",
    "error",
    "output",
    "trial",  # which replay of the variant (1..repeat)
    "cell",  # the cell's count over all trials: '3/3', '2/3 flaky'
)


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def trial_label(variant: str, trial: int, repeat: int) -> str:
    """How progress and explanations name one trial of a variant: its name, with `#n` when repeated."""
    return variant if repeat == 1 else f"{variant} #{trial}"


def trial_folder(variant: str, trial: int, repeat: int) -> str:
    """Where a trial's captures, sessions and state go, relative to the run folder: the variant's
    folder, or with repeated trials `<variant>/trial-<n>` (nothing of one trial overwrites another's)."""
    return safe_name(variant) if repeat == 1 else f"{safe_name(variant)}/trial-{trial}"


def _recorded(outcome: Outcome, trial: int, repeat: int) -> dict[str, object]:
    """An outcome as results.json and outcomes.csv keep it: every field but the session text, with
    its trial and the folder of its evidence."""
    fields = dataclasses.asdict(outcome)
    del fields["session"]
    fields["trial"] = trial
    fields["folder"] = trial_folder(outcome.variant, trial, repeat)
    return fields


def iso(timestamp: float) -> str:
    """An ISO 8601 UTC time."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def create_unique_dir(parent: Path, name: str) -> Path:
    """Create and return `parent/name`, or `parent/name-2`, `-3`... when taken: unique under any
    timing, as the folder is claimed by mkdir itself (two runs started in the same second get two)."""
    parent.mkdir(parents=True, exist_ok=True)
    suffix = 1
    while True:
        candidate = parent / (name if suffix == 1 else f"{name}-{suffix}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            suffix += 1


def code_hash() -> str:
    """A hash of the lab's own code (every file of the package): which code made a run."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for path in sorted(p for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def safe_name(text: str) -> str:
    """A file-name-safe version of a node, step or variant name ('=' and ',' of a matrix's
    `axis=value,axis=value` stay: both are plain characters in file names)."""
    return re.sub(r"[^A-Za-z0-9_.,=-]", "_", text)


class RunRecord:
    """The results folder of one run, filled in as the run goes."""

    def __init__(self, scenario: model.Scenario, directory: Path, run_id: str, repeat: int = 1) -> None:
        """Start the record of a run in `directory` (an empty folder of its own); each variant is
        replayed `repeat` times."""
        self.scenario = scenario
        self.repeat = repeat
        self.trials: list[int] = []  # the trial of each outcome, in the order of self.outcomes
        self.run_id = run_id
        self.directory = directory
        self.started = time.time()
        self.ended: float | None = None
        self.outcomes: list[Outcome] = []
        self.variants: list[dict] = []
        # each failing cell's one-line reason, once the report has explained it (not in results.json)
        self.reasons: dict[tuple[str, str, str], str] = {}
        self.versions = {
            "lab": __version__,
            "lab_code": code_hash(),
            "kernel": platform.release(),
            "python": platform.python_version(),
        }
        (directory / "scenario.yaml").write_bytes(Path(scenario.path).read_bytes())
        self.save()

    def variant_dir(self, variant: str, trial: int = 1) -> Path:
        """The folder of one variant's (one trial's) captures and session texts."""
        path = self.directory / trial_folder(variant, trial, self.repeat)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def add_outcome(self, outcome: Outcome, trial: int = 1) -> None:
        """Record one outcome and keep the session text of that cell (bounded, see steps.execute)."""
        sessions = self.variant_dir(outcome.variant, trial) / "sessions"
        sessions.mkdir(exist_ok=True)
        atomic_write(sessions / f"{safe_name(outcome.node)}--{safe_name(outcome.step)}.txt", outcome.session)
        self.outcomes.append(outcome.without_session())
        self.trials.append(trial)

    def add_variant(
        self,
        name: str,
        description: str,
        error: str | None,
        phases: dict[str, float],
        software: dict[str, dict[str, str]] | None = None,
        trial: int = 1,
        run_id: str | None = None,
        started_at: float | None = None,
    ) -> None:
        """Record how building and running a variant (one trial of it) went and which build of each
        software ran, then save; `run_id` names the worker's own run when it ran in one (--jobs);
        `started_at` and the time of this call bound the variant's life (time.time())."""
        coordinates = next((v.coordinates for v in self.scenario.variants if v.name == name), ())
        self.variants.append(
            {
                "name": name,
                "description": description,
                "trial": trial,
                "coordinates": dict(coordinates),
                "built": error is None,
                "error": error,
                "phases_s": phases,
                "software": software or {},
                **({"run_id": run_id} if run_id else {}),
                **({"started_at": started_at, "ended_at": time.time()} if started_at else {}),
            }
        )
        self.save()

    def finish(self) -> None:
        """Mark the run complete, put variants and outcomes in the scenario's order (trials in
        order: parallel workers report as they finish) and save everything."""
        self.ended = time.time()
        order = {variant.name: number for number, variant in enumerate(self.scenario.variants)}
        self.variants.sort(key=lambda v: (order.get(v["name"], len(order)), v["trial"]))
        pairs = sorted(
            zip(self.outcomes, self.trials, strict=True), key=lambda p: (order.get(p[0].variant, len(order)), p[1])
        )
        self.outcomes = [outcome for outcome, _ in pairs]
        self.trials = [trial for _, trial in pairs]
        self.save()

    @property
    def all_met(self) -> bool:
        """True when every variant was built and every expectation met."""
        return all(v["built"] for v in self.variants) and all(o.met for o in self.outcomes)

    def as_dict(self) -> dict:
        """The content of results.json."""
        met = sum(o.met for o in self.outcomes)
        rows = [_recorded(o, t, self.repeat) for o, t in zip(self.outcomes, self.trials, strict=True)]
        matrix = outcome_matrix(rows, [v.name for v in self.scenario.variants])
        counts = {
            (variant, node, step): cell.count
            for node, step, cells in matrix.rows
            for variant, cell in zip(matrix.variants, cells, strict=True)
            if cell is not None
        }
        for row in rows:
            row["cell"] = counts[(str(row["variant"]), str(row["node"]), str(row["step"]))]
        return {
            "schema": SCHEMA,
            "run_id": self.run_id,
            "complete": self.ended is not None,
            "scenario": {
                "name": self.scenario.name,
                "description": self.scenario.description,
                "path": self.scenario.path,
                "sha256": self.scenario.sha256,
            },
            "versions": self.versions,
            "repeat": self.repeat,
            "axes": {axis.name: list(axis.values) for axis in self.scenario.axes},
            "started_at": iso(self.started),
            "ended_at": iso(self.ended) if self.ended else None,
            "variants": self.variants,
            "summary": {
                "outcomes": len(self.outcomes),
                "met": met,
                "unmet": len(self.outcomes) - met,
                "all_met": self.all_met,
            },
            "cells": [
                {"variant": variant, "node": node, "step": step, "result": count}
                for (variant, node, step), count in counts.items()
            ],
            "outcomes": rows,
        }

    def save(self) -> None:
        """Write results.json and outcomes.csv."""
        results = self.as_dict()
        atomic_write(self.directory / "results.json", json.dumps(results, indent=2) + "\n")
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in results["outcomes"]:
            writer.writerow(row)
        atomic_write(self.directory / "outcomes.csv", buffer.getvalue())
