"""Live labs with `--on HOST` through a real sshd: `up` outlives its SSH session, `status`, `exec`,
`shell` (a real local pseudo-terminal, a pseudo-terminal there), `capture` (pcap bytes for
`tcpdump -r -`), `steps`, and `down` bringing the results home and leaving nothing there."""

from __future__ import annotations

import glob
import json
import os
import re
import select
import signal
import subprocess
import uuid
from pathlib import Path

import pexpect
import pytest

from lab.deploy.journal import STATE_DIR, read, same_process
from lab.live import registry

from ..conftest import REPO
from ..integration import machine
from ..terminal import converse_in_remote_client
from .conftest import Client
from .test_remote import TEARDOWN_TIMEOUT_S, tethers

NAT = "scenarios/docker-nat-reachability.yaml"
UP_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def on(sshd, remote_home, installed, tmp_path_factory) -> tuple[Client, list[str]]:
    """A client that knows the test server, and the options that send a command there."""
    home = tmp_path_factory.mktemp("live-home")
    (home / ".ssh").mkdir(mode=0o700)
    (home / ".ssh" / "known_hosts").write_text(sshd.host_key_line)
    return Client(home, remote_home), ["--on", sshd.target, "--identity", str(sshd.client_key)]


@pytest.fixture(scope="module")
def live(on, sshd):
    """NAT brought up there by `up --on` (whose SSH session then ended); its name."""
    client, remote = on
    name = f"t-{uuid.uuid4().hex[:6]}-nat"
    up = client.run("up", NAT, "--name", name, *remote, timeout=UP_TIMEOUT_S)
    assert up.returncode == 0, up.stdout + up.stderr
    assert f"lab {name} is up" in up.stdout
    folder = str(client.remote_home / "labs")
    results = re.search(r"results: (\S+) \(on (\S+)\)", up.stdout)
    assert results and results.group(1).startswith(folder) and results.group(2) == f"root@127.0.0.1:{sshd.port}"
    assert f"--on {sshd.target}" in up.stdout  # how to reach it from here
    yield name
    if any(one.name == name for one in registry.labs()):  # a test failed before `down --on`
        client.run("down", name, *remote)


@pytest.mark.root
def test_status_lists_the_lab_that_outlived_its_session(on, live):
    client, remote = on
    listed = client.run("status", *remote)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if line.startswith(live)]
    assert row.split()[1] == "up"
    detail = client.run("status", *remote, live[:8])
    assert f"lab {live} is up" in detail.stdout and "remote-client" in detail.stdout, detail.stdout + detail.stderr
    wrong = client.run("status", *remote, "no-such-lab")
    assert wrong.returncode == 2 and live in wrong.stderr


@pytest.mark.root
def test_exec_returns_the_remote_status_and_output(on, live):
    client, remote = on
    ran = client.run("exec", *remote, live, "remote-client", "--", "sh", "-c", "hostname; echo to-stderr >&2; exit 7")
    assert ran.returncode == 7, ran.stdout + ran.stderr
    assert ran.stdout == "remote-client\n"
    assert "to-stderr" in ran.stderr
    probe = ["python3", "-m", "lab.steps.probe", "tcp", "10.0.31.2"]
    published = client.run("exec", *remote, live, "remote-client", "--", *probe, "16030")
    assert published.returncode == 0 and "connected" in published.stdout, published.stdout + published.stderr
    unpublished = client.run("exec", *remote, live, "remote-client", "--", *probe, "6030")
    assert unpublished.returncode == 1 and "refused" in unpublished.stdout, unpublished.stdout + unpublished.stderr
    wrong = client.run("exec", *remote, live, "no-such-node", "--", "true")
    assert wrong.returncode == 2 and "remote-client" in wrong.stderr and "Traceback" not in wrong.stderr


@pytest.mark.root
def test_a_shell_there_through_a_real_terminal(on, live):
    client, remote = on
    shell = pexpect.spawn(
        client.argv("shell", *remote, live, "remote-client")[0],
        client.argv("shell", *remote, live, "remote-client")[1:],
        cwd=str(REPO),
        env=client.env,
        encoding="utf-8",
        timeout=120,
        dimensions=(37, 101),
    )
    converse_in_remote_client(shell, live, resize_to=(40, 120), exit_status=3)  # Ctrl-C: not the client here


@pytest.mark.root
def test_exec_from_a_terminal_gets_a_terminal_there(on, live):
    client, remote = on
    argv = client.argv("exec", *remote, live, "remote-client", "--", "sh", "-c", "tty; stty size; exit 5")
    ran = pexpect.spawn(argv[0], argv[1:], cwd=str(REPO), env=client.env, encoding="utf-8", dimensions=(30, 90))
    ran.expect(r"/dev/pts/\d+\r\n30 90\r\n", timeout=120)
    ran.expect(pexpect.EOF)
    ran.close()
    assert ran.exitstatus == 5


@pytest.mark.root
def test_capture_there_gives_pcap_bytes_here(on, live, tmp_path):
    client, remote = on
    pcap = tmp_path / "remote-client.pcap"
    with open(pcap, "wb") as into:
        capture = subprocess.Popen(
            client.argv("capture", *remote, live, "remote-client:remote", "icmp", "-w", "-"),
            cwd=REPO,
            env=client.env,
            stdout=into,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            seen = [capture.stderr.readline()]
            while seen[-1] and "listening on" not in seen[-1]:
                seen.append(capture.stderr.readline())
            assert "listening on" in seen[-1], "".join(seen)
            ping = client.run("exec", *remote, live, "remote-client", "--", "ping", "-n", "-c", "3", "10.0.2.1")
            assert ping.returncode == 0, ping.stdout + ping.stderr
        finally:
            capture.send_signal(signal.SIGINT)  # as Ctrl-C: tcpdump there flushes and stops
            capture.wait(timeout=60)
    assert capture.returncode == 0, capture.stderr.read()
    with open(pcap, "rb") as source:
        text = subprocess.run(["tcpdump", "-n", "-r", "-"], stdin=source, capture_output=True, text=True, timeout=30)
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("10.0.2.61 > 10.0.2.1: ICMP echo request") == 3, text.stdout
    assert text.stdout.count("10.0.2.1 > 10.0.2.61: ICMP echo reply") == 3, text.stdout


@pytest.mark.root
def test_an_up_that_fails_or_lost_its_client_leaves_no_folder_there(on, live, tmp_path):
    client, remote = on
    labs = client.remote_home / "labs"
    folders = set(labs.iterdir())  # the live lab's
    lost = client.start("up", NAT, "--name", f"{live}-lost", *remote)
    seen = []
    for line in lost.stderr:  # the client vanishes while the lab is being built
        seen.append(line)
        if "container taosnode2" in line:
            break
    assert any("container taosnode2" in line for line in seen), "".join(seen)
    (tether,) = [
        pid for pid in tethers(client.remote_home) if "up" in Path(f"/proc/{pid}/cmdline").read_text().split("\0")
    ]
    ended = os.pidfd_open(tether)
    lost.kill()
    lost.communicate(timeout=30)
    assert select.select([ended], [], [], TEARDOWN_TIMEOUT_S)[0], "the remote `lab up` outlived its session"
    os.close(ended)
    assert all(one.name != f"{live}-lost" for one in registry.labs()), "the lost `up` left its lab up"
    results = tmp_path / "home-results"
    wrong = client.run("up", NAT, "--variant", "no-such-variant", *remote, "--results", str(results))
    assert wrong.returncode == 2 and "variants are: default" in wrong.stderr, wrong.stdout + wrong.stderr
    (brought,) = results.iterdir()  # the lost `up`'s results folder, brought home by the next `up --on`
    assert f"whose connection was lost, brought home to {brought}" in wrong.stderr
    assert (brought / "keeper.log").exists()
    assert set(labs.iterdir()) == folders


@pytest.mark.root
def test_cleaning_the_remote_cache_keeps_what_a_live_lab_needs(on, live):
    """`clean --on --remote-cache` while a lab is up there: its folder and the version its keeper runs stay."""
    client, remote = on
    (folder,) = (client.remote_home / "labs").iterdir()
    version = (folder / "version").read_text().strip()
    cleaned = client.run("clean", "--remote-cache", *remote)
    assert cleaned.returncode in (0, 1), cleaned.stdout + cleaned.stderr  # 1: another session's dead run
    assert (client.remote_home / "versions" / version / "lab" / "cli" / "steps.py").is_file(), cleaned.stdout
    assert (folder / "scenario" / Path(NAT).name).is_file(), cleaned.stdout
    assert "up" in client.run("status", *remote, live).stdout


@pytest.mark.root
def test_steps_there(on, live):
    client, remote = on
    ran = client.run("steps", *remote, live, "tcp-published")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "tcp-published" in ran.stdout and "tcp-by-name" not in ran.stdout
    assert re.search(r"results: \S+ \(on root@127\.0\.0\.1:\d+\)", ran.stdout), ran.stdout


@pytest.mark.root
def test_down_brings_the_results_home_and_leaves_nothing_there(on, live, tmp_path):
    client, remote = on
    (lab,) = [one for one in registry.labs() if one.name == live]
    records = read(lab.journal)
    results = tmp_path / "home-results"
    down = client.run("down", *remote, live, "--results", str(results))
    assert down.returncode == 0, down.stdout + down.stderr
    (run_dir,) = results.iterdir()
    assert f"lab {live} is down; its results: {run_dir}" in down.stdout
    assert (run_dir / "keeper.log").exists() and (run_dir / "results.json").exists()
    outcomes = json.loads((run_dir / "results.json").read_text())["outcomes"]
    assert ("remote-client", "tcp-published") in [(o["node"], o["step"]) for o in outcomes]  # from `steps --on`
    owner = next(r for r in records if r["kind"] == "run")
    assert not same_process(owner["pid"], owner["started"]), "the keeper outlived `down --on`"
    assert not (STATE_DIR / f"{lab.run_id}.jsonl").exists(), "the lab's journal is left"
    assert all(one.name != live for one in registry.labs())
    assert not (client.remote_home / "labs").exists(), "the lab's folder there is left"
    assert machine.lab_processes((f"lab-{lab.run_id}",)) == []
    assert not glob.glob(f"/tmp/lab-{lab.run_id}-*")
    assert live not in client.run("status", *remote).stdout


@pytest.mark.parametrize(
    "args,message",
    [
        (("up", "no-such.yaml"), "no-such.yaml"),
        (("status", "--identity", "/nonexistent/key"), "--identity /nonexistent/key: no such file"),
        (("shell", "lab", "node", "--on", "lab1:ssh"), "port 'ssh' is not a number"),
    ],
)
def test_live_commands_refuse_bad_input_before_connecting(offline_client, args, message):
    result = offline_client.run(*args, *(() if "--on" in args else ("--on", "127.0.0.1:1")))
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not offline_client.remote_home.exists()  # nothing was installed anywhere


@pytest.mark.root
def test_a_lab_of_a_sudo_user_leaves_nothing_root_owned(user_client, sshd, sudo_user, user_installed, tmp_path):
    remote = ["--on", sudo_user.target(sshd), "--identity", str(sshd.client_key)]
    name = f"t-{uuid.uuid4().hex[:6]}-sudo"
    up = user_client.run("up", NAT, "--name", name, *remote, timeout=UP_TIMEOUT_S)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        ran = user_client.run("exec", *remote, name, "win-client", "--", "hostname")
        assert ran.stdout == "win-client\n", ran.stdout + ran.stderr
        results = tmp_path / "results"
        down = user_client.run("down", *remote, name, "--results", str(results))
        assert down.returncode == 0, down.stdout + down.stderr
        (run_dir,) = results.iterdir()
        assert (run_dir / "results.json").exists()
    finally:
        if any(one.name == name for one in registry.labs()):
            user_client.run("down", *remote, name)
    assert not (sudo_user.remote_home / "labs").exists()
    assert sudo_user.root_owned() == []
