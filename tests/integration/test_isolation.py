"""Two labs at once do not see each other; a Docker Engine already on the machine is left untouched."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from lab.deploy.journal import unmount_below

from ..conftest import REPO
from . import machine
from .conftest import LabRun, run_lab

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

NAT = REPO / "scenarios" / "docker-nat-reachability.yaml"


def test_two_runs_of_one_scenario_at_the_same_time(tmp_path):
    command = [sys.executable, "-m", "lab", "run", str(NAT), "--results", str(tmp_path)]
    processes = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    finished = [process.communicate(timeout=600) for process in processes]
    runs = []
    for process, (stdout, stderr) in zip(processes, finished, strict=True):
        assert process.returncode == 0, stdout + stderr
        runs.append(LabRun(0, stdout, stderr, REPO / stdout.strip().splitlines()[-1].removeprefix("results: ")))
    first, second = runs
    assert first.run_dir != second.run_dir
    assert first.results["run_id"] != second.results["run_id"]
    for run in runs:
        assert run.results["summary"]["all_met"]
        # each run's own server saw only its own clients' packets
        transcript = (run.run_dir / "transcript.log").read_text()
        other = (second if run is first else first).results["run_id"]
        assert f"lab-{other}" not in transcript


@pytest.fixture
def machine_docker():
    """A Docker Engine as if already installed and in use on the machine: its own netns and data, one container."""
    name = f"labtest-{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    root = Path(tempfile.mkdtemp(prefix="labtest-docker-", dir="/tmp"))  # short: unix socket paths are limited
    socket = root / "docker.sock"
    env = dict(os.environ, DOCKER_HOST=f"unix://{socket}")
    daemon = subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{name}",
            "dockerd",
            "--data-root",
            str(root / "data"),
            "--exec-root",
            str(root / "exec"),
            "-H",
            f"unix://{socket}",
            "--pidfile",
            str(root / "docker.pid"),
            "--bridge",
            "none",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while subprocess.run(["docker", "version"], env=env, capture_output=True).returncode != 0:
            assert time.monotonic() < deadline and daemon.poll() is None, "the machine's dockerd did not start"
            time.sleep(0.1)
        tar = subprocess.run(["tar", "-C", str(REPO / "tests"), "-c", "conftest.py"], capture_output=True, check=True)
        subprocess.run(
            ["docker", "import", "-", "machine/image:1"], input=tar.stdout, env=env, check=True, capture_output=True
        )
        subprocess.run(
            ["docker", "network", "create", "--subnet", "172.19.0.0/16", "machine-net"],
            env=env,
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "docker",
                "create",
                "--name",
                "machine-container",
                "--network",
                "machine-net",
                "machine/image:1",
                "/conftest.py",
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        yield env
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        subprocess.run(["ip", "netns", "delete", name], check=True)
        unmount_below(str(root))  # a dockerd that failed to start may leave its data-root mounted
        shutil.rmtree(root)


def docker_state(env) -> dict[str, str]:
    def listing(*args):
        return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, check=True).stdout

    return {
        "containers": listing("ps", "--all", "--format", "{{.ID}} {{.Names}} {{.Status}}"),
        "images": listing("images", "--all", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"),
        "networks": listing("network", "ls", "--format", "{{.ID}} {{.Name}}"),
        "volumes": listing("volume", "ls", "--format", "{{.Name}}"),
    }


def test_a_docker_engine_already_on_the_machine_is_untouched(tmp_path, machine_docker):
    before, network_before = docker_state(machine_docker), machine.root_network()
    good = run_lab(NAT, tmp_path / "results")
    assert good.returncode == 0, good.stdout + good.stderr
    broken = tmp_path / "broken.yaml"  # a run whose variant fails to build must be as harmless
    broken.write_text(
        NAT.read_text()
        .replace("lab.services.echo", "lab.services.no_such_module")
        .replace("[python3, -m", "[/no/such/program, -m")
    )
    failed = run_lab(broken, tmp_path / "results")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "could not be built" in failed.stdout
    assert docker_state(machine_docker) == before
    assert machine.root_network() == network_before
