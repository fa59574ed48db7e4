"""Running programs (never through a shell) and keeping a transcript of every one.

Every command the lab runs, in the root namespace or inside a node, goes through a
CommandRunner, which records where it ran, the argument list, the exit status, the
output and how long it took. A failed build command raises BuildError carrying all of it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError


@dataclass(frozen=True)
class CommandResult:
    """What one finished command did."""

    where: str
    argv: tuple[str, ...]
    exit_code: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False

    @property
    def output(self) -> str:
        """stdout and stderr together, as a person at a terminal would have seen them."""
        return self.stdout + (
            ("\n" if self.stdout and not self.stdout.endswith("\n") else "") + self.stderr if self.stderr else ""
        )

    def describe(self) -> str:
        """The command and what it printed, for error messages and the transcript."""
        status = "timed out" if self.timed_out else f"exit {self.exit_code}"
        text = self.output.rstrip()
        return f"[{self.where}] $ {shlex.join(self.argv)}  ({status}, {self.duration_s:.2f}s)" + (
            "\n" + "\n".join("    " + line for line in text.splitlines()) if text else ""
        )


class Transcript:
    """An append-only log of every command and its output (transcript.log of a run)."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, text: str) -> None:
        """Append a block of text with a timestamp."""
        if self._file is None:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime())
        with self._lock:
            self._file.write(f"{stamp} {text.rstrip()}\n")
            self._file.flush()

    def close(self) -> None:
        """Close the log file."""
        if self._file:
            self._file.close()
            self._file = None


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class CommandRunner:
    """Runs argument lists in the root namespace or in a node, logging each to the transcript.

    `spawn` is how a command is started: subprocess.Popen for the root namespace, a node's
    popen for a node.
    """

    def __init__(
        self,
        where: str,
        transcript: Transcript,
        env: dict[str, str] | None = None,
        spawn: Callable[..., subprocess.Popen] | None = None,
    ):
        self.where = where
        self.transcript = transcript
        self.env = env
        self._spawn = spawn or (lambda argv, **kw: subprocess.Popen(argv, start_new_session=True, **kw))

    def start(
        self, argv: Sequence[str], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
    ) -> subprocess.Popen:
        """Start a long-running program (its own process group) and return it."""
        self.transcript.write(f"[{self.where}] $ {shlex.join(argv)} &")
        return self._spawn(list(argv), stdin=stdin, stdout=stdout, stderr=stderr, env=self.env)

    def run(
        self, argv: Sequence[str], timeout: float = 60, check: bool = True, input: bytes | None = None
    ) -> CommandResult:
        """Run to completion (killed at `timeout`); raise BuildError on failure when `check`."""
        started = time.monotonic()
        process = self._spawn(
            list(argv),
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        timed_out = False
        try:
            out, err = process.communicate(input=input, timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
            out, err = process.communicate()
        except BaseException:
            _kill_group(process)
            process.wait()
            raise
        result = CommandResult(
            self.where,
            tuple(argv),
            None if timed_out else process.returncode,
            out.decode(errors="replace"),
            err.decode(errors="replace"),
            time.monotonic() - started,
            timed_out,
        )
        self.transcript.write(result.describe())
        if check and (timed_out or result.exit_code != 0):
            raise BuildError(f"command failed:\n{result.describe()}")
        return result
