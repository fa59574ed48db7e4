"""What the command line prints: its two consoles, error reports, the outcome table and the `results:` line.

Shared by the local commands (cli.py) and the same commands on another machine (remote/).
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from .errors import LabError, MachineUnfit, ScenarioInvalid
from .results.matrix import Matrix
from .results.pivot import PivotTable
from .scenario import model
from .scenario.loader import load_scenario

RESULTS_PREFIX = "results: "  # the last line of `run`: where its folder is (tests and --on read it)

out = Console(highlight=False, soft_wrap=True)
if not out.is_terminal:
    out.width = 160  # results piped to a file or CI log keep whole table rows
err = Console(stderr=True, highlight=False, soft_wrap=True)


def report(error: LabError) -> int:
    """Print `error` for the user; return its exit status."""
    if isinstance(error, ScenarioInvalid):
        for problem in error.problems:
            err.print(f"[red]error[/red] {escape(str(problem))}")
    elif isinstance(error, MachineUnfit):
        err.print(f"[red]cannot run a lab on this machine:[/red]\n{escape(str(error))}")
    else:
        err.print(f"[red]error:[/red] {escape(str(error))}")
    return int(error.exit_status)


def load_or_report(path: Path) -> model.Scenario | None:
    """Load a scenario, printing its problems; None when invalid."""
    try:
        return load_scenario(path)
    except ScenarioInvalid as exc:
        report(exc)
        err.print(f"{path}: {len(exc.problems)} problem(s); nothing was built")
    return None


def results_line(directory: Path | str) -> str:
    """The line that ends a run's output."""
    return f"{RESULTS_PREFIX}{directory}"


def outcome_table(matrix: Matrix) -> Table:
    """The outcome matrix for the terminal: each cell the result and, when it differs from the
    expectation, what was expected."""
    table = Table(title="outcomes (variant x node x step)")
    table.add_column("node")
    table.add_column("step")
    for variant in matrix.variants:
        table.add_column(variant)
    for node, step, cells in matrix.rows:
        row = [escape(node), escape(step)]
        for cell in cells:
            if cell is None:
                row.append("-")
                continue
            text = "[green]ok[/green]" if cell.ok else f"[red]FAILED[/red] {escape(cell.error)}"
            if matrix.repeated:
                text = f"[yellow]{cell.count}[/yellow] " + text if cell.flaky else f"{cell.count} " + text
            text += f" ({cell.duration_s:.2f}s)"
            if not cell.met:
                text += f" [bold red]NOT AS EXPECTED[/bold red] (expected {escape(cell.expected)})"
            elif not cell.ok:
                text += " [dim](as expected)[/dim]"
            row.append(text)
        table.add_row(*row)
    return table


PIVOT_STYLE = {"ok": "green", "FAILED": "red", "flaky": "yellow"}


def pivot_table(table: PivotTable) -> Table:
    """One pivot table of a matrix run: rows and columns are axis values, cells verdict, count and reason."""
    out_table = Table(title=f"{table.title} (matrix)")
    out_table.add_column(f"{', '.join(table.row_axes) or '-'} \\ {table.column_axis}")
    for column in table.columns:
        out_table.add_column(column)
    for values, cells in table.rows:
        row = [escape(", ".join(values) or "-")]
        for cell in cells:
            if cell is None:
                row.append("-")
                continue
            style = PIVOT_STYLE[cell.verdict]
            text = f"[{style}]{cell.verdict}[/{style}] {escape(cell.count.removesuffix(' flaky'))}"
            if not cell.met:
                text += " [bold red]NOT AS EXPECTED[/bold red]"
            if cell.reason:
                text += f": {escape(cell.reason)}"
            row.append(text)
        out_table.add_row(*row)
    return out_table


class RunningVariants:
    """The live lines under the progress of `run --jobs`: one per running variant, what it does and
    for how long (a rich renderable for rich.live.Live; `update` is given {label: latest progress})."""

    def __init__(self) -> None:
        self._doing: dict[str, str] = {}
        self._since: dict[str, float] = {}

    def update(self, doing: dict[str, str]) -> None:
        """What each running variant does now; variants no longer named have finished."""
        now = time.monotonic()
        self._since = {label: self._since.get(label, now) for label in doing}
        self._doing = dict(doing)

    def __rich__(self) -> Group:
        now = time.monotonic()
        return Group(
            *(
                Text.assemble(("  running ", "dim"), (label, "bold"), f" ({now - self._since[label]:.0f}s): {doing}")
                for label, doing in self._doing.items()
            )
        )
