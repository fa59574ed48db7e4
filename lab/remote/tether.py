"""Run a command on the lab machine for exactly as long as its SSH session lasts.

    python3 tether.py [--work DIR] PROGRAM [ARG...]

starts PROGRAM (in the project folder this file belongs to, in a session of its own),
relays its stdout and stderr, and exits with its status. With `--work DIR` (the command's
folder on the lab machine, made by the SSH user) it holds the flock of DIR/lock for as long
as it runs, so a folder whose lock is free belongs to a command that is over (runs.py), and
at the end it gives everything in DIR to DIR's owner, so that user can read and remove what
the command (as root) wrote there. When this process's stdin
reaches end-of-file — the SSH client sent EOF (a local Ctrl-C) or the connection is
gone — or when this process is signalled, PROGRAM gets one SIGINT: `lab run` then tears
its lab down as on Ctrl-C and records `complete: false`. Output that can no longer be
delivered is dropped, so a closed connection never breaks that teardown.

Standard library only: it runs before anything else is known about the machine.
"""

from __future__ import annotations

import fcntl
import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
STOP_WAIT_S = 300  # teardown of a large lab; past this the run is killed (its journal lets the next run clean up)
DRAIN_S = 5  # output still in flight once the program has exited
LOCK = "lock"  # in the --work folder; runs.py reads the same name


class Tether:
    """One tethered program and the relay of its output."""

    def __init__(self, argv: list[str]):
        self.child = subprocess.Popen(
            argv,
            cwd=PROJECT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.sinks = {self.child.stdout.fileno(): sys.stdout.fileno(), self.child.stderr.fileno(): sys.stderr.fileno()}
        self.broken: set[int] = set()
        self.stopped = False
        self.kill_at: float | None = None

    def stop(self, *_signal_args) -> None:
        """Ask the program to stop, once: a second SIGINT would interrupt its teardown."""
        if not self.stopped:
            self.stopped = True
            self.kill_at = time.monotonic() + STOP_WAIT_S
            self.child.send_signal(signal.SIGINT)

    def relay(self) -> int:
        """Relay output until the program has exited; return its exit status."""
        selector = selectors.DefaultSelector()
        selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "stdin")
        selector.register(os.pidfd_open(self.child.pid), selectors.EVENT_READ, "exit")
        for source in self.sinks:
            selector.register(source, selectors.EVENT_READ, "output")
        drain_deadline = None
        while any(key.data == "output" for key in selector.get_map().values()):
            now = time.monotonic()
            if drain_deadline is not None and now >= drain_deadline:
                break
            if self.kill_at is not None and now >= self.kill_at:
                self.child.kill()
                self.kill_at = None
            deadline = drain_deadline or self.kill_at
            for key, _ in selector.select(None if deadline is None else deadline - now):
                if key.data == "stdin":
                    if not os.read(key.fd, 4096):
                        selector.unregister(key.fd)
                        self.stop()
                elif key.data == "exit":
                    selector.unregister(key.fd)
                    os.close(key.fd)
                    drain_deadline = time.monotonic() + DRAIN_S
                else:
                    self._forward(selector, key.fd)
        return self.child.wait()

    def _forward(self, selector: selectors.BaseSelector, source: int) -> None:
        data = os.read(source, 65536)
        if not data:
            selector.unregister(source)
            return
        sink = self.sinks[source]
        if sink in self.broken:
            return
        try:
            while data:
                data = data[os.write(sink, data) :]
        except OSError:  # the session is gone: keep draining so the program never blocks on a full pipe
            self.broken.add(sink)


def hold(work: Path) -> int:
    """Lock `work`/lock for this process's lifetime (the file is locked before it gets its name, so
    it is never seen unlocked while the command runs); the descriptor."""
    partial = work / f".{LOCK}-{os.getpid()}"
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    owner = work.stat()
    os.fchown(fd, owner.st_uid, owner.st_gid)
    os.replace(partial, work / LOCK)
    return fd


def hand_back(work: Path) -> None:
    """Give everything in `work` to the owner of `work` (symbolic links themselves, not what they lead to)."""
    owner = work.stat()
    for folder, folders, files in os.walk(work):
        for name in (*folders, *files):
            try:
                os.lchown(os.path.join(folder, name), owner.st_uid, owner.st_gid)
            except OSError:  # gone meanwhile
                pass


def main(argv: list[str]) -> int:
    """Run `argv` tethered to stdin; the exit status is the program's (128+N if killed by signal N)."""
    work = None
    if argv[:1] == ["--work"] and len(argv) > 1:
        work, argv = Path(argv[1]), argv[2:]
    if not argv:
        sys.stderr.write("usage: tether.py [--work DIR] PROGRAM [ARG...]\n")
        return 2
    if work is not None:
        hold(work)
    tether = Tether(argv)
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, tether.stop)
    status = tether.relay()
    if work is not None:
        hand_back(work)
    return status if status >= 0 else 128 - status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
