"""Build one variant's deployment (network, Docker engines, containers, captures) and tear it down.

Everything created is registered for undoing the moment it exists, so teardown removes
exactly what this run made, in reverse order, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable

from ..scenario import model
from .commands import BuildError, CommandRunner, Transcript
from .docker import DockerEngine
from .journal import Journal
from .network import Network
from .software import PROJECT_ROOT, node_environment

CAPTURE_READY_TIMEOUT_S = 10

Progress = Callable[[str], None]


class Deployment:
    """A built variant: use `with Deployment(...) as deployment:`; leaving the block tears it down."""

    def __init__(self, variant: model.Variant, workdir: Path, capture_dir: Path, transcript: Transcript,
                 run_id: str, journal: Journal, progress: Progress):
        self.variant = variant
        self.journal = journal
        self.workdir = workdir
        self.capture_dir = capture_dir
        self.transcript = transcript
        self.run_id = run_id
        self.progress = progress
        self.env = node_environment(variant.deployment.software)
        self.network = Network(variant.deployment, workdir, transcript, self.env, journal)
        self.engines: dict[str, DockerEngine] = {}
        self.container_host: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self._undo = contextlib.ExitStack()

    def __enter__(self) -> "Deployment":
        try:
            self._build()
        except BaseException:
            self._undo.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        started = time.monotonic()
        self._undo.close()
        self.progress(f"torn down in {time.monotonic() - started:.1f}s")

    def _timed(self, label: str, action: Callable[[], object]) -> None:
        started = time.monotonic()
        self.progress(f"{label} ...")
        action()
        self.progress(f"{label}: done in {time.monotonic() - started:.1f}s")

    def _build(self) -> None:
        deployment = self.variant.deployment
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._undo.callback(self.network.stop)
        self._timed(f"network: {len(deployment.nodes)} nodes on {len(deployment.subnets)} subnets",
                    self.network.build)
        for capture in self.variant.captures:
            self._start_capture(capture)
        for host in deployment.docker_hosts:
            engine = DockerEngine(
                host, self.network.netns_path(host.name), self.workdir / "docker" / host.name, self.transcript,
                self.run_id, container_env=self.env,
                container_mounts=[model.Mount("/usr", "/usr", True), model.Mount(str(PROJECT_ROOT), str(PROJECT_ROOT), True)],
                journal=self.journal)
            self.engines[host.name] = engine
            self._undo.callback(engine.stop)
            self._timed(f"{host.name}: dockerd", engine.start)
            self.versions["docker"] = engine.version()
            self._timed(f"{host.name}: base image and {len(host.networks)} network(s)",
                        lambda: (engine.load_base_image(), engine.create_networks()))
            for container in host.containers:
                self.container_host[container.name] = host.name
                self._timed(f"{host.name}: container {container.name} ({container.ip}, "
                            f"{len(container.ports)} published port(s))", lambda c=container: engine.start_container(c))

    def _start_capture(self, capture: model.Capture) -> None:
        self.capture_dir.mkdir(parents=True, exist_ok=True)
        path = self.capture_dir / f"{capture.node}-{capture.interface}.pcap"
        runner = self.network.runner(capture.node)
        process = runner.start(["tcpdump", "-i", capture.interface, "-n", "-U", "-Z", "root", "-s", "0",
                                "-w", str(path)], stdout=subprocess.DEVNULL)
        self.journal.process(process.pid, f"tcpdump on {capture.node}:{capture.interface}")
        self._undo.callback(self._stop_capture, process, capture)
        deadline = time.monotonic() + CAPTURE_READY_TIMEOUT_S
        line = b""
        while b"listening on" not in line:
            line = process.stderr.readline()
            if not line and process.poll() is not None or time.monotonic() > deadline:
                raise BuildError(f"tcpdump on {capture.node}:{capture.interface} did not start: "
                                 f"{process.stderr.read().decode(errors='replace')}")

    def _stop_capture(self, process: subprocess.Popen, capture: model.Capture) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        self.transcript.write(f"[{capture.node}] tcpdump -i {capture.interface} stopped: "
                              f"{err.decode(errors='replace').strip()}")

    def save_state(self, directory: Path) -> None:
        """Keep what each node looked like after the steps: hosts file, addresses, routes, NAT counters."""
        for node in self.variant.deployment.nodes:
            node_dir = directory / node.name
            node_dir.mkdir(parents=True, exist_ok=True)
            run = self.network.runner(node.name).run
            commands = {"hosts": ["cat", "/etc/hosts"], "addresses": ["ip", "-4", "-br", "address"],
                        "routes": ["ip", "route"]}
            if node.name in self.engines:
                commands["iptables"] = ["iptables-save", "-c"]
                commands["containers"] = None
            for name, argv in commands.items():
                if argv is None:
                    result = self.engines[node.name].docker("ps", "--all", "--no-trunc", "--format",
                                                            "{{.Names}}\t{{.Status}}\t{{.Ports}}", check=False)
                else:
                    result = run(argv, check=False, timeout=30)
                (node_dir / f"{name}.txt").write_text(result.stdout if result.exit_code == 0 else result.output)

    def runner_for(self, target: str) -> CommandRunner:
        """Runs programs on a node, or in a container through `docker exec`."""
        if target in self.container_host:
            engine = self.engines[self.container_host[target]]
            return CommandRunner(target, self.transcript, env=engine.cli.env,
                                 spawn=lambda argv, **kw: subprocess.Popen(
                                     ["docker", "exec", "-i", target, *argv], start_new_session=True, **kw))
        return self.network.runner(target)
