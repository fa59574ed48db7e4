"""A real OpenSSH server on a loopback port, throw-away keys, and `python -m lab ... --on` run through it.

The server is Debian's /usr/sbin/sshd with a configuration of the test's own (keys,
authorized_keys, no PAM), started with `-D -e` and stopped exactly at the end. Besides
root, it lets in `sudo_user`: a new user of the test's own with passwordless sudo (its own
sudoers.d drop-in), logging in with the same client key; both are removed at the end. The lab
machine is this machine: a test using the server (`sshd`, `client`, `installed`) needs
root and the lab's programs and is marked `root`; `offline_client` needs neither. Local
`python -m lab` runs get a home of their own (~/.ssh/known_hosts, config) and
LAB_REMOTE_HOME, so neither the real ~/.ssh nor ~/.cache is touched.
"""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ..conftest import REPO

SSHD = "/usr/sbin/sshd"
TEST_USER_KEYS = "authorized_keys.lab-test"  # in a test user's ~/.ssh: a name no real account uses
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege separation folder
READY_TIMEOUT_S = 30
USER_GONE_TIMEOUT_S = 30


def keygen(path: Path) -> Path:
    """A new passphrase-less ed25519 key pair at `path` (and `path`.pub)."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "lab-test", "-f", str(path)], check=True, timeout=30
    )
    return path


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SshServer:
    """The test's sshd: where it listens, its host key, and a client key it accepts."""

    port: int
    host_key_line: str  # as a known_hosts line for [127.0.0.1]:port
    client_key: Path
    log: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"root@127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("sshd"), sftp=True)


@pytest.fixture(scope="session")
def sshd_without_sftp(tmp_path_factory):
    """An sshd whose configuration has no Subsystem line (so no SFTP)."""
    yield from serve(tmp_path_factory.mktemp("sshd-nosftp"), sftp=False)


def serve(folder: Path, sftp: bool):
    """Start an sshd configured in `folder`; yield it; stop it."""
    host_key = keygen(folder / "host_key")
    client_key = keygen(folder / "client_key")
    (folder / "authorized_keys.root").write_text(Path(f"{client_key}.pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                # root's key here, a test user's in its own ~/.ssh (sshd reads it as that user); never
                # the machine's real ~/.ssh/authorized_keys
                f"AuthorizedKeysFile {folder / 'authorized_keys'}.%u .ssh/{TEST_USER_KEYS}",
                "PermitUserEnvironment PATH",  # sudo_user's ~/.ssh/environment can hide programs
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "StrictModes no",
                "PidFile none",
                *(["Subsystem sftp internal-sftp"] if sftp else []),
                "",
            ]
        )
    )
    made_privsep = not PRIVSEP_DIR.exists()
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    process = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    key_type, key_data = Path(f"{host_key}.pub").read_text().split()[:2]
    server = SshServer(port, f"[127.0.0.1]:{port} {key_type} {key_data}\n", client_key)
    listening = threading.Event()

    def read_log():  # drains sshd's log for the whole session, so it never blocks on a full pipe
        for line in process.stderr:
            server.log.append(line)
            if "Server listening on" in line:
                listening.set()

    threading.Thread(target=read_log, daemon=True).start()
    try:
        assert listening.wait(READY_TIMEOUT_S), f"sshd did not start: {''.join(server.log)}"
        yield server
    finally:
        process.terminate()
        process.wait(timeout=10)
        if made_privsep and not sshd_running():  # another test session's sshd needs it still
            PRIVSEP_DIR.rmdir()


def sshd_running() -> bool:
    """Whether any sshd runs on this machine (each needs PRIVSEP_DIR for every connection)."""
    for entry in Path("/proc").iterdir():
        try:
            if os.readlink(entry / "exe") == SSHD:
                return True
        except OSError:  # not a process, ended meanwhile, or not ours to read
            pass
    return False


@pytest.fixture(scope="session")
def remote_home(tmp_path_factory) -> Path:
    """LAB_REMOTE_HOME for every run of the session: one install of the lab, in a temp folder."""
    return tmp_path_factory.mktemp("remote-home")


@dataclass
class Client:
    """The local side: a home with its own ~/.ssh, and `python -m lab` run from it."""

    home: Path
    remote_home: Path
    remote_home_is_default: bool = False  # LAB_REMOTE_HOME unset: the SSH user's ~/.cache/lab/remote

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    @property
    def env(self) -> dict[str, str]:
        # no agent keys; LAB_REMOTE_HOME only as this client says
        env = {name: value for name, value in os.environ.items() if name not in ("SSH_AUTH_SOCK", "LAB_REMOTE_HOME")}
        return {
            **env,
            "HOME": str(self.home),
            **({} if self.remote_home_is_default else {"LAB_REMOTE_HOME": str(self.remote_home)}),
        }

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "lab", *args]

    def run(self, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
        """`python -m lab ARGS` to completion, from the repository."""
        return subprocess.run(self.argv(*args), cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)

    def start(self, *args: str) -> subprocess.Popen:
        """`python -m lab ARGS`, running."""
        return subprocess.Popen(
            self.argv(*args), cwd=REPO, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )


@pytest.fixture
def offline_client(tmp_path) -> Client:
    """A client that knows no host, for what is refused before any SSH session (no sshd, no root)."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    (ssh / "known_hosts").write_text("")
    return Client(tmp_path / "home", tmp_path / "remote-home")


@pytest.fixture
def client(tmp_path, sshd, remote_home) -> Client:
    """A client whose known_hosts knows the test server (and nothing else)."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    (ssh / "known_hosts").write_text(sshd.host_key_line)
    return Client(tmp_path / "home", remote_home)


@pytest.fixture(scope="session")
def installed(sshd, remote_home, tmp_path_factory):
    """The lab installed through the server once per session (by `validate --on`, which needs it too)."""
    home = tmp_path_factory.mktemp("install-home")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line)
    result = Client(home, remote_home).run(
        "validate", "scenarios/docker-nat-reachability.yaml", "--on", sshd.target, "--identity", str(sshd.client_key)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@dataclass
class SudoUser:
    """A user of the test's own on this machine, allowed passwordless sudo."""

    name: str
    home: Path
    uid: int
    gid: int

    def target(self, sshd: SshServer) -> str:
        return f"{self.name}@127.0.0.1:{sshd.port}"

    @property
    def remote_home(self) -> Path:
        return self.home / ".cache" / "lab" / "remote"

    def root_owned(self) -> list[Path]:
        """Everything in the user's home that root owns."""
        found = []
        for folder, folders, files in os.walk(self.home):
            for name in (*folders, *files):
                path = Path(folder) / name
                if path.lstat().st_uid == 0:
                    found.append(path)
        return found


@pytest.fixture(scope="session")
def sudo_user(sshd):
    """A new user (useradd, a unique name) with passwordless sudo (a sudoers.d drop-in of its own) that
    logs in with the test's client key; the user, its home and the drop-in are removed at the end."""
    name = f"labtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", "--password", "*", name], check=True)
    dropin = Path("/etc/sudoers.d") / name
    try:
        dropin.write_text(f"{name} ALL=(ALL:ALL) NOPASSWD: ALL\n")
        dropin.chmod(0o440)
        entry = pwd.getpwnam(name)
        user = SudoUser(name, Path(entry.pw_dir), entry.pw_uid, entry.pw_gid)
        ssh = user.home / ".ssh"
        ssh.mkdir(mode=0o700)
        (ssh / TEST_USER_KEYS).write_text(Path(f"{sshd.client_key}.pub").read_text())
        for path in (ssh, ssh / TEST_USER_KEYS):
            os.chown(path, user.uid, user.gid)
        yield user
    finally:
        dropin.unlink(missing_ok=True)
        uid = pwd.getpwnam(name).pw_uid
        deadline = time.monotonic() + USER_GONE_TIMEOUT_S  # its last SSH sessions end (userdel refuses a user in use)
        while any(user_processes(uid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        removed = subprocess.run(["userdel", "--remove", name], capture_output=True, text=True, timeout=60)
        assert removed.returncode == 0, f"userdel {name}: {removed.stderr}"


def user_processes(uid: int) -> list[int]:
    """Pids of the processes running as `uid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and entry.stat().st_uid == uid:
                found.append(int(entry.name))
        except OSError:  # ended meanwhile
            pass
    return found


@pytest.fixture
def user_client(tmp_path, sshd, sudo_user) -> Client:
    """A client logging in as `sudo_user`, with the lab in that user's default ~/.cache/lab/remote."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    (ssh / "known_hosts").write_text(sshd.host_key_line)
    return Client(tmp_path / "home", sudo_user.remote_home, remote_home_is_default=True)


@pytest.fixture(scope="session")
def user_installed(sshd, sudo_user, tmp_path_factory):
    """The lab installed for `sudo_user` once per session (by `validate --on`); its result."""
    home = tmp_path_factory.mktemp("user-install-home")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line)
    result = Client(home, sudo_user.remote_home, remote_home_is_default=True).run(
        "validate",
        "scenarios/docker-nat-reachability.yaml",
        "--on",
        sudo_user.target(sshd),
        "--identity",
        str(sshd.client_key),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result
