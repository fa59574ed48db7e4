"""What the TDengine 2.0.20 shell prints, byte for byte (pure; see shellEngine.c).

Result tables: every column gets a width from its type (smallint 6, int 11, bigint 21,
timestamp 23, binary its size capped at 30) or its name if longer; the header centres each
name and ends it with `` |``, then comes a line of ``=`` as wide as the table, then rows of
`` value |`` with numbers right-aligned and text left-aligned (cut to ``...`` when too long).
"""

from __future__ import annotations

import time
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import VERSION

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

PROMPT = "taos> "
CONTINUE_PROMPT = "   -> "
MAX_BINARY_DISPLAY_WIDTH = 30
_FIXED_WIDTHS = {
    "bool": 5,
    "tinyint": 4,
    "smallint": 6,
    "int": 11,
    "bigint": 21,
    "float": 20,
    "double": 25,
    "timestamp": 23,
}
_INTEGERS = ("tinyint", "smallint", "int", "bigint")


@dataclass(frozen=True)
class Column:
    """A result column: name, type (bool, tinyint ... bigint, float, double, binary, nchar,
    timestamp), size."""

    name: str
    type: str
    bytes: int


def banner(os_name: str = "Linux") -> str:
    """The welcome text printed on stdout when the shell starts."""
    return (
        f"\nWelcome to the TDengine shell from {os_name}, Client Version:{VERSION}\n"
        "Copyright (c) 2020 by TAOS Data, Inc. All rights reserved.\n\n"
    )


def connect_failed(reason: str) -> str:
    """Printed on stdout when the connection cannot be made (the shell then exits 1)."""
    return f"taos connect failed, reason: {reason}.\n\n"


def query_ok_rows(rows: int, seconds: float) -> str:
    """Footer of a select/show result."""
    return f"Query OK, {rows} row(s) in set ({seconds:.6f}s)\n"


def query_ok_affected(rows: int, seconds: float) -> str:
    """Footer of a statement that changes something (create/drop dnode)."""
    return f"Query OK, {rows} of {rows} row(s) in database ({seconds:.6f}s)\n"


def db_error(text: str, seconds: float) -> str:
    """A failed statement, printed on stderr."""
    return f"\nDB error: {text} ({seconds:.6f}s)\n"


def column_width(column: Column) -> int:
    """Display width of ``column`` (calcColWidth)."""
    if column.type in ("binary", "nchar"):
        size = column.bytes * 4 if column.type == "nchar" else column.bytes  # TSDB_NCHAR_SIZE
        return max(min(size, MAX_BINARY_DISPLAY_WIDTH), len(column.name))
    return max(_FIXED_WIDTHS[column.type], len(column.name))


def format_timestamp(millis: float) -> str:
    """``YYYY-MM-DD HH:MM:SS.mmm`` in local time."""
    seconds, ms = divmod(int(millis), 1000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{ms:03d}"


def _char_width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def _fit_text(text: str, width: int) -> str:
    """Left-align ``text`` in ``width`` columns; cut it to end in ``...`` when too wide."""
    total = sum(_char_width(char) for char in text)
    if total <= width:
        return text + " " * (width - total)
    kept, cols = [], 0
    for char in text:
        char_width = _char_width(char)
        if cols + char_width > width - 3:
            break
        kept.append(char)
        cols += char_width
    dots = min(3, width - cols)
    return "".join(kept) + "." * dots + " " * (width - cols - dots)


def format_value(column: Column, value: Any, width: int) -> str:
    """One cell, without the surrounding `` `` and `` |`` (printField)."""
    if value is None:
        numeric = column.type in _INTEGERS or column.type in ("float", "double")
        return "NULL".rjust(width) if numeric else "NULL".ljust(width)
    if column.type in _INTEGERS:
        return str(int(value)).rjust(width)
    if column.type == "float":
        return f"{float(value):{width}.5f}"
    if column.type == "double":
        return f"{float(value):{width}.9f}"
    if column.type == "bool":
        return ("true" if value else "false").rjust(width)
    if column.type == "timestamp":
        return format_timestamp(value)
    return _fit_text(str(value), width)


def format_header(columns: Sequence[Column], widths: Sequence[int]) -> str:
    """The centred column names and the ``=`` line."""
    cells = []
    for column, width in zip(columns, widths, strict=True):
        padding = width - len(column.name)
        left = padding // 2
        cells.append(" " + " " * left + column.name + " " * (padding - left) + " |")
    return "".join(cells) + "\n" + "=" * sum(width + 3 for width in widths) + "\n"


def format_table(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> str:
    """Header and rows of a result; nothing at all for an empty result, like the shell."""
    if not rows:
        return ""
    widths = [column_width(column) for column in columns]
    lines = [format_header(columns, widths)]
    for row in rows:
        cells = (f" {format_value(c, v, w)} |" for c, v, w in zip(columns, row, widths, strict=True))
        lines.append("".join(cells) + "\n")
    return "".join(lines)
