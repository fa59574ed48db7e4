"""The pivot of a matrix run: the axes as rows and columns, one table per node and step.

The last axis gives the columns, the others (their combinations, in the file's order) the rows;
each cell is that combination's outcome over its trials (`ok 2/2`, `FAILED 2/2`, `flaky 1/2`),
and a failing cell carries its one-line reason: the explanation's first line when there is one,
else the step's error. Pure: outcome rows (results.json's) in, tables, markdown and SVG out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from .matrix import Cell, outcome_matrix
from .record import atomic_write, safe_name

CellKey = tuple[str, str, str]  # variant, node, step
REASON_MAX_CHARS = 160


@dataclass(frozen=True)
class PivotCell:
    """One combination's outcome of the table's step: verdict, count over trials and why it failed."""

    verdict: str  # 'ok', 'FAILED' or 'flaky'
    count: str  # '2/2', '1/2 flaky'
    met: bool
    reason: str  # one line; '' when it succeeded every time

    @property
    def text(self) -> str:
        """The cell as one line of text."""
        text = f"{self.verdict} {self.count.removesuffix(' flaky')}"
        if not self.met:
            text += " NOT AS EXPECTED"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class PivotTable:
    """One node and step: rows are combinations of `row_axes`, columns the values of `column_axis`."""

    node: str
    step: str
    row_axes: tuple[str, ...]
    column_axis: str
    columns: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], tuple[PivotCell | None, ...]], ...]

    @property
    def title(self) -> str:
        """`node / step`."""
        return f"{self.node} / {self.step}"


def _name(coordinates: Iterable[tuple[str, str]]) -> str:
    return ",".join(f"{axis}={value}" for axis, value in coordinates)


def _one_line(text: str) -> str:
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= REASON_MAX_CHARS else line[: REASON_MAX_CHARS - 1] + "…"


def _pivot_cell(cell: Cell, reason: str) -> PivotCell:
    verdict = "flaky" if cell.flaky else ("ok" if cell.ok else "FAILED")
    return PivotCell(verdict, cell.count, cell.met, "" if cell.ok else _one_line(reason or cell.error))


def pivot_tables(
    axes: Sequence[Any],
    outcomes: Iterable[Mapping[str, Any]],
    nodes: Iterable[str] | None = None,
    reasons: Mapping[CellKey, str] | None = None,
) -> list[PivotTable]:
    """The pivot tables of a run with `axes` (model.Axis, or (name, values) pairs); [] without axes.

    `nodes` limits the tables to those nodes (e.g. the clients); `reasons` gives a failing cell's
    explanation (its first line is shown).
    """
    named = [(axis.name, tuple(axis.values)) if hasattr(axis, "name") else (axis[0], tuple(axis[1])) for axis in axes]
    if not named:
        return []
    wanted = set(nodes) if nodes is not None else None
    rows_of = [o for o in outcomes if wanted is None or o["node"] in wanted]
    matrix = outcome_matrix(rows_of)
    cells = {
        (variant, node, step): cell
        for node, step, row in matrix.rows
        for variant, cell in zip(matrix.variants, row, strict=True)
        if cell is not None
    }
    column_axis, columns = named[-1]
    row_axes = named[:-1]
    tables = []
    for node, step, _ in matrix.rows:
        rows = []
        for row_values in itertools.product(*(values for _, values in row_axes)):
            row_coordinates = list(zip((name for name, _ in row_axes), row_values, strict=True))
            row_cells = []
            for column in columns:
                variant = _name([*row_coordinates, (column_axis, column)])
                cell = cells.get((variant, node, step))
                reason = (reasons or {}).get((variant, node, step), "")
                row_cells.append(_pivot_cell(cell, reason) if cell is not None else None)
            if any(c is not None for c in row_cells):
                rows.append((tuple(row_values), tuple(row_cells)))
        tables.append(PivotTable(node, step, tuple(n for n, _ in row_axes), column_axis, columns, tuple(rows)))
    return tables


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def pivot_markdown(tables: Sequence[PivotTable], pictures: Mapping[str, str] | None = None) -> str:
    """The tables as markdown, each under its `node / step` heading (and its SVG picture when given)."""
    parts = []
    for table in tables:
        head = ", ".join(table.row_axes) or "-"
        parts.append(f"### {_md(table.title)}\n")
        if pictures and table.title in pictures:
            parts.append(f"![{_md(table.title)}]({pictures[table.title]})\n")
        parts.append(f"| {head} \\ {table.column_axis} | " + " | ".join(table.columns) + " |")
        parts.append("|---|" + "---|" * len(table.columns))
        for values, cells in table.rows:
            texts = ["—" if c is None else _md(c.text) for c in cells]
            parts.append(f"| {', '.join(values) or '-'} | " + " | ".join(texts) + " |")
        parts.append("")
    return "\n".join(parts)


COLOURS = {"ok": "#c8e6c9", "FAILED": "#ffcdd2", "flaky": "#ffe0b2", None: "#eeeeee"}
CELL_W, CELL_H, HEAD_W, LINE_H = 260, 54, 200, 16


def pivot_svg(table: PivotTable) -> str:
    """The table as an SVG heat table: green ok, red failed, orange flaky, a thick border where an
    expectation was not met; each cell its verdict and count, and its reason when it failed."""
    width = HEAD_W + CELL_W * len(table.columns)
    height = 2 * LINE_H + CELL_H * (len(table.rows) + 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-family="sans-serif" font-size="12">',
        f'<text x="4" y="{LINE_H}" font-weight="bold">{escape(table.title)}</text>',
    ]
    top = 2 * LINE_H
    corner = f"{', '.join(table.row_axes) or '-'} \\ {table.column_axis}"
    out.append(f'<text x="4" y="{top + CELL_H / 2}">{escape(corner)}</text>')
    for number, column in enumerate(table.columns):
        x = HEAD_W + number * CELL_W
        out.append(f'<text x="{x + 4}" y="{top + CELL_H / 2}" font-weight="bold">{escape(column)}</text>')
    for row_number, (values, cells) in enumerate(table.rows, 1):
        y = top + row_number * CELL_H
        out.append(f'<text x="4" y="{y + CELL_H / 2}" font-weight="bold">{escape(", ".join(values) or "-")}</text>')
        for number, cell in enumerate(cells):
            x = HEAD_W + number * CELL_W
            colour = COLOURS[cell.verdict if cell else None]
            stroke = ' stroke="#b71c1c" stroke-width="3"' if cell is not None and not cell.met else ' stroke="#ffffff"'
            out.append(f'<rect x="{x}" y="{y}" width="{CELL_W}" height="{CELL_H}" fill="{colour}"{stroke}/>')
            if cell is None:
                out.append(f'<text x="{x + 4}" y="{y + LINE_H}">—</text>')
                continue
            head = f"{cell.verdict} {cell.count.removesuffix(' flaky')}" + ("" if cell.met else " NOT AS EXPECTED")
            out.append(f'<text x="{x + 4}" y="{y + LINE_H}" font-weight="bold">{escape(head)}</text>')
            reason = cell.reason[:36], cell.reason[36:72] + ("…" if len(cell.reason) > 72 else "")
            for line_number, line in enumerate(part for part in reason if part):
                out.append(f'<text x="{x + 4}" y="{y + (line_number + 2) * LINE_H}">{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def picture_name(table: PivotTable) -> str:
    """The file name of a table's SVG in the run folder."""
    return f"pivot-{safe_name(table.node)}--{safe_name(table.step)}.svg"


def write_pivot(
    directory: Path,
    axes: Sequence[Any],
    outcomes: Iterable[Mapping[str, Any]],
    nodes: Iterable[str] | None = None,
    reasons: Mapping[CellKey, str] | None = None,
) -> str:
    """Write each pivot table's SVG into the run folder; return the tables as markdown ('' without axes)."""
    tables = pivot_tables(axes, outcomes, nodes, reasons)
    pictures = {}
    for table in tables:
        atomic_write(directory / picture_name(table), pivot_svg(table))
        pictures[table.title] = picture_name(table)
    return pivot_markdown(tables, pictures)
