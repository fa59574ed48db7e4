"""The incident's deployment built by a plain script: ip, sysctl, dockerd and docker, no lab code.

Per variant (`original`, `fixed`): namespaces for two switches (Linux bridges), the router,
the two clients and the server; dockerd in the server's namespace (`nsenter --net`); the
three emulated taosd containers with the scenario's published ports; the cluster formed
from taosnode1; both clients' `taos -s quit` and `taos -s "show dnodes"`; then teardown.
Every object is named after a random tag and exactly those objects are removed, also on
Ctrl-C or SIGTERM. The root namespace's addresses, routes and iptables are never touched.

    python3 bench/baseline.py [--variant original|fixed] [--userland-proxy on|off]

prints one JSON object: per-variant phase times (seconds) and the clients' outputs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
TAOS_BIN = PROJECT / "lab" / "tdengine" / "bin"
ENV = {
    "PATH": f"{TAOS_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHONPATH": str(PROJECT),
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
}
VARIANTS = {  # node -> (serverPort, host port range start)
    "original": {"taosnode1": (6030, 16030), "taosnode2": (6030, 26030), "taosnode3": (6030, 36030)},
    "fixed": {"taosnode1": (6030, 6030), "taosnode2": (7030, 7030), "taosnode3": (8030, 8030)},
}
COMMAND_TIMEOUT_S = 120
DAEMON_TIMEOUT_S = 30
POLL_S = 0.5  # the scenario's `until` interval
STOP_WAIT_S = 20
ETC_NETNS, RUN_NETNS = Path("/etc/netns"), Path("/run/netns")


def run(
    argv: list[str], timeout: float = COMMAND_TIMEOUT_S, check: bool = True, env=None, input: bytes | None = None
) -> subprocess.CompletedProcess:
    """Run an argument list (never a shell); raise with its output when it fails and `check`."""
    result = subprocess.run(argv, input=input, capture_output=True, timeout=timeout, env=env, start_new_session=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{argv} exited {result.returncode}: {result.stderr.decode(errors='replace').strip()}")
    return result


def base_rootfs() -> bytes:
    """A tarball with only the merged-/usr links and empty directories (containers bind the host's /usr)."""
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
        ):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            archive.addfile(info)
    return buffer.getvalue()


def netns_inode(name: str) -> int | None:
    """The inode of a named network namespace."""
    try:
        return os.stat(f"/run/netns/{name}").st_ino
    except OSError:
        return None


def pids_in_netns(inode: int) -> list[int]:
    """Processes whose network namespace is `inode`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


class Deployment:
    """One variant built by hand; `with` tears down exactly what was made."""

    def __init__(self, variant: str, userland_proxy: bool):
        self.nodes = VARIANTS[variant]
        self.userland_proxy = userland_proxy
        self.tag = f"bl{secrets.token_hex(3)}"
        self.root = Path(tempfile.mkdtemp(prefix=f"bench-{self.tag}-"))
        self.namespaces: list[str] = []
        self.etc_dirs: list[Path] = []
        self.made_etc_netns = not ETC_NETNS.exists()
        self.made_run_netns = (not RUN_NETNS.exists(), not os.path.ismount(RUN_NETNS))
        self.dockerd: subprocess.Popen | None = None
        self.containers: list[str] = []
        self.docker_env = {
            "PATH": ENV["PATH"],
            "DOCKER_HOST": f"unix://{self.root / 'docker.sock'}",
            "DOCKER_CONFIG": str(self.root / "client-config"),
        }

    def ns(self, name: str) -> str:
        """The name of this deployment's namespace for node or switch `name`."""
        return f"{self.tag}-{name}"

    def docker(self, *args: str, **kw) -> subprocess.CompletedProcess:
        """The docker CLI against this deployment's dockerd."""
        return run(["docker", *args], env=self.docker_env, **kw)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc_info) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut teardown short
        try:
            self.teardown()
        finally:
            signal.signal(signal.SIGINT, previous)

    # -- build --------------------------------------------------------------------
    def network(self) -> None:
        """Switch namespaces with a bridge each, node namespaces joined to them by veth pairs."""
        links = {
            "router": {"lan": "10.0.31.1/24", "remote": "10.0.2.1/24"},
            "win-client": {"lan": "10.0.31.5/24"},
            "remote-client": {"remote": "10.0.2.61/24"},
            "server": {"lan": "10.0.31.2/24"},
        }
        for name in ("sw-lan", "sw-remote", *links):
            run(["ip", "netns", "add", self.ns(name)])
            self.namespaces.append(self.ns(name))
            run(["ip", "-n", self.ns(name), "link", "set", "lo", "up"])
        for subnet in ("lan", "remote"):
            run(["ip", "-n", self.ns(f"sw-{subnet}"), "link", "add", "name", subnet, "type", "bridge"])
            run(["ip", "-n", self.ns(f"sw-{subnet}"), "link", "set", subnet, "up"])
        for node, interfaces in links.items():
            for subnet, address in interfaces.items():
                switch = self.ns(f"sw-{subnet}")
                run(
                    [
                        "ip",
                        "-n",
                        self.ns(node),
                        "link",
                        "add",
                        subnet,
                        "type",
                        "veth",
                        "peer",
                        "name",
                        node,
                        "netns",
                        switch,
                    ]
                )
                run(["ip", "-n", switch, "link", "set", node, "master", subnet, "up"])
                run(["ip", "-n", self.ns(node), "address", "add", address, "dev", subnet])
                run(["ip", "-n", self.ns(node), "link", "set", subnet, "up"])
        self.sysctl("router", "net.ipv4.ip_forward=1")
        self.sysctl("win-client", "net.ipv4.ip_default_ttl=128", "net.ipv4.tcp_syn_retries=2")
        for node, gateway in (("win-client", "10.0.31.1"), ("server", "10.0.31.1"), ("remote-client", "10.0.2.1")):
            run(["ip", "-n", self.ns(node), "route", "add", "default", "via", gateway])
        run(["ip", "-n", self.ns("win-client"), "route", "add", "172.19.0.0/16", "via", "10.0.31.2"])
        self.hosts_file("win-client", {f"taosnode{i}": f"172.19.0.4{i}" for i in (1, 2, 3)})
        self.hosts_file("remote-client", {f"taosnode{i}": "10.0.31.2" for i in (1, 2, 3)})
        (self.root / "win-cfg").mkdir()
        (self.root / "win-cfg" / "taos.cfg").write_text(
            f"firstEp     taosnode1:6030\nsecondEp    taosnode2:{self.nodes['taosnode2'][0]}\n"
        )

    def sysctl(self, node: str, *settings: str) -> None:
        """Set kernel settings of a node's namespace."""
        run(["ip", "netns", "exec", self.ns(node), "sysctl", "-q", "-w", *settings])

    def hosts_file(self, node: str, entries: dict[str, str]) -> None:
        """/etc/netns/NS/hosts: `ip netns exec` binds it over /etc/hosts."""
        directory = ETC_NETNS / self.ns(node)
        directory.mkdir(parents=True)
        self.etc_dirs.append(directory)
        lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{node}", *(f"{ip}\t{name}" for name, ip in entries.items())]
        (directory / "hosts").write_text("\n".join(lines) + "\n")

    def start_dockerd(self) -> None:
        """dockerd in the server's namespace with its own roots, socket and containerd namespace."""
        argv = [
            "nsenter",
            f"--net=/run/netns/{self.ns('server')}",
            "dockerd",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--host",
            f"unix://{self.root / 'docker.sock'}",
            "--pidfile",
            str(self.root / "docker.pid"),
            "--containerd-namespace",
            self.tag,
            "--containerd-plugins-namespace",
            f"{self.tag}-plugins",
            "--bridge",
            "none",
            f"--userland-proxy={'true' if self.userland_proxy else 'false'}",
        ]
        with open(self.root / "dockerd.log", "wb") as log:
            self.dockerd = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        deadline = time.monotonic() + DAEMON_TIMEOUT_S
        while self.docker("version", check=False, timeout=5).returncode != 0:
            if self.dockerd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not start; see {self.root / 'dockerd.log'}")
            time.sleep(0.05)

    def image(self) -> None:
        """Import the tiny base image and create the containers' network."""
        self.docker("import", "-", "lab-base:1", input=base_rootfs())
        self.docker(
            "network",
            "create",
            "--driver",
            "bridge",
            "--subnet",
            "172.19.0.0/16",
            "--gateway",
            "172.19.0.1",
            "-o",
            "com.docker.network.bridge.name=br-taosnet",
            "taosnet",
        )

    def start_containers(self) -> None:
        """`docker run -d` the three dnodes concurrently."""
        processes = []
        for index, (name, (port, published)) in enumerate(self.nodes.items(), 1):
            config = self.root / "cfg" / name
            config.mkdir(parents=True)
            (config / "taos.cfg").write_text(
                f"firstEp     taosnode1:6030\nsecondEp    taosnode2:{self.nodes['taosnode2'][0]}\n"
                f"fqdn        {name}\nserverPort  {port}\n"
            )
            ports = f"{published}-{published + 12}:{port}-{port + 12}"
            argv = [
                "docker",
                "run",
                "--detach",
                "--name",
                name,
                "--hostname",
                name,
                "--network",
                "taosnet",
                "--ip",
                f"172.19.0.4{index}",
                "--publish",
                ports,
                "--publish",
                f"{ports}/udp",
            ]
            for key, value in ENV.items():
                argv += ["--env", f"{key}={value}"]
            for source, target in (("/usr", "/usr"), (str(PROJECT), str(PROJECT)), (str(config), "/etc/taos")):
                argv += ["--mount", f"type=bind,source={source},target={target},readonly"]
            for folder in ("/var/lib/taos", "/var/log/taos"):  # dataDir and logDir, as an installer makes them
                argv += ["--tmpfs", folder]
            argv += ["lab-base:1", "taosd", "-c", "/etc/taos"]
            self.containers.append(name)
            processes.append(
                subprocess.Popen(
                    argv, env=self.docker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
                )
            )
        failures = []
        for process in processes:
            _, err = process.communicate(timeout=COMMAND_TIMEOUT_S)
            if process.returncode != 0:
                failures.append(err.decode(errors="replace").strip())
        if failures:
            raise RuntimeError("docker run failed: " + "; ".join(failures))

    def taos(self, sql: str, until: str, times: int, timeout: float) -> str:
        """`taos -s SQL` in taosnode1, repeated until `until` shows `times` times."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.docker("exec", "taosnode1", "taos", "-s", sql, check=False, timeout=timeout)
            output = result.stdout.decode(errors="replace")
            if output.count(until) >= times:
                return output
            if time.monotonic() + POLL_S >= deadline:
                raise RuntimeError(f"taos -s {sql!r}: {until!r} not seen {times} time(s) within {timeout}s:\n{output}")
            time.sleep(POLL_S)

    def form_cluster(self) -> None:
        """Wait for the mnode, add dnodes 2 and 3, wait for three ready dnodes."""
        self.taos("show dnodes", "Query OK", 1, 30)
        for name in ("taosnode2", "taosnode3"):
            self.taos(f'create dnode "{name}:{self.nodes[name][0]}"', "Query OK", 1, 10)
        self.taos("show dnodes", " ready ", 3, 60)

    def clients(self) -> dict[str, str]:
        """Each client's connect and `show dnodes`, as the scenario runs them."""
        remote = ["-h", "10.0.31.2", "-P", str(self.nodes["taosnode1"][1])]
        outputs = {}
        for node, options in (("win-client", ["-c", str(self.root / "win-cfg")]), ("remote-client", remote)):
            for sql in ("quit", "show dnodes"):
                result = run(["ip", "netns", "exec", self.ns(node), "taos", *options, "-s", sql], env=ENV, timeout=30)
                outputs[f"{node}: {sql}"] = (result.stdout + result.stderr).decode(errors="replace")
        return outputs

    # -- teardown -----------------------------------------------------------------
    def teardown(self) -> None:
        """Remove the containers, stop dockerd, end leftovers in our namespaces, delete them and our files.

        The server's nat and filter tables are flushed first and containerd is stopped before
        dockerd, as the lab does: the namespace and its rules go away anyway, and dockerd then
        has no per-port rules to delete and no containerd to wait for.
        """
        if self.dockerd is not None and self.dockerd.poll() is None:
            if self.containers:
                for table in ("nat", "filter"):  # dockerd would otherwise delete each published port's rules one by one
                    run(
                        ["ip", "netns", "exec", self.ns("server"), "iptables", "--wait", "-t", table, "--flush"],
                        check=False,
                    )
                self.docker("rm", "--force", "--volumes", *self.containers, check=False)
            self.stop_containerd()
            self.dockerd.send_signal(signal.SIGTERM)
            try:
                self.dockerd.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(self.dockerd.pid, signal.SIGKILL)
                self.dockerd.wait()
        for name in reversed(self.namespaces):
            inode = netns_inode(name)
            for pid in pids_in_netns(inode) if inode else ():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            run(["ip", "netns", "delete", name], check=False)
        prefix = f"{self.root}/"
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
            run(["umount", "--lazy", target], check=False)
        for directory in self.etc_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        shutil.rmtree(self.root, ignore_errors=True)
        self._remove_parents()

    def stop_containerd(self) -> None:
        """Stop dockerd's containerd first, as the lab does: dockerd would poll its exit once a second."""
        try:
            pidfd = os.pidfd_open(int((self.root / "exec" / "containerd" / "containerd.pid").read_text()))
        except (OSError, ValueError):
            return
        try:
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
            select.select([pidfd], [], [], STOP_WAIT_S)
        except ProcessLookupError:
            pass
        finally:
            os.close(pidfd)

    def _remove_parents(self) -> None:
        """Undo what `ip netns add` and the hosts files made around them, when nothing else uses it."""
        if self.made_etc_netns and ETC_NETNS.exists() and not any(ETC_NETNS.iterdir()):
            ETC_NETNS.rmdir()
        made_dir, made_mount = self.made_run_netns
        if RUN_NETNS.exists() and not any(RUN_NETNS.iterdir()):
            if made_mount and os.path.ismount(RUN_NETNS):
                run(["umount", str(RUN_NETNS)], check=False)
            if made_dir:
                RUN_NETNS.rmdir()


def replay(variant: str, userland_proxy: bool) -> dict:
    """Build, form, query and tear down one variant; return its phase times and client outputs."""
    phases: dict[str, float] = {}
    started = mark = time.monotonic()

    def lap(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        phases[name] = round(now - mark, 3)
        mark = now

    with Deployment(variant, userland_proxy) as deployment:
        deployment.network()
        lap("network")
        deployment.start_dockerd()
        lap("dockerd")
        deployment.image()
        lap("image")
        deployment.start_containers()
        lap("containers")
        deployment.form_cluster()
        lap("formation")
        outputs = deployment.clients()
        lap("clients")
    lap("teardown")
    phases["total"] = round(time.monotonic() - started, 3)
    return {"variant": variant, "phases_s": phases, "outputs": outputs}


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variant",
        choices=sorted(VARIANTS),
        action="append",
        help="replay only this variant (repeatable; default: original, then fixed)",
    )
    parser.add_argument("--userland-proxy", choices=("on", "off"), default="on")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    try:
        variants = [replay(v, args.userland_proxy == "on") for v in args.variant or ("original", "fixed")]
    except KeyboardInterrupt:
        print("baseline interrupted; everything it made was removed", file=sys.stderr)
        return 130
    json.dump(
        {"total_s": round(time.monotonic() - started, 3), "userland_proxy": args.userland_proxy, "variants": variants},
        sys.stdout,
        indent=1,
    )
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
