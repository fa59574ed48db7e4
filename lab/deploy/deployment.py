"""Build one variant's deployment (network, Docker engines, containers, captures) and tear it down.

Everything created is registered for undoing the moment it exists, so teardown removes
exactly what this run made, in reverse order, also after an error or Ctrl-C; SIGINT and
SIGTERM wait until the teardown is done (lab.deploy.signals).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from ..commands import CommandRunner, Transcript
from ..errors import BuildError
from ..scenario import model
from ..software import node_environment
from ..steps.probe import probe_argv
from .bytecode import compile_node_code
from .docker import DockerEngine
from .journal import Journal
from .network import Network
from .signals import HURRY, deferred_signals
from .state import save_state

CAPTURE_READY_TIMEOUT_S = 10
READY_TIMEOUT_S = 60
EVIDENCE_LINES = 20  # lines of a failed container's log quoted in the error
CONTAINER_START_WORKERS = 4  # containers of one Docker host are independent: this many start at once

Progress = Callable[[str], None]


class Deployment:
    """A built variant: use `with Deployment(...) as deployment:`; leaving the block tears it down."""

    def __init__(
        self,
        variant: model.Variant,
        workdir: Path,
        variant_dir: Path,
        transcript: Transcript,
        run_id: str,
        journal: Journal,
        progress: Progress,
    ):
        self.variant = variant
        self.journal = journal
        self.workdir = workdir
        self.capture_dir = variant_dir / "captures"
        self.state_dir = variant_dir / "state"  # what each node looked like (save_state), and failure evidence
        self.transcript = transcript
        self.run_id = run_id
        self.progress = progress
        self.env = node_environment(variant.deployment.software)
        self.network = Network(variant.deployment, workdir, transcript, self.env, journal)
        self.engines: dict[str, DockerEngine] = {}
        self.container_host: dict[str, str] = {}
        self.versions: dict[str, str] = {}
        self.phases: dict[str, float] = {}  # seconds per build and teardown phase, summed over Docker hosts
        self._undo = contextlib.ExitStack()

    def __enter__(self) -> Deployment:
        try:
            self._build()
        except BaseException:
            with deferred_signals(self.progress):
                self.progress("build stopped: tearing down what was built ...")
                self._undo.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        with deferred_signals(self.progress):
            started = time.monotonic()
            self.progress("tearing down ...")
            self._undo.close()
            self.progress(f"torn down in {time.monotonic() - started:.1f}s")

    def _timed(self, phase: str | None, label: str, action: Callable[[], object]) -> None:
        """Run `action` with progress lines; add its time to `phase` of phases_s (None: not a phase)."""
        started = time.monotonic()
        self.progress(f"{label} ...")
        action()
        elapsed = time.monotonic() - started
        if phase:
            self._add_phase(phase, elapsed)
        self.progress(f"{label}: done in {elapsed:.1f}s")

    def _add_phase(self, phase: str, seconds: float) -> None:
        self.phases[phase] = round(self.phases.get(phase, 0.0) + seconds, 3)

    def _undo_timed(self, phase: str, action: Callable[..., object], *args) -> None:
        """Register an undo action whose time counts towards `phase` (a teardown phase)."""

        def timed():
            started = time.monotonic()
            try:
                action(*args)
            finally:
                self._add_phase(phase, time.monotonic() - started)

        self._undo.callback(timed)

    def _build(self) -> None:
        deployment = self.variant.deployment
        self.workdir.mkdir(parents=True, exist_ok=True)
        compile_node_code()
        self._undo_timed("teardown_network", self.network.stop)
        self._timed(
            "network",
            f"network: {len(deployment.nodes)} nodes on {len(deployment.subnets)} subnets",
            self.network.build,
        )
        if self.variant.captures:
            self._timed(
                "captures",
                f"captures: {len(self.variant.captures)} interface(s)",
                lambda: [self._start_capture(capture) for capture in self.variant.captures],
            )
        for host in deployment.docker_hosts:
            engine = DockerEngine(
                host,
                self.network.netns_path(host.name),
                self.workdir / "docker" / host.name,
                self.transcript,
                self.run_id,
                software=deployment.software,
                journal=self.journal,
            )
            self.engines[host.name] = engine
            self._undo_timed("teardown_docker", engine.stop)
            self._timed(
                "dockerd",
                f"{host.name}: dockerd" + ("" if host.userland_proxy else " (no userland proxy)"),
                engine.start,
            )
            self.versions["docker"] = engine.server_version
            self._timed("image", f"{host.name}: base image", engine.load_base_image)
            self._timed("docker_networks", f"{host.name}: {len(host.networks)} network(s)", engine.create_networks)
            # a captured Docker host is also captured on its bridges: they show NAT's translation
            if any(capture.node == host.name for capture in self.variant.captures):
                for network in host.networks:
                    self._start_capture(model.Capture(host.name, network.bridge))
            for container in host.containers:
                self.container_host[container.name] = host.name
            if host.containers:
                self._timed(
                    "containers",
                    f"{host.name}: {len(host.containers)} container(s), up to {CONTAINER_START_WORKERS} at a time",
                    functools.partial(self._start_containers, engine, host),
                )
            waiting = [c for c in host.containers if c.ready]
            if waiting:
                self._timed(
                    "ready",
                    f"{host.name}: waiting for {len(waiting)} service(s) to accept connections",
                    functools.partial(self._wait_ready, host, waiting),
                )

    def _wait_ready(self, host: model.DockerHost, containers: list[model.Container]) -> None:
        """Probe each container's `ready` port from its Docker host until it accepts (bounded).

        A container whose main process has exited fails at once, with its exit status and
        the tail of its log (kept whole in the run folder), instead of running out the wait.
        """
        runner = self.network.runner(host.name)
        engine = self.engines[host.name]
        for container in containers:
            protocol, port = container.ready
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                result = runner.run(probe_argv(protocol, str(container.ip), port, 1), check=False, timeout=10)
                if result.exit_code == 0:
                    break
                status = engine.state(container.name)
                if status.startswith("exited") or time.monotonic() > deadline:
                    why = (
                        f"{status} before it accepted {protocol} connections on {container.ip}:{port}"
                        if status.startswith("exited")
                        else f"did not accept {protocol} connections on {container.ip}:{port} within {READY_TIMEOUT_S}s "
                        f"(it is {status}):\n{result.describe()}"
                    )
                    raise BuildError(f"container {container.name} {why}\n{self._container_evidence(engine, container)}")
                time.sleep(0.1)

    def _container_evidence(self, engine: DockerEngine, container: model.Container) -> str:
        """The tail of a container's log for an error message; the whole log goes to the run folder."""
        logs = engine.docker("logs", "--timestamps", container.name, check=False, timeout=30).output
        folder = self.state_dir / engine.host.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"container-{container.name}.log"
        path.write_text(logs)
        tail = (
            "\n".join("    " + line for line in logs.rstrip().splitlines()[-EVIDENCE_LINES:])
            or "    (it printed nothing)"
        )
        return f"its log ends (whole log: {path}):\n{tail}"

    def _start_containers(self, engine: DockerEngine, host: model.DockerHost) -> None:
        """Start the host's containers concurrently (a bounded pool); raise the failures' evidence.

        Every command still goes to the transcript, each container is journaled by
        `start_container`, and an interrupt or failure lets the running starts finish and
        cancels the queued ones before teardown.
        """

        def start(container: model.Container) -> None:
            self._timed(
                None,
                f"{host.name}: container {container.name} ({container.ip}, {len(container.ports)} published port(s))",
                lambda: engine.start_container(container),
            )

        failures = []
        with ThreadPoolExecutor(
            max_workers=min(CONTAINER_START_WORKERS, len(host.containers)), thread_name_prefix=f"start-{host.name}"
        ) as pool:
            futures = [pool.submit(start, container) for container in host.containers]
            try:
                for future in as_completed(futures):
                    if not future.cancelled() and future.exception() is not None:
                        failures.append(future.exception())
                        pool.shutdown(wait=False, cancel_futures=True)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        if failures:
            if len(failures) == 1:
                raise failures[0]
            raise BuildError("\n".join(str(failure) for failure in failures))

    def _start_capture(self, capture: model.Capture) -> None:
        self.capture_dir.mkdir(parents=True, exist_ok=True)
        path = self.capture_dir / f"{capture.node}-{capture.interface}.pcap"
        runner = self.network.runner(capture.node)
        # --immediate-mode: each packet reaches tcpdump at once; without it the kernel holds packets
        # in blocks for up to a second, and what it still holds when tcpdump stops is lost
        process = runner.start(
            [
                "tcpdump",
                "-i",
                capture.interface,
                "-n",
                "-U",
                "--immediate-mode",
                "-Z",
                "root",
                "-s",
                "0",
                "-w",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
        )
        self.journal.process(process.pid, f"tcpdump on {capture.node}:{capture.interface}")
        self._undo_timed("teardown_captures", self._stop_capture, process, capture)
        deadline = time.monotonic() + CAPTURE_READY_TIMEOUT_S
        line = b""
        while b"listening on" not in line:
            line = process.stderr.readline()
            if not line and process.poll() is not None or time.monotonic() > deadline:
                raise BuildError(
                    f"tcpdump on {capture.node}:{capture.interface} did not start: "
                    f"{process.stderr.read().decode(errors='replace')}"
                )

    def _stop_capture(self, process: subprocess.Popen, capture: model.Capture) -> None:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=0 if HURRY.is_set() else 10)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        self.transcript.write(
            f"[{capture.node}] tcpdump -i {capture.interface} stopped: {err.decode(errors='replace').strip()}"
        )

    def save_state(self) -> None:
        """Keep what each node looked like after the steps (lab.deploy.state); warn of containers
        that stopped after they were ready (the steps' outcomes may come from their absence)."""
        engines = {name: e.cli for name, e in self.engines.items()}
        for warning in save_state(self.variant, self.state_dir, self.network.runner, engines):
            self.transcript.write(warning)
            self.progress(warning)

    def runner_for(self, target: str) -> CommandRunner:
        """Runs programs on a node, or in a container through `docker exec`."""
        if target in self.container_host:
            engine = self.engines[self.container_host[target]]
            return CommandRunner(
                target,
                self.transcript,
                env=engine.cli.env,
                spawn=lambda argv, **kw: subprocess.Popen(
                    ["docker", "exec", "-i", target, *argv], start_new_session=True, **kw
                ),
            )
        return self.network.runner(target)
