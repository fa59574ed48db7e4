"""Make sure this version of the lab is installed on the lab machine.

A version is the content of the project's files: those git tracks plus untracked files
git does not ignore (so uncommitted work is what runs). Each version lives in its own
folder, `<home>/<hash>/`, uploaded over SFTP into a temporary folder and renamed into
place when complete; `./setup.sh lab` (as root) then installs what the machine lacks, and a
marker file records that it succeeded. A version already there is used as it is.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .. import SOURCE_ROOT as PROJECT_ROOT
from .connection import LocalFile, Remote, RemoteError

DEFAULT_HOME = ".cache/lab/remote"  # on the lab machine, relative to the SSH user's home
READY = ".lab-ready"
SETUP_TIMEOUT_S = 3600  # Debian packages and the virtualenv on a fresh machine


@dataclass(frozen=True)
class Installation:
    """One installed version on the lab machine, and how to run things there as root."""

    root: str
    as_root: tuple[str, ...]  # () when logged in as root, else sudo -n

    @property
    def python(self) -> str:
        return posixpath.join(self.root, ".venv", "bin", "python")

    def lab(self, *args: str) -> list[str]:
        """`python -m lab ARGS` as root, tethered to the SSH session (see tether.py)."""
        tether = posixpath.join(self.root, "lab", "remote", "tether.py")
        return [*self.as_root, self.python, tether, self.python, "-m", "lab", *args]


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


def remote_home(remote: Remote) -> str:
    """The folder of installed versions on the lab machine (LAB_REMOTE_HOME, relative to the SSH user's home)."""
    home = remote.sftp.normalize(".")
    return posixpath.join(home, os.environ.get("LAB_REMOTE_HOME") or DEFAULT_HOME)


def root_prefix(remote: Remote) -> tuple[str, ...]:
    """How to run a command as root on the machine: directly, or with passwordless sudo."""
    status, stdout, stderr = remote.capture(["id", "-u"])
    if status != 0:
        raise RemoteError(f"{remote.name}: `id -u` failed: {stderr.strip()}")
    if stdout.strip() == "0":
        return ()
    status, _, stderr = remote.capture(["sudo", "-n", "true"])
    if status != 0:
        raise RemoteError(
            f"{remote.name}: the lab needs root there, and this user cannot use sudo without a "
            f"password ({stderr.strip() or f'sudo exited with {status}'}); log in as root, or allow "
            f"passwordless sudo (NOPASSWD in /etc/sudoers.d)"
        )
    return ("sudo", "-n", "--")


def install(remote: Remote, say: Callable[[str], None], relay: Callable[[bytes], None]) -> Installation:
    """Install this version (once) and return it; setup.sh's output goes to `relay`."""
    files = project_files()
    home = remote_home(remote)
    installation = Installation(posixpath.join(home, version(files)), root_prefix(remote))
    if not remote.exists(installation.root):
        say(f"{remote.name}: copying the lab ({len(files)} files) to {installation.root}")
        partial = f"{installation.root}.partial-{uuid.uuid4().hex[:8]}"
        try:
            remote.upload(files, partial)
            remote.sftp.posix_rename(partial, installation.root)
        except OSError as exc:
            if not remote.exists(installation.root):  # else another client installed this version meanwhile
                raise RemoteError(f"{remote.name}: cannot copy the lab to {partial}: {exc}") from None
        finally:
            if remote.exists(partial):
                remote.capture([*installation.as_root, "rm", "-rf", "--", partial])
    ready = posixpath.join(installation.root, READY)
    if not remote.exists(ready):
        say(f"{remote.name}: running setup.sh (installs what the machine lacks)")
        status = remote.start(
            [*installation.as_root, posixpath.join(installation.root, "setup.sh"), "lab"], relay, relay
        ).wait(SETUP_TIMEOUT_S)
        if status != 0:
            outcome = f"did not finish within {SETUP_TIMEOUT_S} s" if status is None else f"failed (exit {status})"
            raise RemoteError(f"{remote.name}: setup.sh {outcome}; its output is above")
        with remote.sftp.open(ready, "w") as marker:
            marker.write("setup.sh succeeded\n")
    return installation
