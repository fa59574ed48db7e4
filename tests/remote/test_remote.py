"""`python -m lab ... --on HOST` through a real sshd: install, run, results back, refusals, Ctrl-C, lost connections."""

from __future__ import annotations

import glob
import json
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lab.deploy.journal import STATE_DIR
from lab.remote.connection import Target
from lab.remote.scenario_files import referenced_files
from lab.scenario.loader import load_scenario

from ..conftest import REPO
from ..integration import machine
from .conftest import keygen

NAT = "scenarios/docker-nat-reachability.yaml"
TEARDOWN_TIMEOUT_S = 300


def last_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[-1]


def wait_for(process: subprocess.Popen, text: str) -> list[str]:
    """stderr lines of `process` up to the first holding `text` (all of them if it ends first)."""
    seen = []
    for line in process.stderr:
        seen.append(line)
        if text in line:
            break
    return seen


def tethers(remote_home: Path) -> list[int]:
    """Pids of the tethered remote commands of this session's installs."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"python") and any(
            arg.startswith(str(remote_home).encode()) and arg.endswith(b"/tether.py") for arg in argv
        ):  # not the sudo that started it
            found.append(int(entry.name))
    return found


def kill_mid_run(process: subprocess.Popen, remote_home: Path) -> None:
    """Kill the client `process` of a run of NAT once its lab is being built; return once the
    remote run (its tether under `remote_home`) has ended."""
    seen = wait_for(process, "container taosnode2")
    assert any("container taosnode2" in line for line in seen), "".join(seen)
    (tether,) = tethers(remote_home)
    exited = os.pidfd_open(tether)
    process.kill()  # the client vanishes: its SSH connection closes without a word
    process.communicate(timeout=30)
    assert select.select([exited], [], [], TEARDOWN_TIMEOUT_S)[0], "the remote run outlived its session"
    os.close(exited)


def assert_left_nothing(run_dir: Path) -> None:
    """Nothing of the run behind `run_dir` is left on the machine (other labs may run meanwhile)."""
    run_id = json.loads((run_dir / "results.json").read_text())["run_id"]
    assert not (STATE_DIR / f"{run_id}.jsonl").exists(), "the run's journal still lists objects that exist"
    assert machine.lab_processes((f"lab-{run_id}",)) == []
    assert not glob.glob(f"/tmp/lab-{run_id}-*")


def run_folders(client) -> set[Path]:
    """The remote side's per-command folders."""
    runs = client.remote_home / "runs"
    return set(runs.iterdir()) if runs.exists() else set()


@pytest.mark.parametrize(
    "text,target",
    [
        ("lab1", Target("lab1")),
        ("root@lab1:2222", Target("lab1", "root", 2222)),
        ("ops@[fd00::5]:22", Target("fd00::5", "ops", 22)),
        ("fd00::5", Target("fd00::5")),
    ],
)
def test_target_syntax(text, target):
    assert Target.parse(text) == target


@pytest.mark.parametrize("text", ["@lab1", "lab1:ssh", "lab1:0", ""])
def test_bad_target_is_usage_error(text):
    with pytest.raises(ValueError):
        Target.parse(text)


@pytest.mark.parametrize(
    "args,message",
    [
        ((NAT, "--identity", "/nonexistent/key"), "--identity and --accept-new-host-key only apply with --on HOST"),
        ((NAT, "--accept-new-host-key"), "--identity and --accept-new-host-key only apply with --on HOST"),
        ((NAT, "--on", "lab1:ssh"), "--on 'lab1:ssh': port 'ssh' is not a number between 1 and 65535"),
        ((NAT, "--on", "lab1", "--identity", "/nonexistent/key"), "--identity /nonexistent/key: no such file"),
    ],
)
def test_bad_remote_options_are_usage_errors_before_connecting(offline_client, args, message):
    result = offline_client.run("validate", *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not offline_client.remote_home.exists()  # nothing was installed anywhere


@pytest.mark.root
def test_run_on_remote_machine_brings_results_back(client, sshd, installed, tmp_path):
    folders_before = run_folders(client)
    results = tmp_path / "local-results"
    run = client.run("run", NAT, "--on", sshd.target, "--identity", str(sshd.client_key), "--results", str(results))
    assert run.returncode == 0, run.stdout + run.stderr
    (run_dir,) = results.iterdir()
    assert last_line(run.stdout) == f"results: {run_dir}"
    record = json.loads((run_dir / "results.json").read_text())
    assert record["complete"] is True and record["summary"]["all_met"] is True
    assert (run_dir / "default" / "captures" / "server-lan.pcap").stat().st_size > 24
    assert "expectations met: 11/11" in run.stdout  # the remote's table and summary, relayed
    assert "remote-client tcp-published: ok" in run.stderr  # its progress, relayed live
    assert run_folders(client) <= folders_before, "the remote run folder was left behind"
    assert_left_nothing(run_dir)


WITH_FILES = """
name: with-files
vars: {conf: conf}
subnets: {lan: 10.0.31.0/24}
docker_hosts:
  server:
    interfaces: {lan: 10.0.31.2}
    networks:
      appnet: {subnet: 172.19.0.0/16, gateway: 172.19.0.1, bridge: br-app}
    containers:
      app: {network: appnet, ip: 172.19.0.41, mounts: ["data:/data:ro"], command: [sleep, "60"]}
hosts:
  client:
    interfaces: {lan: 10.0.31.5}
    files: {/etc/greeting: {from: "${conf}/greeting.txt"}}
steps:
  - {name: greet, on: [client], run: [cat, /etc/greeting]}
variants:
  first: {description: the greeting of conf/}
  second: {description: the greeting of other/, set: {vars: {conf: other}}}
"""


@pytest.mark.root
def test_scenario_travels_with_its_files_and_ssh_config_alias_works(client, sshd, installed, tmp_path):
    scenario = tmp_path / "scenarios" / "with-files.yaml"
    for name, content in {
        "conf/greeting.txt": b"hello\n",
        "other/greeting.txt": b"hi\n",
        "data/deep/blob.bin": b"\0\1",
        "unrelated.txt": b"stays here\n",
    }.items():
        (scenario.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (scenario.parent / name).write_bytes(content)
    scenario.write_text(WITH_FILES)
    assert referenced_files(scenario, load_scenario(scenario)) == [
        "conf/greeting.txt",
        "data/deep/blob.bin",
        "other/greeting.txt",
    ]
    (client.home / ".ssh" / "config").write_text(
        f"Host labbox\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n  IdentityFile {sshd.client_key}\n"
    )
    remote = client.run("validate", str(scenario), "--on", "labbox")
    assert remote.returncode == 0, remote.stdout + remote.stderr
    assert "ok — scenario 'with-files', 2 variant(s)" in remote.stdout


@pytest.mark.root
def test_remote_exit_status_is_passed_on(client, sshd, installed):
    result = client.run("clean", "--run", "no-such-run", "--on", sshd.target, "--identity", str(sshd.client_key))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no journal of a run 'no-such-run'" in result.stderr


def test_invalid_scenario_is_reported_before_connecting(offline_client, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: broken\nsubnets: {lan: 10.0.0.0/24}\nstep: []\n")
    with socket.socket() as silent:  # nothing may even try to connect
        silent.bind(("127.0.0.1", 0))
        result = offline_client.run("validate", str(broken), "--on", f"root@127.0.0.1:{silent.getsockname()[1]}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unknown key 'step'" in result.stderr and "unreachable" not in result.stderr


@pytest.mark.root
def test_unknown_host_key_is_refused_with_how_to_accept(client, sshd):
    client.known_hosts.write_text("")
    result = client.run("validate", NAT, "--on", sshd.target, "--identity", str(sshd.client_key))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"root@127.0.0.1:{sshd.port}: unknown host" in result.stderr
    assert "--accept-new-host-key" in result.stderr
    assert client.known_hosts.read_text() == ""


@pytest.mark.root
def test_accept_new_host_key_records_it(client, sshd, installed):
    client.known_hosts.write_text("# kept\n")
    first = client.run(
        "validate", NAT, "--on", sshd.target, "--identity", str(sshd.client_key), "--accept-new-host-key"
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert client.known_hosts.read_text() == "# kept\n" + sshd.host_key_line
    again = client.run("validate", NAT, "--on", sshd.target, "--identity", str(sshd.client_key))
    assert again.returncode == 0, again.stdout + again.stderr


@pytest.mark.root
def test_changed_host_key_is_refused(client, sshd, tmp_path):
    other = Path(f"{keygen(tmp_path / 'other_host_key')}.pub").read_text().split()
    client.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other[0]} {other[1]}\n")
    result = client.run(
        "validate", NAT, "--on", sshd.target, "--identity", str(sshd.client_key), "--accept-new-host-key"
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "differs from the one in" in result.stderr and "ssh-keygen -R" in result.stderr


@pytest.mark.root
def test_wrong_key_fails_authentication(client, sshd, tmp_path):
    wrong = keygen(tmp_path / "wrong_key")
    result = client.run("validate", NAT, "--on", sshd.target, "--identity", str(wrong))
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"root@127.0.0.1:{sshd.port}: authentication failed" in result.stderr


def test_unreachable_port(offline_client):
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        result = offline_client.run("clean", "--on", f"root@127.0.0.1:{port}")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"root@127.0.0.1:{port}: unreachable" in result.stderr


@pytest.mark.root
def test_ctrl_c_stops_the_remote_run_and_tears_it_down(client, sshd, installed, tmp_path):
    results = tmp_path / "local-results"
    process = client.start(
        "run", NAT, "--on", sshd.target, "--identity", str(sshd.client_key), "--results", str(results)
    )
    seen = wait_for(process, "container taosnode2")
    assert any("container taosnode2" in line for line in seen), "".join(seen)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=TEARDOWN_TIMEOUT_S)
    assert process.returncode == 130, "".join(seen) + stdout + stderr
    assert "interrupted: the lab was torn down" in stderr  # the remote lab's own word
    (run_dir,) = results.iterdir()
    assert json.loads((run_dir / "results.json").read_text())["complete"] is False
    assert_left_nothing(run_dir)


@pytest.mark.root
def test_lost_connection_tears_the_remote_run_down(client, sshd, installed, tmp_path):
    folders_before = run_folders(client)
    process = client.start(
        "run", NAT, "--on", sshd.target, "--identity", str(sshd.client_key), "--results", str(tmp_path)
    )
    kill_mid_run(process, client.remote_home)
    (work,) = run_folders(client) - folders_before  # no client was left to copy results back or clean up
    (run_dir,) = (work / "results").iterdir()
    assert json.loads((run_dir / "results.json").read_text())["complete"] is False
    assert_left_nothing(run_dir)
    fetched = tmp_path / "fetched"
    fetch = client.run("fetch", "--on", sshd.target, "--identity", str(sshd.client_key), "--results", str(fetched))
    assert fetch.returncode == 0, fetch.stdout + fetch.stderr
    (copy,) = fetched.iterdir()  # the next contact brings it home, marked incomplete, and removes it there
    assert copy.name == run_dir.name
    assert json.loads((copy / "results.json").read_text())["complete"] is False
    assert fetch.stdout.strip() == f"results: {copy}"
    assert "a run whose connection was lost (incomplete)" in fetch.stderr
    assert not work.exists()
    again = client.run("fetch", "--on", sshd.target, "--identity", str(sshd.client_key), "--results", str(fetched))
    assert again.returncode == 0 and "no results of a run whose connection was lost" in again.stdout


def test_tether_stops_its_program_once_when_stdin_closes(tmp_path):
    program = (
        "import signal, sys\n"
        "signal.signal(signal.SIGINT, lambda *a: (print('torn down', flush=True), sys.exit(130)))\n"
        "print('ready', flush=True)\n"
        "signal.pause()\n"
    )
    tether = subprocess.Popen(
        [sys.executable, str(REPO / "lab" / "remote" / "tether.py"), sys.executable, "-c", program],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert tether.stdout.readline() == "ready\n"
    tether.stdin.close()
    assert tether.stdout.read() == "torn down\n"
    assert tether.wait(timeout=30) == 130


def test_symlink_under_a_mount_leading_outside_is_refused_before_connecting(offline_client, tmp_path):
    scenario = tmp_path / "scenarios" / "with-files.yaml"
    for name in ("conf/greeting.txt", "other/greeting.txt", "data/kept.txt"):
        (scenario.parent / name).parent.mkdir(parents=True, exist_ok=True)
        (scenario.parent / name).write_text("hello\n")
    (scenario.parent / "data" / "shadow").symlink_to("/etc/shadow")
    scenario.write_text(WITH_FILES)
    with socket.socket() as silent:  # nothing may even try to connect
        silent.bind(("127.0.0.1", 0))
        result = offline_client.run("validate", str(scenario), "--on", f"root@127.0.0.1:{silent.getsockname()[1]}")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "leads outside the scenario's folder (to /etc/shadow)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.root
def test_server_without_sftp_is_one_clear_line(client, sshd_without_sftp):
    client.known_hosts.write_text(sshd_without_sftp.host_key_line)
    result = client.run(
        "validate", NAT, "--on", sshd_without_sftp.target, "--identity", str(sshd_without_sftp.client_key)
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"cannot use the lab machine: root@127.0.0.1:{sshd_without_sftp.port}: the SSH server offers no SFTP "
        "subsystem, which the lab uses to copy files; enable it there (sshd_config: Subsystem sftp internal-sftp)"
    ]
