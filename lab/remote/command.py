"""`run`, `validate` and `clean` with `--on HOST`: the same command, on the lab machine.

The lab is installed there at this very version (install.py); scenarios travel with the
files they refer to; the command runs as root, tethered to the SSH session (tether.py),
and its output shows here as it comes. A run's results folder is copied back into the
local results folder. The exit status is the remote command's.
"""

from __future__ import annotations

import posixpath
import sys
import uuid
from pathlib import Path

from rich.markup import escape

from ..console import RESULTS_PREFIX, err, load_or_report, out, results_line
from ..errors import ExitStatus, InvalidInput
from ..results.record import create_unique_dir
from ..software import SOFTWARE, home_option
from .connection import LocalFile, Remote, RemoteError, Target, connect
from .install import Installation, install
from .scenario_files import referenced_files

STOP_WAIT_S = 600  # for the remote teardown after a Ctrl-C here


def main(args) -> int:
    """Run `args.command` on the machine named by `args.on`."""
    try:
        target = Target.parse(args.on)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if args.identity and not args.identity.is_file():
        raise InvalidInput(f"--identity {args.identity}: no such file")
    scenarios = [args.scenario] if args.command == "run" else getattr(args, "scenarios", [])
    loaded = [(path, load_or_report(path)) for path in scenarios]  # checked here before anything travels
    if any(scenario is None for _, scenario in loaded):
        return ExitStatus.INVALID
    uploads = [(path, _scenario_files(path, scenario)) for path, scenario in loaded]  # refused before connecting
    try:
        with connect(target, args.identity, args.accept_new_host_key) as remote:
            installation = install(remote, say, _relay_to(sys.stderr))
            return _run_there(remote, installation, args, uploads)
    except RemoteError as exc:
        err.print(f"[red]cannot use the lab machine:[/red] {escape(str(exc))}")
        return ExitStatus.UNFIT
    except KeyboardInterrupt:
        err.print(
            f"interrupted: disconnected from {escape(args.on)}; a run there stops and tears its lab down "
            f"as its SSH session ends"
        )
        return ExitStatus.INTERRUPTED


def say(text: str) -> None:
    """Progress of the remote machinery, on stderr."""
    err.print(escape(text))


def _scenario_files(path: Path, scenario) -> list[LocalFile]:
    """The scenario and the files it brings, read now; InvalidInput for one leading outside its folder."""
    base = path.parent.resolve()
    files = []
    for name in [path.name, *referenced_files(path, scenario)]:
        real = (path.parent / name).resolve()
        if not real.is_relative_to(base):
            raise InvalidInput(
                f"{path.parent / name}: leads outside the scenario's folder (to {real}); --on sends only files "
                f"inside {path.parent}: copy the file there instead of linking to it"
            )
        files.append(LocalFile.read(path.parent, name))
    return files


def _run_there(remote: Remote, installation: Installation, args, uploads) -> int:
    """Send the scenarios, run the command, bring results back; the remote exit status."""
    work = posixpath.join(posixpath.dirname(installation.root), "runs", uuid.uuid4().hex[:12])
    remote_paths = []
    for index, (path, files) in enumerate(uploads):
        folder = posixpath.join(work, f"scenario-{index}")
        remote.upload(files, folder)
        remote_paths.append(posixpath.join(folder, path.name))
    results = posixpath.join(work, "results")
    if args.command == "run":
        homes = [
            f"{home_option(s)[0]}={getattr(args, f'{s.name}_home')}"
            for s in SOFTWARE
            if getattr(args, f"{s.name}_home", None)
        ]  # folders on the lab machine
        lab_args = ["run", *remote_paths, "--results", results, *(f"--variant={v}" for v in args.variant or ()), *homes]
        lab_args.append(f"--repeat={args.repeat}")
        if args.jobs:  # else the lab machine's own default
            lab_args.append(f"--jobs={args.jobs}")
    elif args.command == "validate":
        lab_args = ["validate", *remote_paths]
    else:
        lab_args = ["clean", *(["--run", args.run] if args.run else [])]
    stdout = _StdoutRelay()
    status = _execute(remote, installation.lab(*lab_args), stdout)
    if args.command == "run" and remote.exists(results):
        fetched = {
            name: _fetch(remote, posixpath.join(results, name), args.results)
            for name in sorted(remote.sftp.listdir(results))
        }
        if stdout.results and posixpath.basename(stdout.results) in fetched:
            out.print(results_line(fetched[posixpath.basename(stdout.results)]), markup=False)
        else:
            for local in fetched.values():
                say(f"the run's results folder (incomplete) was copied to {local}")
    remote.capture([*installation.as_root, "rm", "-rf", "--", work])
    return status


def _execute(remote: Remote, argv: list[str], stdout: _StdoutRelay) -> int:
    """Run `argv` there with its output relayed; Ctrl-C here stops it there, teardown included."""
    execution = remote.start(argv, stdout, _relay_to(sys.stderr))
    try:
        status = execution.wait()
    except KeyboardInterrupt:
        say(
            f"interrupted: stopping the run on {remote.name}; its lab is torn down there (Ctrl-C again to stop waiting)"
        )
        execution.close_stdin()
        status = execution.wait(STOP_WAIT_S)
        if status is None:
            raise RemoteError(
                f"{remote.name}: the run did not stop within {STOP_WAIT_S} s; it is killed as the "
                f"SSH session ends, and `python -m lab clean --on ...` removes what it left"
            ) from None
    stdout.flush()
    if status == -1 and remote.connected:  # paramiko reports no status for a command killed by a signal
        raise RemoteError(
            f"{remote.name}: the lab was killed there (by a signal); every later run cleans up what a dead run left"
        )
    if status == -1:
        raise RemoteError(
            f"{remote.name}: the connection was lost; a run there stops and tears down as its "
            f"session ends, and every later run cleans up what a dead run left"
        )
    return status


def _fetch(remote: Remote, source: str, results_root: Path) -> Path:
    """Copy a remote run folder into `results_root` under the same name (made unique); where it went."""
    local = create_unique_dir(results_root, posixpath.basename(source))
    remote.download(source, local)
    return local


def _relay_to(stream):
    """A sink writing bytes through to a local stream as they arrive."""

    def write(data: bytes) -> None:
        stream.buffer.write(data)
        stream.flush()

    return write


class _StdoutRelay:
    """Relays remote stdout line by line, keeping back the `results: <remote folder>` line."""

    def __init__(self):
        self.pending = b""
        self.results: str | None = None

    def __call__(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            if line.startswith(RESULTS_PREFIX.encode()):
                self.results = line[len(RESULTS_PREFIX) :].decode(errors="replace").strip()
            else:
                sys.stdout.buffer.write(line + b"\n")
        sys.stdout.flush()

    def flush(self) -> None:
        """Write a last line that had no newline."""
        if self.pending:
            self(b"\n")
