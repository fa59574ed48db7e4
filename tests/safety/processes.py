"""Processes a safety test started itself, found by a token unique to the test (`sleep <token>`)."""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

_serial = itertools.count(1)


def new_token() -> str:
    """A `sleep` duration no other test uses: 600.<pid><serial> seconds."""
    return f"600.{os.getpid()}{next(_serial):03d}"


def sleepers(token: str) -> list[int]:
    """Pids of live (not zombie) `sleep <token>` processes, in any namespace."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")[:-1]
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and argv[-2:] == [b"sleep", token.encode()] and len(argv) == 2:
            found.append(int(entry.name))
    return found


def wait_until(condition, timeout_s: float = 10.0, what: str = "condition") -> None:
    """Wait for `condition()` to hold (a bound for a hung test, not a speed target)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not reached within {timeout_s}s"
        time.sleep(0.02)


def kill_sleepers(token: str) -> None:
    """End the test's own leftover sleepers (so a failed test leaves nothing behind)."""
    for pid in sleepers(token):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
