"""A real Docker Engine inside a node's network namespace, and the containers it runs.

dockerd is started with `nsenter --net=<node netns>` (not `ip netns exec`, which remounts
/sys and hides the cgroups), with its own data-root, exec-root, socket, pidfile and
containerd namespace: its bridges, veths and iptables rules exist only in that node, and
it never touches another Docker on the machine. Its containers go into a cgroup of their own,
`lab-<run>-<host>` (journaled before dockerd starts), so what a dead engine left (a
container's processes, `runc init`, the cgroup folders) is found by that name and removed.
Networks, containers and published ports are made with the docker CLI, exactly as a user would.
"""

from __future__ import annotations

import io
import os
import select
import signal
import subprocess
import tarfile
import time
from pathlib import Path, PurePosixPath

from ..commands import CommandRunner, Transcript
from ..errors import BuildError
from ..scenario import model
from ..software import container_mounts, node_environment, software_files
from .journal import Journal, remove_cgroup, same_process
from .signals import HURRY

BASE_IMAGE = "lab-base:1"
CACHE_DIR = Path(os.environ.get("LAB_CACHE_DIR", "/var/cache/lab"))
DAEMON_START_TIMEOUT_S = 30
SOCKET_POLL_S = 0.01
CONTAINERD_STOP_TIMEOUT_S = 10
DAEMON_STOP_TIMEOUT_S = 20


def base_image_tar() -> bytes:
    """A root file system with only the merged-/usr links and empty directories.

    Containers run it with the machine's /usr bound read-only, so any program installed
    on the lab machine runs in them. The tarball is cached in CACHE_DIR.
    """
    cached = CACHE_DIR / "base-rootfs.tar"
    if cached.exists():
        return cached.read_bytes()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for name in ("bin", "lib", "lib32", "lib64", "libx32", "sbin"):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, f"usr/{name}"
            archive.addfile(info)
        for name, mode in (
            ("usr", 0o755),
            ("etc", 0o755),
            ("tmp", 0o1777),
            ("var", 0o755),
            ("var/tmp", 0o1777),
            ("run", 0o755),
            ("proc", 0o555),
            ("sys", 0o555),
            ("dev", 0o755),
            ("root", 0o700),
            ("opt", 0o755),
            ("home", 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            archive.addfile(info)
    data = buffer.getvalue()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    temporary = cached.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_bytes(data)
    temporary.replace(cached)
    return data


def files_tar(files: tuple[model.FileSpec, ...], folders: tuple[str, ...] = ()) -> bytes:
    """A tar stream of `files` (with their parent directories) and empty `folders` for `docker cp - NAME:/`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        directories: set[str] = set()

        def add_directory(parts: tuple[str, ...]) -> None:
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    archive.addfile(info)

        for folder in folders:
            add_directory(PurePosixPath(folder).parts[1:])
        for spec in files:
            add_directory(PurePosixPath(spec.path).parts[1:-1])
            data = spec.content.encode()
            info = tarfile.TarInfo(spec.path.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), spec.mode, int(time.time())
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DockerEngine:
    """One dockerd in one node's network namespace, with everything it keeps under `root`."""

    def __init__(
        self,
        host: model.DockerHost,
        netns: str,
        root: Path,
        transcript: Transcript,
        run_id: str,
        software: tuple[model.SoftwareChoice, ...],
        journal: Journal,
    ):
        self.host = host
        self.journal = journal
        self.netns = netns
        self.root = root
        self.socket = root / "docker.sock"
        self.transcript = transcript
        self.run_id = run_id
        self.software = software
        self.container_env = node_environment(software)
        self.container_mounts = container_mounts(software)
        self.process: subprocess.Popen | None = None
        self.server_version = ""
        self.containerd: tuple[int, str] | None = None  # (pid, start time) of dockerd's containerd
        self.cgroup = f"lab-{run_id}-{host.name}"  # the containers' cgroup parent, in every hierarchy
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "DOCKER_HOST": f"unix://{self.socket}",
            "DOCKER_CONFIG": str(root / "client-config"),
        }
        self.cli = CommandRunner(f"{host.name}:docker", transcript, env=env)

    def docker(self, *args: str, timeout: float = 120, check: bool = True, input: bytes | None = None):
        """Run the docker CLI against this engine."""
        return self.cli.run(["docker", *args], timeout=timeout, check=check, input=input)

    def start(self) -> None:
        """Start dockerd in the node's network namespace and wait until it answers.

        Only the socket's appearance is polled (a stat every 10 ms); once it exists,
        `docker version` blocks until the daemon serves its API.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "dockerd.log", "wb")
        namespace = f"lab-{self.run_id}-{self.host.name}"
        argv = [
            "nsenter",
            f"--net={self.netns}",
            "dockerd",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--host",
            f"unix://{self.socket}",
            "--pidfile",
            str(self.root / "docker.pid"),
            "--containerd-namespace",
            namespace,
            "--containerd-plugins-namespace",
            f"{namespace}-plugins",
            "--bridge",
            "none",
            "--exec-opt",
            "native.cgroupdriver=cgroupfs",
            "--cgroup-parent",
            f"/{self.cgroup}",
        ]
        if not self.host.userland_proxy:
            argv.append("--userland-proxy=false")
        self.journal.cgroup(self.cgroup)
        self.process = self.cli.start(argv, stdout=log, stderr=subprocess.STDOUT)
        self.journal.process(self.process.pid, f"dockerd of {self.host.name}")
        log.close()
        deadline = time.monotonic() + DAEMON_START_TIMEOUT_S
        while True:
            if self.process.poll() is not None:
                raise BuildError(
                    f"dockerd on {self.host.name} exited with status {self.process.returncode}; "
                    f"its log ends:\n{self._log_tail()}"
                )
            if self.socket.exists():
                answer = self.docker(
                    "version",
                    "--format",
                    "{{.Server.Version}}",
                    check=False,
                    timeout=max(1.0, deadline - time.monotonic()),
                )
                if answer.exit_code == 0:
                    self.server_version = answer.stdout.strip()
                    containerd_pid = self.root / "exec" / "containerd" / "containerd.pid"
                    if containerd_pid.exists():
                        pid = int(containerd_pid.read_text())
                        self.containerd = (pid, self.journal.process(pid, f"containerd of {self.host.name}"))
                    return
            if time.monotonic() > deadline:
                raise BuildError(
                    f"dockerd on {self.host.name} did not answer on {self.socket} within "
                    f"{DAEMON_START_TIMEOUT_S}s; its log ends:\n{self._log_tail()}"
                )
            time.sleep(SOCKET_POLL_S)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join((self.root / "dockerd.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def load_base_image(self) -> None:
        """Import the lab's base image from local files (no registry is reachable)."""
        self.docker(
            "import",
            "--message",
            "lab base image: host /usr mounted read-only",
            "-",
            BASE_IMAGE,
            input=base_image_tar(),
        )

    def create_networks(self) -> None:
        """Create the host's user-defined bridge networks."""
        for network in self.host.networks:
            self.docker(
                "network",
                "create",
                "--driver",
                "bridge",
                "--subnet",
                str(network.subnet),
                "--gateway",
                str(network.gateway),
                "-o",
                f"com.docker.network.bridge.name={network.bridge}",
                network.name,
            )

    def start_container(self, container: model.Container) -> None:
        """Create the container, copy its files in, and start it."""
        argv = [
            "create",
            "--name",
            container.name,
            "--hostname",
            container.hostname,
            "--network",
            container.network,
            "--ip",
            str(container.ip),
        ]
        for publish in container.publish:
            argv += ["--publish", publish]
        env = dict(self.container_env)
        env.update(container.environment)
        for key, value in env.items():
            argv += ["--env", f"{key}={value}"]
        for mount in [*self.container_mounts, *container.mounts]:
            argv += [
                "--mount",
                f"type=bind,source={mount.source},target={mount.target}" + (",readonly" if mount.read_only else ""),
            ]
        argv += [BASE_IMAGE, *(container.command or ("sleep", "infinity"))]
        self.docker(*argv)
        extra_files, folders = software_files(self.software, container.files)
        if container.files or extra_files or folders:
            tar = files_tar((*container.files, *extra_files), folders)
            self.docker("cp", "-", f"{container.name}:/", input=tar)
        self.docker("start", container.name)
        pid = self.docker("inspect", "--format", "{{.State.Pid}}", container.name).stdout.strip()
        if pid.isdigit() and pid != "0":
            self.journal.process(int(pid), f"container {container.name} on {self.host.name}")

    def state(self, name: str) -> str:
        """A container's state as `docker inspect` tells it: 'running', 'exited (status 1)', ..."""
        result = self.docker("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name, check=False)
        if result.exit_code != 0:
            return f"unknown ({result.output.strip()})"
        status, _, code = result.stdout.strip().partition(" ")
        return f"exited (status {code})" if status == "exited" else status

    def stop(self) -> None:
        """Remove all containers, stop the daemon (and its containerd) and wait for it."""
        if self.process is None:
            return
        if self.process.poll() is None:
            names = self.docker("ps", "--all", "--quiet", check=False, timeout=30).stdout.split()
            if names:
                self._drop_firewall_rules()
                self.docker("rm", "--force", "--volumes", *names, check=False, timeout=120)
            self._stop_containerd()
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + DAEMON_STOP_TIMEOUT_S
            while self.process.poll() is None and time.monotonic() < deadline and not HURRY.is_set():
                time.sleep(SOCKET_POLL_S)
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.transcript.write(f"[{self.host.name}] dockerd stopped (exit {self.process.returncode})")
        self.process = None
        for line in remove_cgroup(self.cgroup):
            self.transcript.write(f"[{self.host.name}] {line}")

    def _drop_firewall_rules(self) -> None:
        """Flush the nat and filter tables of dockerd's namespace before its containers are removed.

        Removing a container makes dockerd check and delete its NAT and filter rules one
        iptables call at a time (6 calls per published port and protocol: seconds per
        container with 13-port ranges). The namespace and its rules go away with the node
        anyway; with the tables empty, dockerd's checks find nothing left to delete.
        The namespace is dockerd's own (its live, unreaped pid), and never the lab's.
        """
        netns = f"/proc/{self.process.pid}/ns/net"
        if os.stat(netns).st_ino == os.stat("/proc/self/ns/net").st_ino:
            self.transcript.write(f"[{self.host.name}] dockerd shares the lab's network namespace: rules left alone")
            return
        for table in ("nat", "filter"):
            self.cli.run(
                ["nsenter", f"--net={netns}", "iptables", "--wait", "-t", table, "--flush"], check=False, timeout=30
            )

    def _stop_containerd(self) -> None:
        """Stop dockerd's containerd and await its exit, just before dockerd itself is stopped.

        Stopping it itself, dockerd 20.10 checks for containerd's exit once a second (moby's
        supervisor `stopDaemon`): a second lost per Docker host. Found gone, nothing is
        waited for. dockerd restarts a containerd that died only after 0.5 s; it gets its
        SIGTERM long before. The process is addressed by a pidfd, never by a reusable pid.
        """
        if self.containerd is None or not same_process(*self.containerd):
            return
        try:
            pidfd = os.pidfd_open(self.containerd[0])
        except ProcessLookupError:
            return
        try:
            if same_process(*self.containerd):
                signal.pidfd_send_signal(pidfd, signal.SIGTERM)
                if not select.select([pidfd], [], [], CONTAINERD_STOP_TIMEOUT_S)[0]:
                    self.transcript.write(
                        f"[{self.host.name}] containerd did not exit within "
                        f"{CONTAINERD_STOP_TIMEOUT_S}s; dockerd stops it"
                    )
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)
