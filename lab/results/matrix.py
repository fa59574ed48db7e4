"""The outcome matrix: a row per node and step, a column per variant (the terminal and report.md draw it).

With repeated trials (`run --repeat N`) a cell holds all trials of its variant, node and step:
its `count` reads `3/3` (every trial as expected), `1/3` (two not), or `2/3 flaky` when the
trials disagree on success.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One variant's outcome of one step on one node, over `trials` trials.

    `ok` and `met`: every trial succeeded / met its expectation; `error`: the first failing
    trial's reason; `duration_s`: the mean over the trials.
    """

    ok: bool
    met: bool
    error: str
    expected: str
    duration_s: float
    trials: int = 1
    oks: int = 1  # trials that succeeded
    mets: int = 1  # trials that met the expectation

    @property
    def flaky(self) -> bool:
        """Some trials succeeded and some did not."""
        return 0 < self.oks < self.trials

    @property
    def count(self) -> str:
        """Trials as expected of all trials, e.g. '3/3', '2/3 flaky'."""
        return f"{self.mets}/{self.trials}" + (" flaky" if self.flaky else "")

    @property
    def result(self) -> str:
        """'ok', or 'failed: <why>'."""
        return "ok" if self.ok else f"failed: {self.error}"


@dataclass(frozen=True)
class Matrix:
    """Columns `variants`; rows (node, step, one cell per variant, None where it did not run)."""

    variants: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[Cell | None, ...]], ...]

    @property
    def repeated(self) -> bool:
        """Whether any cell holds more than one trial."""
        return any(cell is not None and cell.trials > 1 for _, _, cells in self.rows for cell in cells)


def _cell(trials: list[Mapping[str, Any]]) -> Cell:
    failing = next((o for o in trials if not o["ok"]), None)
    return Cell(
        ok=failing is None,
        met=all(o["met"] for o in trials),
        error=failing["error"] if failing is not None else "",
        expected=trials[0]["expected"],
        duration_s=round(sum(o["duration_s"] for o in trials) / len(trials), 3),
        trials=len(trials),
        oks=sum(bool(o["ok"]) for o in trials),
        mets=sum(bool(o["met"]) for o in trials),
    )


def outcome_matrix(outcomes: Iterable[Mapping[str, Any]], variants: Iterable[str] = ()) -> Matrix:
    """The matrix of outcome rows (results.json's); columns in the order of `variants`, then as they come."""
    outcomes = list(outcomes)
    columns = tuple(dict.fromkeys([*variants, *(o["variant"] for o in outcomes)]))
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for o in outcomes:
        grouped.setdefault((o["variant"], o["node"], o["step"]), []).append(o)
    cells = {key: _cell(trials) for key, trials in grouped.items()}
    rows = tuple(
        (node, step, tuple(cells.get((variant, node, step)) for variant in columns))
        for node, step in dict.fromkeys((o["node"], o["step"]) for o in outcomes)
    )
    return Matrix(columns, rows)
