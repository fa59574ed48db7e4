"""The command folders on the lab machine, `<home>/runs/<id>/`, and bringing home what dead runs left.

Each command sent with `--on` gets a folder, made by the SSH user: its scenarios, the name
of its version, and `results/`. Its tether (tether.py) holds the flock of the folder's `lock`
while the command runs. A folder whose lock is free belongs to a command that is over: when
its client is gone (the connection was lost), the next contact (`fetch`, `run` or `clean`
with `--on`) takes the lock, copies its results into the local results folder (results.json
says `complete: false` for a run that was stopped) and removes the folder. The lock stays
taken while that happens (by `flock ... cat` in an SSH session of this client), so two
clients never take the same folder and a live command's folder is never taken.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paramiko

from ..results.record import create_unique_dir
from .connection import Remote
from .install import ABANDONED_S, LABS, RUNS, Installation
from .tether import LOCK

VERSION = "version"  # in a command folder: the name of the version it runs
RESULTS = "results"


def new_folder(remote: Remote, installation: Installation) -> str:
    """A new command folder for `installation` (made as the SSH user); its path."""
    work = posixpath.join(installation.home, RUNS, uuid.uuid4().hex[:12])
    remote.makedirs(work)
    with remote.sftp.open(posixpath.join(work, VERSION), "w") as file:
        file.write(posixpath.basename(installation.root))
    return work


@contextlib.contextmanager
def claim(remote: Remote, work: str) -> Iterator[paramiko.Channel | None]:
    """The lock of the command folder `work`, held inside the `with`; None when its command still runs."""
    channel = remote.hold_lock(posixpath.join(work, LOCK))
    try:
        yield channel
    finally:
        if channel is not None:
            channel.close()


def bring_home(remote: Remote, work: str, results_root: Path, as_root: tuple[str, ...]) -> dict[str, tuple[Path, bool]]:
    """Copy the run folders in `work`/results into `results_root`, then remove `work` (the caller
    holds its lock); for each remote run folder, its local copy and whether the run completed."""
    results = posixpath.join(work, RESULTS)
    fetched = {}
    if remote.exists(results):
        for name in sorted(remote.sftp.listdir(results)):
            local = create_unique_dir(results_root, name)
            remote.download(posixpath.join(results, name), local)
            fetched[posixpath.join(results, name)] = (local, _complete(local))
    remote.remove(work, as_root)
    return fetched


def bring_home_dead(remote: Remote, home: str, results_root: Path, as_root: tuple[str, ...]) -> list[tuple[Path, bool]]:
    """Bring home what every dead command left under `home` (see bring_home); each local run
    folder and whether the run completed."""
    brought: list[tuple[Path, bool]] = []
    for work, started in _folders(remote, home):
        if started:
            with claim(remote, work) as held:
                if held is not None:
                    brought += bring_home(remote, work, results_root, as_root).values()
    return brought


def live_versions(remote: Remote, home: str) -> set[str]:
    """The versions commands still running (or being started) under `home` use, and those the keepers
    of labs brought up with `lab up --on` run (every lab folder until `lab down --on` removes it)."""
    folders = []
    for work, started in _folders(remote, home):
        if started:
            with claim(remote, work) as held:
                if held is not None:
                    continue
        folders.append(work)
    labs = posixpath.join(home, LABS)
    if remote.exists(labs):
        folders += [posixpath.join(labs, name) for name in remote.sftp.listdir(labs)]
    versions = set()
    for folder in folders:
        with contextlib.suppress(FileNotFoundError), remote.sftp.open(posixpath.join(folder, VERSION)) as file:
            versions.add(file.read().decode().strip())
    return versions


def _folders(remote: Remote, home: str) -> Iterator[tuple[str, bool]]:
    """Each command folder under `home` and whether its command started (its lock exists); a folder
    whose command never started (its client died while sending it) and that is older than
    ABANDONED_S is removed instead."""
    runs = posixpath.join(home, RUNS)
    if not remote.exists(runs):
        return
    for entry in remote.sftp.listdir_attr(runs):
        work = posixpath.join(runs, entry.filename)
        if remote.exists(posixpath.join(work, LOCK)):
            yield work, True
        elif time.time() - (entry.st_mtime or 0) > ABANDONED_S:
            remote.remove(work, ())
        else:
            yield work, False


def _complete(run_dir: Path) -> bool:
    """Whether the run folder's results.json says the run completed."""
    try:
        return bool(json.loads((run_dir / "results.json").read_text()).get("complete"))
    except (OSError, ValueError):
        return False
