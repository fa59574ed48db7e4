"""Emulated against real TDengine, cell by cell: what the `taos` shell printed, its exit status,
success, and how long a retried failure took."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import zip_longest

RETRY_FAILURE_S = 3.0  # a failed cell that took this long in the real one waited out retries
TIME_TOLERANCE = 0.4  # its emulated duration must be within 40% of the real one
COLUMN_WIDTH = 70


def masked(text: str) -> str:
    """Shell text with what changes from run to run masked: timings, timestamps, vnode and core
    counts, the dnode of a vgroup (placement follows the balancer's timing), table uids (their
    low bits are random) and the monitor database's table count (each dnode's monitor adds its
    table when it gets to it)."""
    text = re.sub(r"\(\d+\.\d{6}s\)", "(T s)", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}", "YYYY-MM-DD hh:mm:ss.mmm", text)
    text = re.sub(r"\b\d{15,17}\b", "UID", text)
    # show vgroups rows: | vgId | tables | status | onlines | v1_dnode | (where the balancer put it)
    text = re.sub(r"^(\s+\d+ \|\s+\d+ \| \w+\s+\|\s+\d+ \|)\s+\d+ \|", r"\1        D |", text, flags=re.MULTILINE)
    # show databases: | log | created_time | ntables |
    text = re.sub(r"^( log +\| [^|]+\|)\s+\d+ \|", r"\1           N |", text, flags=re.MULTILINE)
    # show dnodes rows: | id | end_point | vnodes | cores | ...
    return re.sub(r"^(\s+\d+ \|\s+\S+\s+\|)\s+\d+ \|\s+\d+ \|", r"\1      V |      C |", text, flags=re.MULTILINE)


def side_by_side(left: str, right: str, titles: tuple[str, str] = ("emulated", "real")) -> str:
    """Two texts in two columns, differing lines marked with '|'."""
    rows = [f"{titles[0]:<{COLUMN_WIDTH}}   {titles[1]}"]
    for a, b in zip_longest(left.splitlines(), right.splitlines(), fillvalue=""):
        mark = " " if a == b else "|"
        rows.append(f"{a[:COLUMN_WIDTH]:<{COLUMN_WIDTH}} {mark} {b[:COLUMN_WIDTH]}")
    return "\n".join(rows)


@dataclass(frozen=True)
class Difference:
    """One cell where the emulated TDengine did not do what the real one did."""

    cell: str
    what: str
    detail: str

    def __str__(self) -> str:
        return f"{self.cell}: {self.what}\n{self.detail}"


def is_shell_cell(outcome: dict) -> bool:
    """A cell that ran the `taos` shell (other commands, such as reading a log file, differ by design)."""
    return bool(outcome["argv"]) and outcome["argv"][0] == "taos"


def compare(emulated: list[dict], real: list[dict]) -> list[Difference]:
    """Every difference between two runs' outcome rows of the same scenario."""
    key = lambda o: (o["variant"], o["node"], o["step"])  # noqa: E731
    by_cell = {key(o): o for o in real}
    differences = []
    for mine in emulated:
        cell = "/".join(key(mine))
        theirs = by_cell.get(key(mine))
        if theirs is None:
            differences.append(Difference(cell, "missing in the real run", ""))
            continue
        if not is_shell_cell(mine):
            continue
        if masked(mine["output"]) != masked(theirs["output"]):
            detail = side_by_side(masked(mine["output"]), masked(theirs["output"]))
            differences.append(Difference(cell, "the shell printed something else", detail))
        if (mine["exit_code"], mine["ok"]) != (theirs["exit_code"], theirs["ok"]):
            differences.append(
                Difference(
                    cell,
                    "exit status or success differs",
                    f"emulated: exit {mine['exit_code']}, ok {mine['ok']}; real: exit {theirs['exit_code']}, "
                    f"ok {theirs['ok']}",
                )
            )
        if not theirs["ok"] and theirs["duration_s"] >= RETRY_FAILURE_S:
            if abs(mine["duration_s"] - theirs["duration_s"]) > TIME_TOLERANCE * theirs["duration_s"]:
                differences.append(
                    Difference(
                        cell,
                        "a retried failure took another time",
                        f"emulated {mine['duration_s']:.2f} s, real {theirs['duration_s']:.2f} s "
                        f"(allowed: within {TIME_TOLERANCE:.0%})",
                    )
                )
    return differences
