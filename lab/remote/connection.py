"""SSH to the lab machine with paramiko, the way OpenSSH users expect.

Keys come from ~/.ssh and the SSH agent (paramiko's look_for_keys/allow_agent), from
`--identity` and from IdentityFile in ~/.ssh/config, whose Host aliases also supply
HostName, User and Port. Host keys are checked against known_hosts: an unknown host is
refused unless `--accept-new-host-key` is given, which records its key there.
"""

from __future__ import annotations

import getpass
import io
import logging
import os
import posixpath
import shlex
import socket
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko
from paramiko.hostkeys import HostKeyEntry

from ..errors import MachineUnfit

CONNECT_TIMEOUT_S = 20  # TCP connect, SSH banner and authentication, each
COMMAND_TIMEOUT_S = 120  # short helper commands (id, sudo -n true, rm)
KEEPALIVE_S = 15
LOCK_BUSY = 75  # flock's exit status when someone else holds the lock (EX_TEMPFAIL)
SSH_CONFIG = Path("~/.ssh/config")
KNOWN_HOSTS = Path("~/.ssh/known_hosts")
GLOBAL_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")

# paramiko logs the tracebacks of failed connections; RemoteError says what went wrong, once
logging.getLogger("paramiko").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class LocalFile:
    """A file to send, read once: what is sent is exactly what was read (and hashed)."""

    name: str  # relative to the destination folder, '/'-separated
    content: bytes
    executable: bool

    @classmethod
    def read(cls, root: Path, name: str) -> LocalFile:
        path = root / name
        return cls(name, path.read_bytes(), os.access(path, os.X_OK))


class RemoteError(MachineUnfit):
    """The lab machine cannot be used; the message names the host and the cause."""


class UnknownHostKey(paramiko.SSHException):
    """The server's host key is in no known_hosts file."""


@dataclass(frozen=True)
class Target:
    """`[user@]host[:port]` as given to `--on`; host may be an ~/.ssh/config alias or `[IPv6]`."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """Parse `--on`; ValueError says what is wrong."""
        user, _, rest = text.rpartition("@")
        port = None
        if rest.startswith("["):
            host, _, tail = rest[1:].partition("]")
            port = tail.removeprefix(":") if tail else None
        elif rest.count(":") == 1:
            host, port = rest.split(":")
        else:
            host = rest
        if not host or (user == "" and "@" in text):
            raise ValueError(f"--on {text!r}: give [USER@]HOST[:PORT], like root@lab1 or lab1:2222")
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"--on {text!r}: port {port!r} is not a number between 1 and 65535")
        return cls(host, user or None, int(port) if port else None)


@dataclass(frozen=True)
class Endpoint:
    """Where and as whom to connect, after ~/.ssh/config."""

    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: Path

    @classmethod
    def resolve(cls, target: Target, identity: Path | None) -> Endpoint:
        """Apply ~/.ssh/config to `target`; what the command line says wins."""
        config_path = SSH_CONFIG.expanduser()
        config = paramiko.SSHConfig.from_path(str(config_path)) if config_path.exists() else paramiko.SSHConfig()
        entry = config.lookup(target.host)
        configured = [Path(path).expanduser() for path in entry.get("identityfile", [])]
        # OpenSSH skips IdentityFile entries that do not exist (the defaults among them)
        key_files = ([identity.expanduser()] if identity else []) + [path for path in configured if path.exists()]
        known_hosts = entry.get("userknownhostsfile", str(KNOWN_HOSTS)).split()[0]
        return cls(
            hostname=entry.get("hostname", target.host),
            port=target.port or int(entry.get("port", 22)),
            user=target.user or entry.get("user") or getpass.getuser(),
            key_files=tuple(str(path) for path in key_files),
            known_hosts=Path(known_hosts).expanduser(),
        )

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}" + (f":{self.port}" if self.port != 22 else "")


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    """Refuse a host whose key is not known, saying how to accept it."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(
            f"its host key ({key.get_name()} {key.fingerprint}) is not in {self.known_hosts}, so the host "
            f"cannot be verified; if this is the machine's key, run again with --accept-new-host-key to record it"
        )


class _RecordNew(paramiko.MissingHostKeyPolicy):
    """Accept an unknown host and append its key to known_hosts (other lines stay as they are)."""

    def __init__(self, known_hosts: Path):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        self.known_hosts.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = self.known_hosts.read_text() if self.known_hosts.exists() else ""
        with open(self.known_hosts, "a", encoding="utf-8") as file:
            file.write(("\n" if text and not text.endswith("\n") else "") + HostKeyEntry([hostname], key).to_line())


def connect(target: Target, identity: Path | None = None, accept_new_host_key: bool = False) -> Remote:
    """Connect and authenticate; RemoteError names the host and the cause."""
    endpoint = Endpoint.resolve(target, identity)
    client = paramiko.SSHClient()
    for known in (GLOBAL_KNOWN_HOSTS, endpoint.known_hosts):
        if known.exists():
            client.load_system_host_keys(str(known))
    policy = _RecordNew if accept_new_host_key else _RefuseUnknown
    client.set_missing_host_key_policy(policy(endpoint.known_hosts))
    try:
        client.connect(
            endpoint.hostname,
            port=endpoint.port,
            username=endpoint.user,
            key_filename=list(endpoint.key_files) or None,
            look_for_keys=True,
            allow_agent=True,
            timeout=CONNECT_TIMEOUT_S,
            banner_timeout=CONNECT_TIMEOUT_S,
            auth_timeout=CONNECT_TIMEOUT_S,
        )
    except UnknownHostKey as exc:
        raise RemoteError(f"{endpoint}: unknown host: {exc}") from None
    except paramiko.BadHostKeyException as exc:
        raise RemoteError(
            f"{endpoint}: the host key ({exc.key.get_name()} {exc.key.fingerprint}) differs from the one in "
            f"{endpoint.known_hosts}: someone may be in the middle, or the machine was reinstalled; if you know it "
            f"was, remove the old key with: ssh-keygen -R {shlex.quote(exc.hostname)}"
        ) from None
    except paramiko.AuthenticationException as exc:
        tried = ", ".join([*endpoint.key_files, "the keys in ~/.ssh", "the SSH agent"])
        why = "" if type(exc) is paramiko.AuthenticationException else f" ({exc})"
        raise RemoteError(f"{endpoint}: authentication failed{why}; tried {tried}") from None
    except socket.gaierror as exc:
        raise RemoteError(f"{endpoint}: cannot resolve host name {endpoint.hostname!r} ({exc.strerror})") from None
    except TimeoutError:
        raise RemoteError(f"{endpoint}: unreachable: no answer within {CONNECT_TIMEOUT_S} s") from None
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        causes = "; ".join(sorted({error.strerror or str(error) for error in exc.errors.values()}))
        raise RemoteError(f"{endpoint}: unreachable: {causes}") from None
    except (paramiko.SSHException, OSError) as exc:
        raise RemoteError(f"{endpoint}: cannot connect: {exc}") from None
    client.get_transport().set_keepalive(KEEPALIVE_S)
    return Remote(client, str(endpoint))


class Remote:
    """A connected lab machine: commands (argument lists) and its files over SFTP."""

    def __init__(self, client: paramiko.SSHClient, name: str):
        self.client = client
        self.name = name
        try:
            self.sftp: paramiko.SFTPClient = client.open_sftp()
        except paramiko.SSHException:
            client.close()
            raise RemoteError(
                f"{name}: the SSH server offers no SFTP subsystem, which the lab uses to copy files; "
                f"enable it there (sshd_config: Subsystem sftp internal-sftp)"
            ) from None

    def __enter__(self) -> Remote:
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.close()

    @property
    def connected(self) -> bool:
        """Whether the SSH connection is still up."""
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def _channel(self, argv: list[str]) -> paramiko.Channel:
        channel = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT_S)
        channel.exec_command(shlex.join(argv))  # SSH carries one command line: quote every argument
        return channel

    def capture(self, argv: list[str], timeout: float = COMMAND_TIMEOUT_S) -> tuple[int, str, str]:
        """Run a short command; its exit status, stdout and stderr."""
        channel = self._channel(argv)
        channel.settimeout(timeout)
        channel.shutdown_write()
        try:
            stdout = channel.makefile("rb").read().decode(errors="replace")
            stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
        except TimeoutError:
            raise RemoteError(f"{self.name}: `{shlex.join(argv)}` did not finish within {timeout} s") from None
        return channel.recv_exit_status(), stdout, stderr

    def start(
        self, argv: list[str], on_stdout: Callable[[bytes], None], on_stderr: Callable[[bytes], None]
    ) -> Execution:
        """Start a command whose output is handed to `on_stdout`/`on_stderr` as it arrives."""
        return Execution(self._channel(argv), on_stdout, on_stderr)

    def hold_lock(self, path: str) -> paramiko.Channel | None:
        """Take the flock of the existing file `path` for as long as the returned channel is open
        (`flock -n PATH cat`: it ends with the session); None when someone else holds it."""
        channel = self._channel(["flock", "--nonblock", "--conflict-exit-code", str(LOCK_BUSY), path, "cat"])
        channel.settimeout(COMMAND_TIMEOUT_S)
        try:
            channel.sendall(b"held\n")  # echoed by cat only once the lock is taken
            echoed = channel.makefile("rb").readline()
        except TimeoutError:
            channel.close()
            raise RemoteError(
                f"{self.name}: taking the lock {path} got no answer within {COMMAND_TIMEOUT_S} s"
            ) from None
        except OSError:  # flock ended (and closed the channel) before reading: busy or failed
            echoed = b""
        if echoed == b"held\n":
            return channel
        status = channel.recv_exit_status()
        stderr = channel.makefile_stderr("rb").read().decode(errors="replace").strip()
        channel.close()
        if status == LOCK_BUSY:
            return None
        raise RemoteError(f"{self.name}: cannot take the lock {path} ({stderr or f'flock exited with {status}'})")

    def remove(self, path: str, as_root: tuple[str, ...]) -> None:
        """`rm -rf PATH` as this user, else as root (what a root process killed before handing it back
        left); RemoteError when it stays."""
        status, _, stderr = self.capture(["rm", "-rf", "--", path])
        if status != 0 and as_root:
            status, _, stderr = self.capture([*as_root, "rm", "-rf", "--", path])
        if status != 0:
            raise RemoteError(f"{self.name}: cannot remove {path}: {stderr.strip() or f'rm exited with {status}'}")

    def exists(self, path: str) -> bool:
        """Whether `path` exists on the machine."""
        try:
            self.sftp.stat(path)
        except FileNotFoundError:
            return False
        return True

    def makedirs(self, path: str) -> None:
        """mkdir -p over SFTP."""
        if path in ("", "/") or self.exists(path):
            return
        self.makedirs(posixpath.dirname(path))
        self.sftp.mkdir(path)

    def upload(self, files: list[LocalFile], destination: str) -> None:
        """Write `files` into the folder `destination` (made if missing)."""
        for folder in sorted({posixpath.dirname(file.name) for file in files}):
            self.makedirs(posixpath.normpath(posixpath.join(destination, folder)))
        for file in files:
            target = posixpath.join(destination, file.name)
            self.sftp.putfo(io.BytesIO(file.content), target)
            self.sftp.chmod(target, 0o755 if file.executable else 0o644)

    def download(self, source: str, destination: Path) -> None:
        """Copy the folder `source` from the machine into the folder `destination`, recursively."""
        destination.mkdir(parents=True, exist_ok=True)
        for entry in self.sftp.listdir_attr(source):
            path = posixpath.join(source, entry.filename)
            if stat.S_ISDIR(entry.st_mode):
                self.download(path, destination / entry.filename)
            elif stat.S_ISREG(entry.st_mode):
                self.sftp.get(path, str(destination / entry.filename))


class Execution:
    """A running remote command; its output is relayed by two threads as it arrives."""

    def __init__(self, channel: paramiko.Channel, on_stdout, on_stderr):
        self.channel = channel
        self.pumps = [
            threading.Thread(target=_pump, args=(channel.recv, on_stdout), daemon=True),
            threading.Thread(target=_pump, args=(channel.recv_stderr, on_stderr), daemon=True),
        ]
        for pump in self.pumps:
            pump.start()

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status once the command ended and its output is relayed; None on timeout.

        -1 means the connection closed without a status.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for pump in self.pumps:
            pump.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if pump.is_alive():
                return None
        if not self.channel.status_event.wait(None if deadline is None else max(0.0, deadline - time.monotonic())):
            return None
        return self.channel.exit_status

    def close_stdin(self) -> None:
        """Send end-of-file to the command's stdin (a tethered run stops on it)."""
        self.channel.shutdown_write()


def _pump(receive: Callable[[int], bytes], sink: Callable[[bytes], None]) -> None:
    while chunk := receive(65536):
        try:
            sink(chunk)
        except OSError:  # local output closed (piped into `head`): keep draining, or the remote side blocks
            sink = _discard


def _discard(data: bytes) -> None:
    """A sink that drops what it is given."""
