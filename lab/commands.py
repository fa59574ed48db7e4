"""Running programs (never through a shell) and keeping a transcript of every one.

Every command the lab runs, in the root namespace or inside a node, goes through a
CommandRunner, which records where it ran, the argument list, the exit status, the
output and how long it took. A failed build command raises BuildError carrying all of it.

A command is bounded by its timeout whatever it starts: its output is read (poll on the
pipes and a pidfd) until the program exits or the timeout passes, its process group is
killed either way, and output still held open by a child that left the group (a
daemon, `setsid -f ...`) is read for at most GRACE_S more.
"""

from __future__ import annotations

import os
import select
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

GRACE_S = 0.2  # after the program ended, how long output its escaped children still hold open is read
READ_CHUNK = 1 << 16


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
    """SIGKILL `process` and its process group (its own: it leads a session); call before reaping it.

    The process itself is signalled too: just started, it may not have made its session yet.
    """
    if process.returncode is not None:  # reaped: its pid may be another process's by now
        return
    for kill in (os.kill, os.killpg):  # not Popen.kill, which would reap it first
        try:
            kill(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _drain(fd: int, into: list[bytes]) -> None:
    """Read what a pipe holds right now, without waiting for more."""
    os.set_blocking(fd, False)
    try:
        while data := os.read(fd, READ_CHUNK):
            into.append(data)
    except BlockingIOError:
        pass


def _collect(process: subprocess.Popen, input: bytes | None, deadline: float) -> tuple[bytes, bytes, bool]:
    """Feed `input`, read stdout and stderr until the program ends or `deadline` passes; kill its
    process group either way. Return (stdout, stderr, timed out)."""
    assert process.stdout is not None and process.stderr is not None
    out_fd, err_fd = process.stdout.fileno(), process.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    pending = memoryview(input or b"")
    pidfd = os.pidfd_open(process.pid)
    timed_out = exited = False
    stop_at = deadline
    with selectors.DefaultSelector() as selector:
        selector.register(pidfd, selectors.EVENT_READ)
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        if process.stdin is not None:
            if pending:
                selector.register(process.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                process.stdin.close()
        try:
            while not exited or any(fd in chunks for fd in selector.get_map()):
                now = time.monotonic()
                if now >= stop_at:
                    if exited or timed_out:  # a child outside the group holds the pipes, or the kill did not land
                        break
                    timed_out = True
                    _kill_group(process)
                    stop_at = now + GRACE_S
                    continue
                for key, _ in selector.select(stop_at - now):
                    fd = key.fd
                    if fd == pidfd:  # the program ended; its pid stays reserved until it is reaped below
                        selector.unregister(pidfd)
                        exited = True
                        _kill_group(process)  # what it left running in its group (`sleep 60 &`)
                        stop_at = time.monotonic() + GRACE_S
                    elif fd in chunks:
                        data = os.read(fd, READ_CHUNK)
                        if data:
                            chunks[fd].append(data)
                        else:
                            selector.unregister(fd)
                    else:
                        try:
                            written = os.write(fd, pending[: select.PIPE_BUF])
                        except BrokenPipeError:
                            written = len(pending)
                        pending = pending[written:]
                        if not pending:
                            selector.unregister(fd)
                            process.stdin.close()  # type: ignore[union-attr]
        finally:
            os.close(pidfd)
    for fd, into in chunks.items():
        _drain(fd, into)
    if process.stdin is not None and not process.stdin.closed:
        process.stdin.close()
    process.stdout.close()
    process.stderr.close()
    _kill_group(process)
    process.wait()
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), timed_out


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
        try:
            out, err, timed_out = _collect(process, input, started + timeout)
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
