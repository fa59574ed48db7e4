"""The outcome matrix: a row per node and step, a column per variant (the terminal and report.md draw it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Cell:
    """One variant's outcome of one step on one node."""

    ok: bool
    met: bool
    error: str
    expected: str
    duration_s: float

    @property
    def result(self) -> str:
        """'ok', or 'failed: <why>'."""
        return "ok" if self.ok else f"failed: {self.error}"


@dataclass(frozen=True)
class Matrix:
    """Columns `variants`; rows (node, step, one cell per variant, None where it did not run)."""

    variants: tuple[str, ...]
    rows: tuple[tuple[str, str, tuple[Cell | None, ...]], ...]


def outcome_matrix(outcomes: Iterable[Mapping[str, Any]], variants: Iterable[str] = ()) -> Matrix:
    """The matrix of outcome rows (results.json's); columns in the order of `variants`, then as they come."""
    outcomes = list(outcomes)
    columns = tuple(dict.fromkeys([*variants, *(o["variant"] for o in outcomes)]))
    cells = {
        (o["variant"], o["node"], o["step"]): Cell(o["ok"], o["met"], o["error"], o["expected"], o["duration_s"])
        for o in outcomes
    }
    rows = tuple(
        (node, step, tuple(cells.get((variant, node, step)) for variant in columns))
        for node, step in dict.fromkeys((o["node"], o["step"]) for o in outcomes)
    )
    return Matrix(columns, rows)
