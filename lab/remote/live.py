"""The live lab commands with `--on HOST`: `up`, `status`, `shell`, `exec`, `capture`, `steps`, `down` there.

The lab machine holds the live lab; this machine drives it over SSH, with the lab installed
there at this version (install.py), as `run --on` does.

- `up` sends the scenario and its files to a folder of the lab's own, `<home>/labs/<id>/`
  (`scenario/`, and `results/` for the lab's results folder). It outlives the SSH session, as
  the lab does (its keeper is detached there). A `lab up` whose session was lost meanwhile is
  stopped there (tether.py: it tears its lab down); the next `up --on` brings home what it left.
- `status`, `steps`, `down`, `capture` and `exec` (when this is no terminal) run there tethered
  to the SSH session, their output relayed as it comes, their exit status the remote one; paths
  on the lab machine are marked `(on HOST)`. `capture`'s bytes pass unchanged (pcap with `-w -`);
  Ctrl-C here stops tcpdump there.
- `shell`, and `exec` from a terminal, get a pseudo-terminal there of this terminal's size and
  TERM; this terminal is raw meanwhile, so keys (Ctrl-C too) reach the program there, and a
  resized window is passed on.
- `down` brings each lab's results folder into the local results folder (as `run --on` does)
  and removes the lab's folder there.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import select
import shlex
import signal
import sys
import termios
import tty
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import paramiko

from ..console import load_or_report, out
from ..errors import ExitStatus
from ..software import SOFTWARE, home_option
from .command import install_relays, say, target_of
from .connection import CONNECT_TIMEOUT_S, Remote, RemoteError, connect
from .install import LABS, Installation, install, project_files
from .runs import RESULTS, VERSION, bring_home, claim
from .scenario_files import files_to_send
from .tether import LOCK

SCENARIO = "scenario"  # in a lab's folder: the scenario and its files
UP = "up"  # in a lab's folder: its `lab up` succeeded (the lab lives until `lab down`)
STOP_WAIT_S = 600  # for the remote command to end after a Ctrl-C here (a lab's teardown included)
DOWN_LINE = re.compile(rb"^lab (\S+) is down; its results: (\S+)$")


def main(args) -> int:
    """Run the live lab command `args.command` on the machine named by `args.on`."""
    target = target_of(args)
    files = []
    if args.command == "up":  # checked here before anything travels
        scenario = load_or_report(args.scenario)
        if scenario is None:
            return ExitStatus.INVALID
        files = files_to_send(args.scenario, scenario)
    try:
        with connect(target, args.identity, args.accept_new_host_key) as remote:
            installation = install(remote, project_files(), say, install_relays(remote))
            there = _There(remote, installation)
            if args.command == "up":
                return there.up(args, files)
            if args.command == "down":
                return there.down(args)
            if args.command in ("shell", "exec"):
                return there.interactive(args)
            return there.relayed(args)
    except RemoteError as exc:
        say(f"cannot use the lab machine: {exc}")
        return ExitStatus.UNFIT
    except KeyboardInterrupt:
        say(f"interrupted: disconnected from {args.on}; a live lab there stays up until `lab down LAB --on HOST`")
        return ExitStatus.INTERRUPTED


class _There:
    """The lab machine and the lab installed there, for one command."""

    def __init__(self, remote: Remote, installation: Installation):
        self.remote = remote
        self.installation = installation
        self.labs = posixpath.join(installation.home, LABS)
        # a path on the lab machine, in the output: up to a space, quote or closing bracket
        self.paths = re.compile(re.escape(installation.home.encode()) + rb"[^\s'\")\],;]*")

    def up(self, args, files) -> int:
        """`lab up` there from a new lab folder; its results come home only if it failed (else at `down`)."""
        self._bring_home_lost_ups(args.results)
        folder = posixpath.join(self.labs, uuid.uuid4().hex[:12])
        self.remote.upload(files, posixpath.join(folder, SCENARIO))
        self.remote.makedirs(posixpath.join(folder, RESULTS))
        with self.remote.sftp.open(posixpath.join(folder, VERSION), "w") as file:  # the version its keeper runs
            file.write(posixpath.basename(self.installation.root))
        homes = [  # folders on the lab machine
            f"{home_option(s)[0]}={getattr(args, f'{s.name}_home')}"
            for s in SOFTWARE
            if getattr(args, f"{s.name}_home", None)
        ]
        lab_args = ["up", posixpath.join(folder, SCENARIO, args.scenario.name), "--results"]
        lab_args += [posixpath.join(folder, RESULTS), *homes, *(["--steps"] if args.steps else [])]
        lab_args += [
            *(["--variant", args.variant] if args.variant else []),
            *(["--name", args.name] if args.name else []),
        ]
        status = self._relay(self.installation.lab(folder, *lab_args))
        if status == ExitStatus.OK:
            # from here on a live lab's; another `up --on` sweeping just before would take it for a lost one
            with self.remote.sftp.open(posixpath.join(folder, UP), "w") as file:
                file.write("its lab is up\n")
            out.print(
                f"from here: the same commands with --on {args.on}; `lab down LAB --on {args.on}` also brings "
                f"its results folder home",
                markup=False,
            )
            return status
        with claim(self.remote, folder) as held:  # the tether has ended: its lock is free
            if held is not None:
                for local, _ in bring_home(self.remote, folder, args.results, self.installation.as_root).values():
                    say(f"the results folder of the lab that did not come up was copied to {local}")
        self._tidy()
        return status

    def _bring_home_lost_ups(self, results_root: Path) -> None:
        """Lab folders of `up --on` commands that ended without bringing their lab up (their client was
        gone): their results come home and the folders go. A folder whose `up` still runs is left alone."""
        if not self.remote.exists(self.labs):
            return
        for name in self.remote.sftp.listdir(self.labs):
            folder = posixpath.join(self.labs, name)
            if self.remote.exists(posixpath.join(folder, UP)) or not self.remote.exists(posixpath.join(folder, LOCK)):
                continue  # a live lab, or one whose `up` is still being sent
            with claim(self.remote, folder) as held:
                if held is not None:
                    for local, _ in bring_home(self.remote, folder, results_root, self.installation.as_root).values():
                        say(
                            f"{self.remote.name}: results of a `lab up` whose connection was lost, brought home to {local}"
                        )

    def down(self, args) -> int:
        """`lab down` there; each lab that went down brings its results folder home and loses its folder there."""
        held: list[bytes] = []
        status = self._relay(
            self._tethered("down", *([args.lab] if args.lab else []), *(["--all"] if args.all else [])), held
        )
        for line in held:
            match = DOWN_LINE.match(line)
            folder = posixpath.dirname(posixpath.dirname(match.group(2).decode())) if match else ""
            if match and posixpath.dirname(folder) == self.labs:
                with claim(self.remote, folder) as lock:
                    if lock is not None:
                        for remote_run, (local, _) in bring_home(
                            self.remote, folder, args.results, self.installation.as_root
                        ).items():
                            line = line.replace(remote_run.encode(), str(local).encode())
            _write(sys.stdout.buffer, self._marked(line) + b"\n")
        self._tidy()
        return status

    def _tidy(self) -> None:
        """Remove the folder of lab folders once it is empty (so nothing of the labs is left there)."""
        with contextlib.suppress(OSError):  # not empty, or gone
            self.remote.sftp.rmdir(self.labs)

    def relayed(self, args) -> int:
        """`status`, `steps`, `capture` and `exec` (no terminal here) there, relayed."""
        if args.command in ("status", "ls"):
            lab_args = ["status", *([args.lab] if args.lab else [])]
        elif args.command == "steps":
            lab_args = ["steps", args.lab, *args.names]
        else:  # capture
            lab_args = ["capture", args.lab, args.where, *args.filter, *(["-w", args.write] if args.write else [])]
        raw = args.command == "capture" and args.write == "-"
        return self._relay(self._tethered(*lab_args), raw=raw)

    def interactive(self, args) -> int:
        """`shell`, or `exec`: with a pseudo-terminal there when this is a terminal, else relayed."""
        if args.command == "shell":
            return _terminal(self.remote, [*self.installation.root_python, "-m", "lab", "shell", args.lab, args.node])
        lab_args = ["exec", args.lab, args.node, "--", *(args.argv[1:] if args.argv[:1] == ["--"] else args.argv)]
        if sys.stdin.isatty() and sys.stdout.isatty():
            return _terminal(self.remote, [*self.installation.root_python, "-m", "lab", *lab_args])
        return self._relay(self._tethered(*lab_args), raw=True)

    def _tethered(self, *lab_args: str) -> list[str]:
        """`python -m lab ARGS` there as root, stopped when the SSH session ends (tether.py)."""
        return [
            *self.installation.root_python,
            self.installation.tether,
            self.installation.python,
            "-m",
            "lab",
            *lab_args,
        ]

    def _marked(self, line: bytes) -> bytes:
        return self.paths.sub(lambda found: found.group(0) + f" (on {self.remote.name})".encode(), line)

    def _relay(self, argv: list[str], held: list[bytes] | None = None, raw: bool = False) -> int:
        """Run `argv` there with its output relayed (stdout unchanged if `raw`, else line by line with
        remote paths marked; kept in `held` instead when given); Ctrl-C here stops it there."""
        stderr = _Lines(sys.stderr.buffer, self._marked)
        stdout: Callable[[bytes], None] = (
            (lambda data: _write(sys.stdout.buffer, data)) if raw else _Lines(sys.stdout.buffer, self._marked, held)
        )
        execution = self.remote.start(argv, stdout, stderr)
        try:
            status: int | None = execution.wait()
        except KeyboardInterrupt:
            execution.close_stdin()  # its tether stops it (SIGINT), as Ctrl-C there would
            status = execution.wait(STOP_WAIT_S)
            if status is None:
                raise RemoteError(f"{self.remote.name}: the command did not stop within {STOP_WAIT_S} s") from None
        for relay in (stdout, stderr):
            if isinstance(relay, _Lines):
                relay.flush()
        if status is None or status == -1:  # no status: paramiko saw the channel close without one
            raise RemoteError(f"{self.remote.name}: the connection was lost, or the command was killed there")
        return status


class _Lines:
    """Relays a stream line by line through `change`; into `held` instead of `stream` when given."""

    def __init__(self, stream: BinaryIO, change: Callable[[bytes], bytes], held: list[bytes] | None = None):
        self.stream = stream
        self.change = change
        self.held = held
        self.pending = b""

    def __call__(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            if self.held is not None:
                self.held.append(line)
            else:
                _write(self.stream, self.change(line) + b"\n")

    def flush(self) -> None:
        """Relay a last line that had no newline."""
        if self.pending:
            self(b"\n")


def _write(stream: BinaryIO, data: bytes) -> None:
    stream.write(data)
    stream.flush()


def _terminal(remote: Remote, argv: list[str]) -> int:
    """Run `argv` there on a pseudo-terminal of this terminal's size and TERM, with this terminal raw
    (keys, Ctrl-C included, go there as typed) and window changes passed on; its exit status."""
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    terminal = os.isatty(stdin)
    size = os.get_terminal_size(stdin) if terminal else os.terminal_size((80, 24))
    channel = remote.client.get_transport().open_session(timeout=CONNECT_TIMEOUT_S)
    channel.get_pty(term=os.environ.get("TERM", "xterm"), width=size.columns, height=size.lines)
    channel.exec_command(shlex.join(argv))
    saved = termios.tcgetattr(stdin) if terminal else None
    previous = signal.getsignal(signal.SIGWINCH)
    if terminal:
        signal.signal(signal.SIGWINCH, lambda *_: channel.resize_pty(*os.get_terminal_size(stdin)))
        tty.setraw(stdin)
    try:
        _pump(channel, stdin, stdout)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)
    status = channel.recv_exit_status()
    if status == -1:
        raise RemoteError(f"{remote.name}: the connection was lost, or the program was killed there")
    return status


def _pump(channel: paramiko.Channel, stdin: int, stdout: int) -> None:
    """Copy `stdin` to the channel and the channel to `stdout` until the program there has ended."""
    sources: list = [channel, stdin]
    while True:
        ready, _, _ = select.select(sources, [], [])
        if channel in ready:
            data = channel.recv(65536)
            if not data:
                return
            while data:
                data = data[os.write(stdout, data) :]
        if stdin in ready:
            data = os.read(stdin, 4096)
            if data:
                channel.sendall(data)
            else:  # nothing more to type
                sources.remove(stdin)
                channel.shutdown_write()
