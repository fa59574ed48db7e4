"""What taosc does with values and results on the client (pure): turning written values into
typed ones by the table's schema (tscParseInsert.c) and computing a select's result columns
and rows from the rows the vnodes returned."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from .errors import SQL_SYNTAX_ERROR, TSC_INVALID_SQL, TaosError
from .shellfmt import Column

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

_UNITS_MS = {"a": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_NOW = re.compile(r"^now\s*(?:([+-])\s*(\d+)([asmhdw]))?$", re.IGNORECASE)
_DATETIME = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})[ T](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,3}))?$")
_ERROR_BUFFER = 63


def invalid_sql(text: str, info: str | None = None) -> TaosError:
    """tscInvalidSQLErrMsg: ``invalid SQL: 'TEXT' (INFO)`` or ``invalid SQL: INFO``."""
    if info is None:
        return TaosError(TSC_INVALID_SQL, f"invalid SQL: {text}")
    return TaosError(TSC_INVALID_SQL, f"invalid SQL: '{text[:_ERROR_BUFFER]}' ({info})")


def unquote(text: str) -> str:
    """A written string without its quotes (other values as written)."""
    if len(text) >= 2 and text[0] in "'\"" and text[-1] == text[0]:
        return text[1:-1]
    return text


def parse_time(text: str, now_ms: int) -> int:
    """A timestamp in ms: ``now[+-N unit]``, ``'YYYY-MM-DD HH:MM:SS[.mmm]'`` (local time) or
    an integer (epoch ms); otherwise ``invalid SQL: 'TEXT' (invalid timestamp)``."""
    bare = unquote(text).strip()
    now = _NOW.match(bare)
    if now is not None and text[0] not in "'\"":
        sign, amount, unit = now.groups()
        delta = int(amount) * _UNITS_MS[unit.lower()] if amount else 0
        return now_ms - delta if sign == "-" else now_ms + delta
    if re.fullmatch(r"-?\d+", bare):
        return int(bare)
    match = _DATETIME.match(bare)
    if match is None:
        raise invalid_sql(bare, "invalid timestamp")
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        stamp = time.mktime((int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, -1))
    except (OverflowError, ValueError):
        raise invalid_sql(bare, "invalid timestamp") from None
    return int(stamp) * 1000 + int((fraction or "0").ljust(3, "0"))


def convert(text: str, kind: str, now_ms: int) -> Any:
    """One written value as a value of column type ``kind``."""
    if text.lower() == "null":
        return None
    if kind == "timestamp":
        return parse_time(text, now_ms)
    bare = unquote(text)
    try:
        if kind in ("tinyint", "smallint", "int", "bigint"):
            return int(bare)
        if kind in ("float", "double"):
            return float(bare)
    except ValueError:
        raise invalid_sql(bare, "invalid number") from None
    if kind == "bool":
        return bare.lower() in ("true", "1")
    return bare


def convert_row(values: Sequence[str], schema: Sequence[Sequence[Any]], now_ms: int) -> list[Any]:
    """A written row by the schema; a row of the wrong length is the parser's error."""
    if len(values) < len(schema):
        raise TaosError(SQL_SYNTAX_ERROR, "syntax error near ')' (invalid data or symbol)")
    if len(values) > len(schema):
        raise TaosError(SQL_SYNTAX_ERROR, f"syntax error near '{values[len(schema)]}' (invalid data or symbol)")
    return [convert(value, kind, now_ms) for value, (_, kind, _) in zip(values, schema, strict=True)]


def _column(entry: Sequence[Any], name: str | None = None) -> Column:
    return Column(name or str(entry[0]), str(entry[1]), int(entry[2]))


def select(
    items: Sequence[str],
    schema: Sequence[Sequence[Any]],
    tags: Sequence[Sequence[Any]],
    tables: Sequence[tuple[list[Any], list[list[Any]]]],
    limit: int | None,
) -> tuple[list[Column], list[list[Any]]]:
    """Result columns and rows of ``select ITEMS`` over ``tables`` ((tag values, rows) each)."""
    names = [str(entry[0]) for entry in schema] + [str(entry[0]) for entry in tags]
    entries = list(schema) + list(tags)
    rows = [list(row) + list(tag_values) for tag_values, table_rows in tables for row in table_rows]
    if list(items) == ["count(*)"]:
        return [Column("count(*)", "bigint", 8)], ([[len(rows)]] if rows else [])
    if list(items) == ["last_row(*)"]:
        columns = [_column(entry, f"last_row({entry[0]})") for entry in schema]
        last = max(rows, key=lambda row: row[0]) if rows else None
        return columns, ([last[: len(schema)]] if last is not None else [])
    picked: list[int] = []
    for item in items:
        if item == "*":
            picked += range(len(names))
        elif item in names:
            picked.append(names.index(item))
        else:
            raise invalid_sql("invalid column name")
    columns = [_column(entries[index]) for index in picked]
    result = [[row[index] for index in picked] for row in rows]
    return columns, result if limit is None else result[:limit]
