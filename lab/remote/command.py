"""`run`, `validate`, `clean` and `fetch` with `--on HOST`: the same command, on the lab machine.

The lab is installed there at this very version (install.py); scenarios travel with the
files they refer to; the command runs as root, tethered to the SSH session (tether.py),
and its output shows here as it comes, every path in it the local one (the scenario as
typed, the local copy of a results folder). A run's results folder is copied back into the
local results folder. What runs whose client was gone left there comes home on the next
`run` or `clean`, or with `fetch` (runs.py). The exit status is the remote command's.
"""

from __future__ import annotations

import posixpath
import sys
from pathlib import Path
from typing import TextIO

from rich.markup import escape

from ..console import RESULTS_PREFIX, err, load_or_report, out, results_line
from ..errors import ExitStatus, InvalidInput
from ..software import SOFTWARE, home_option
from .connection import Remote, RemoteError, Target, connect
from .install import Installation, install, project_files, prune, remote_home, root_prefix, uninstall
from .runs import RESULTS, bring_home, bring_home_dead, claim, live_versions, new_folder
from .scenario_files import files_to_send

STOP_WAIT_S = 600  # for the remote teardown after a Ctrl-C here


def main(args) -> int:
    """Run `args.command` on the machine named by `args.on`."""
    target = target_of(args)
    scenarios = [args.scenario] if args.command == "run" else getattr(args, "scenarios", [])
    loaded = [(path, load_or_report(path)) for path in scenarios]  # checked here before anything travels
    if any(scenario is None for _, scenario in loaded):
        return ExitStatus.INVALID
    uploads = [(path, files_to_send(path, scenario)) for path, scenario in loaded]  # refused before connecting
    results_root = getattr(args, "results", None)  # where results come home (validate brings none)
    try:
        with connect(target, args.identity, args.accept_new_host_key) as remote:
            if args.command == "fetch":
                return _fetch_dead(remote, results_root)
            installation = install(remote, project_files(), say, install_relays(remote))
            if args.command != "validate":
                for local, complete in bring_home_dead(remote, installation.home, results_root, installation.as_root):
                    state = "complete" if complete else "incomplete: its connection was lost"
                    say(f"{remote.name}: results of an earlier run there ({state}) brought home to {local}")
            prune(remote, installation, live_versions(remote, installation.home), say)
            status = _run_there(remote, installation, args, uploads, results_root)
            if args.command == "clean" and args.remote_cache:
                out.print(uninstall(remote, installation, live_versions(remote, installation.home), say), markup=False)
            return status
    except RemoteError as exc:
        err.print(f"[red]cannot use the lab machine:[/red] {escape(str(exc))}")
        return ExitStatus.UNFIT
    except KeyboardInterrupt:
        err.print(
            f"interrupted: disconnected from {escape(args.on)}; a run there stops and tears its lab down "
            f"as its SSH session ends, and the next contact brings its results home"
        )
        return ExitStatus.INTERRUPTED


def target_of(args) -> Target:
    """The lab machine `--on` names, with `--identity` checked; InvalidInput (2) otherwise."""
    try:
        target = Target.parse(args.on)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    if args.identity and not args.identity.is_file():
        raise InvalidInput(f"--identity {args.identity}: no such file")
    return target


def say(text: str) -> None:
    """Progress of the remote machinery, on stderr."""
    err.print(escape(text))


def _run_there(remote: Remote, installation: Installation, args, uploads, results_root: Path) -> int:
    """Send the scenarios, run the command, bring results back; the remote exit status."""
    work = new_folder(remote, installation)
    local_paths = {}
    remote_paths = []
    for index, (path, files) in enumerate(uploads):
        folder = posixpath.join(work, f"scenario-{index}")
        remote.upload(files, folder)
        remote_paths.append(posixpath.join(folder, path.name))
        local_paths[remote_paths[-1]] = str(path)  # the scenario as typed
        local_paths[folder + "/"] = f"{path.parent}/"  # the files beside it
    results = posixpath.join(work, RESULTS)
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
    held: list[tuple[TextIO, bytes]] = []  # lines naming the remote results folder, until it is copied home
    relays = [_LineRelay(stream, local_paths, (results, held)) for stream in (sys.stdout, sys.stderr)]
    status = _execute(remote, installation.lab(work, *lab_args), relays)
    with claim(remote, work) as lock:
        if lock is None:  # another client saw the command end first and is bringing its results home
            say(f"{remote.name}: another client is copying this command's results from {work}")
            return status
        fetched = bring_home(remote, work, results_root, installation.as_root)
    shown = False
    for stream, line in held:
        for remote_run in sorted(fetched, key=len, reverse=True):  # a name is a prefix of its -2 sibling
            line = line.replace(remote_run.encode(), str(fetched[remote_run][0]).encode())
        shown |= stream is sys.stdout and line.startswith(RESULTS_PREFIX.encode())
        _write(stream, line + b"\n")
    if not shown:
        for local, _ in fetched.values():
            say(f"the run's results folder (incomplete) was copied to {local}")
    return status


def _fetch_dead(remote: Remote, results_root: Path) -> int:
    """`fetch --on`: bring home what dead runs left; each local folder on a `results:` line."""
    brought = bring_home_dead(remote, remote_home(remote), results_root, root_prefix(remote))
    for local, complete in brought:
        if not complete:
            say(f"{remote.name}: a run whose connection was lost (incomplete):")
        out.print(results_line(local), markup=False)
    if not brought:
        out.print(f"{remote.name}: no results of a run whose connection was lost", markup=False)
    return ExitStatus.OK


def _execute(remote: Remote, argv: list[str], relays: list[_LineRelay]) -> int:
    """Run `argv` there with its output relayed; Ctrl-C here stops it there, teardown included."""
    execution = remote.start(argv, *relays)
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
                f"SSH session ends, and the next `run`, `clean` or `fetch` with --on brings its results home"
            ) from None
    for relay in relays:
        relay.flush()
    if status == -1 and remote.connected:  # paramiko reports no status for a command killed by a signal
        raise RemoteError(
            f"{remote.name}: the lab was killed there (by a signal); every later run cleans up what a dead run left"
        )
    if status == -1:
        raise RemoteError(
            f"{remote.name}: the connection was lost; a run there stops and tears down as its session ends, "
            f"and the next `run`, `clean` or `fetch` with --on brings its results home"
        )
    return status


def install_relays(remote: Remote) -> tuple[_LineRelay, _LineRelay]:
    """Relays of setup.sh's and pip's output, each line saying it is about the lab machine."""
    return _LineRelay(sys.stderr, prefix=f"{remote.name}: "), _LineRelay(sys.stderr, prefix=f"{remote.name}: ")


def _write(stream: TextIO, data: bytes) -> None:
    stream.buffer.write(data)
    stream.flush()


class _LineRelay:
    """Relays a remote stream line by line, every remote path in `paths` replaced by its local one;
    lines naming the remote folder `hold[0]` are kept back in `hold[1]` (until that folder is copied
    home, when its local name is known). `prefix` starts every line."""

    def __init__(
        self,
        stream: TextIO,
        paths: dict[str, str] | None = None,
        hold: tuple[str, list[tuple[TextIO, bytes]]] | None = None,
        prefix: str = "",
    ):
        self.stream = stream
        self.paths = sorted(((k.encode(), v.encode()) for k, v in (paths or {}).items()), key=lambda kv: -len(kv[0]))
        self.hold = (hold[0].encode(), hold[1]) if hold else None
        self.prefix = prefix.encode()
        self.pending = b""

    def __call__(self, data: bytes) -> None:
        *lines, self.pending = (self.pending + data).split(b"\n")
        for line in lines:
            for remote_path, local_path in self.paths:
                line = line.replace(remote_path, local_path)
            if self.hold and self.hold[0] in line:
                self.hold[1].append((self.stream, line))
            else:
                _write(self.stream, self.prefix + line + b"\n")

    def flush(self) -> None:
        """Relay a last line that had no newline."""
        if self.pending:
            self(b"\n")
