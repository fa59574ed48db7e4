"""Make sure this version of the lab is installed on the lab machine, in the SSH user's files.

A version is the content of the project's files: those git tracks plus untracked files
git does not ignore (so uncommitted work is what runs). Under `<home>` (~/.cache/lab/remote):

    versions/<hash>/   one version's files, uploaded over SFTP into a temporary folder and
                       renamed into place; its marker file says setup.sh (as root: the Debian
                       packages the machine lacks) succeeded and its code was compiled
    venvs/<key>/       one virtualenv per dependency set (pyproject.toml's dependencies),
                       shared by every version with those dependencies
    runs/<id>/         one folder per command (runs.py)

Everything there is made by the SSH user, never by root (the root command's work folder is
handed back by tether.py), so the user can remove all of it. Each contact marks its version
used; versions beyond the last KEEP_VERSIONS used, and virtualenvs no kept version uses, go.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import posixpath
import subprocess
import time
import tomllib
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .. import SOURCE_ROOT as PROJECT_ROOT
from .connection import LocalFile, Remote, RemoteError

DEFAULT_HOME = ".cache/lab/remote"  # on the lab machine, relative to the SSH user's home
VERSIONS, VENVS, RUNS = "versions", "venvs", "runs"
LABS = "labs"  # one folder per lab brought up with `lab up --on` (lab/remote/live.py)
READY = ".lab-ready"  # in a version or a virtualenv: it is complete
VENV_OF = ".lab-venv"  # in a version: the name of its virtualenv
PARTIAL = ".partial-"  # in the name of a folder still being made
ABANDONED_S = 86400  # a folder still being made after this was left by a client that died while making it
KEEP_VERSIONS = 3
SETUP_TIMEOUT_S = 3600  # Debian packages, or the virtualenv, on a fresh machine


@dataclass(frozen=True)
class Installation:
    """One installed version on the lab machine, and how to run things there as root."""

    home: str  # the folder of versions, virtualenvs and command folders
    root: str  # this version's files
    venv: str
    as_root: tuple[str, ...]  # () when logged in as root, else sudo -n

    @property
    def python(self) -> str:
        return posixpath.join(self.venv, "bin", "python")

    @property
    def root_python(self) -> list[str]:
        """This version's Python as root: the lab is this version's (the virtualenv holds only its
        dependencies), and root writes no bytecode into the user's files."""
        return [*self.as_root, "env", "PYTHONDONTWRITEBYTECODE=1", f"PYTHONPATH={self.root}", self.python]

    @property
    def tether(self) -> str:
        """tether.py of this version (it stops a command when its SSH session ends)."""
        return posixpath.join(self.root, "lab", "remote", "tether.py")

    def lab(self, work: str, *args: str) -> list[str]:
        """`python -m lab ARGS` as root, tethered to the SSH session and holding `work`'s lock (see tether.py)."""
        return [*self.root_python, self.tether, "--work", work, self.python, "-m", "lab", *args]


def project_files() -> list[LocalFile]:
    """The project's files: those git tracks, plus untracked ones it does not ignore."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise RemoteError(
            f"cannot list the project's files with git in {PROJECT_ROOT}: "
            f"{detail.decode(errors='replace').strip() or exc}"
        ) from None
    names = sorted({name for name in listing.decode().split("\0") if name})
    # a tracked file deleted in the working tree is not part of what runs here
    return [LocalFile.read(PROJECT_ROOT, name) for name in names if (PROJECT_ROOT / name).is_file()]


def version(files: list[LocalFile]) -> str:
    """A hash of the files' names, contents and executable bits."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() + b"\0" + (b"x" if file.executable else b"-") + b"\0")
        digest.update(hashlib.sha256(file.content).digest())
    return digest.hexdigest()[:20]


def dependencies(files: list[LocalFile]) -> list[str]:
    """The Python packages the lab needs on a lab machine: pyproject.toml's `dependencies`."""
    (pyproject,) = (file for file in files if file.name == "pyproject.toml")
    return sorted(tomllib.loads(pyproject.content.decode())["project"]["dependencies"])


def dependency_key(packages: list[str]) -> str:
    """The name of the virtualenv of this dependency set."""
    return hashlib.sha256("\n".join(packages).encode()).hexdigest()[:16]


def remote_home(remote: Remote) -> str:
    """The folder of installed versions on the lab machine (LAB_REMOTE_HOME, relative to the SSH user's home)."""
    home = remote.sftp.normalize(".")
    return posixpath.join(home, _home_setting() or DEFAULT_HOME)


def _home_setting() -> str | None:
    return os.environ.get("LAB_REMOTE_HOME") or None


def root_prefix(remote: Remote) -> tuple[str, ...]:
    """How to run a command as root on the machine: directly, or with passwordless sudo."""
    status, stdout, stderr = remote.capture(["id", "-u"])
    if status != 0:
        raise RemoteError(f"{remote.name}: `id -u` failed: {stderr.strip()}")
    if stdout.strip() == "0":
        return ()
    status, _, stderr = remote.capture(["sudo", "-n", "true"])
    if status == 127:  # the shell found no such command
        raise RemoteError(
            f"{remote.name}: the lab needs root there, and sudo is not installed on {remote.name}; log in "
            f"as root, or install sudo and allow this user passwordless sudo (NOPASSWD in /etc/sudoers.d)"
        )
    if status != 0:
        raise RemoteError(
            f"{remote.name}: the lab needs root there, and this user cannot use sudo without a "
            f"password ({stderr.strip() or f'sudo exited with {status}'}); log in as root, or allow "
            f"passwordless sudo (NOPASSWD in /etc/sudoers.d)"
        )
    return ("sudo", "-n", "--")


Sink = Callable[[bytes], None]


def install(
    remote: Remote, files: list[LocalFile], say: Callable[[str], None], relays: tuple[Sink, Sink]
) -> Installation:
    """Install this version of `files` (once) and return it; setup.sh's and pip's stdout and stderr
    go to `relays`."""
    home = remote_home(remote)
    packages = dependencies(files)
    installation = Installation(
        home,
        posixpath.join(home, VERSIONS, version(files)),
        posixpath.join(home, VENVS, dependency_key(packages)),
        root_prefix(remote),
    )
    if not remote.exists(installation.root):
        say(f"{remote.name}: copying the lab ({len(files)} files) to {installation.root}")
        _make(remote, installation, installation.root, lambda partial: remote.upload(files, partial))
    ready = posixpath.join(installation.root, READY)
    if not remote.exists(ready):
        say(f"{remote.name}: running setup.sh there (installs the Debian packages the machine lacks)")
        _command(remote, [*installation.as_root, posixpath.join(installation.root, "setup.sh"), "lab"], relays)
    if not remote.exists(posixpath.join(installation.venv, READY)):
        say(f"{remote.name}: installing the lab's Python packages into {installation.venv}")
        _make(remote, installation, installation.venv, lambda partial: _make_venv(remote, partial, packages, relays))
    if not remote.exists(ready):
        _command(
            remote, [installation.python, "-m", "compileall", "-q", posixpath.join(installation.root, "lab")], relays
        )
        _write(remote, posixpath.join(installation.root, VENV_OF), posixpath.basename(installation.venv))
        _write(remote, ready, "setup.sh succeeded, the code is compiled\n")
    remote.sftp.utime(installation.root, None)  # used now
    return installation


def prune(
    remote: Remote, installation: Installation, in_use: set[str], say: Callable[[str], None], keep: int = KEEP_VERSIONS
) -> None:
    """Remove the versions beyond the last `keep` used (counting this one; those in `in_use` stay),
    the virtualenvs no remaining version uses, and what clients that died while making a version
    or a virtualenv left (its temporary folder, older than ABANDONED_S)."""
    folder = posixpath.join(installation.home, VERSIONS)
    venv_folder = posixpath.dirname(installation.venv)
    for parent in (folder, venv_folder):
        for entry in remote.sftp.listdir_attr(parent):
            if PARTIAL in entry.filename and time.time() - (entry.st_mtime or 0) > ABANDONED_S:
                say(f"{remote.name}: removing what an interrupted installation left ({entry.filename})")
                remote.remove(posixpath.join(parent, entry.filename), installation.as_root)
    versions = sorted(
        (entry for entry in remote.sftp.listdir_attr(folder) if PARTIAL not in entry.filename),
        key=lambda entry: entry.st_mtime or 0,
        reverse=True,
    )
    current = posixpath.basename(installation.root)
    recent = [current, *(entry.filename for entry in versions if entry.filename != current)][:keep]
    kept = set(recent) | in_use
    for entry in versions:
        if entry.filename not in kept:
            say(f"{remote.name}: removing a version of the lab not used lately ({entry.filename})")
            remote.remove(posixpath.join(folder, entry.filename), installation.as_root)
    for name in remote.sftp.listdir(installation.home):  # a version of the older layout, <home>/<hash>/
        if name not in (VERSIONS, VENVS, RUNS, LABS) and remote.exists(posixpath.join(installation.home, name, READY)):
            say(f"{remote.name}: removing a version of the lab installed the older way ({name})")
            remote.remove(posixpath.join(installation.home, name), installation.as_root)
    venvs = {_read(remote, posixpath.join(folder, name, VENV_OF)) for name in kept}
    for name in remote.sftp.listdir(venv_folder):
        if PARTIAL not in name and name not in venvs:
            say(f"{remote.name}: removing a virtualenv no kept version uses ({name})")
            remote.remove(posixpath.join(venv_folder, name), installation.as_root)


def uninstall(remote: Remote, installation: Installation, in_use: set[str], say: Callable[[str], None]) -> str:
    """Remove every version and virtualenv under the installation's home but those the versions in
    `in_use` (commands still running) need, then the folders left empty (the home too); what was done."""
    prune(remote, installation, in_use, say, keep=0)
    home = installation.home
    folders = [posixpath.join(home, name) for name in (VERSIONS, VENVS, RUNS)] + [home]
    for folder in folders + ([] if _home_setting() else [posixpath.dirname(home)]):  # ~/.cache/lab too
        with contextlib.suppress(OSError):  # not empty: what commands still running use, or not the lab's
            remote.sftp.rmdir(folder)
    if not remote.exists(home):
        return f"{remote.name}: removed {home}"
    return f"{remote.name}: removed the lab's files in {home} but what is still in use: {', '.join(remote.sftp.listdir(home))}"


def _make(remote: Remote, installation: Installation, path: str, fill: Callable[[str], None]) -> None:
    """Make the folder `path` by filling a temporary one and renaming it into place."""
    partial = f"{path}{PARTIAL}{uuid.uuid4().hex[:8]}"
    try:
        remote.makedirs(posixpath.dirname(path))
        fill(partial)
        remote.sftp.posix_rename(partial, path)
    except OSError as exc:
        if not remote.exists(path):  # else another client made it meanwhile
            raise RemoteError(f"{remote.name}: cannot make {path}: {exc}") from None
    finally:
        if remote.exists(partial):
            remote.remove(partial, installation.as_root)


def _make_venv(remote: Remote, path: str, packages: list[str], relays: tuple[Sink, Sink]) -> None:
    """A virtualenv at `path` with `packages`, made as the SSH user (pip keeps no cache)."""
    _command(remote, ["python3", "-m", "venv", path], relays)
    pip = [posixpath.join(path, "bin", "python"), "-m", "pip", "install", "-q", "--no-cache-dir"]
    _command(remote, [*pip, "--disable-pip-version-check", *packages], relays)
    _write(remote, posixpath.join(path, READY), "pip install succeeded\n")


def _command(remote: Remote, argv: list[str], relays: tuple[Sink, Sink]) -> None:
    """Run an installation step with its output relayed; RemoteError when it fails."""
    status = remote.start(argv, *relays).wait(SETUP_TIMEOUT_S)
    if status != 0:
        outcome = f"did not finish within {SETUP_TIMEOUT_S} s" if status is None else f"failed (exit {status})"
        raise RemoteError(f"{remote.name}: `{' '.join(argv)}` {outcome}; its output is above")


def _write(remote: Remote, path: str, text: str) -> None:
    with remote.sftp.open(path, "w") as file:
        file.write(text)


def _read(remote: Remote, path: str) -> str:
    """A small file's text, stripped; '' when it is missing."""
    try:
        with remote.sftp.open(path) as file:
            return file.read().decode().strip()
    except FileNotFoundError:
        return ""
