"""`--on USER@HOST` as a non-root user with passwordless sudo, through the real sshd: nothing in the
user's home owned by root after any command, a killed client's results come home with the next
run, code versions share one virtualenv and old ones are pruned, printed paths are local, and
`clean --remote-cache` removes every file of the lab there."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from lab.errors import ExitStatus
from lab.remote.connection import LocalFile, Target, connect
from lab.remote.install import ABANDONED_S, KEEP_VERSIONS, PARTIAL, install, project_files, prune

from .test_remote import NAT, TEARDOWN_TIMEOUT_S, assert_left_nothing, kill_mid_run, last_line, wait_for

pytestmark = pytest.mark.root


def on(sshd, sudo_user) -> list[str]:
    return ["--on", sudo_user.target(sshd), "--identity", str(sshd.client_key)]


def about_the_lab_machine(text: str, sshd, sudo_user) -> list[str]:
    """The lines of `text` that do not say they are about the lab machine (`USER@HOST: ...`)."""
    prefix = f"{sudo_user.name}@127.0.0.1:{sshd.port}: "
    return [line for line in text.splitlines() if prefix not in line]


def test_install_output_is_said_to_be_about_the_lab_machine(sshd, sudo_user, user_installed):
    setup = [line for line in user_installed.stderr.splitlines() if "setup.sh:" in line]
    assert setup, user_installed.stderr
    assert about_the_lab_machine("\n".join(setup), sshd, sudo_user) == []
    assert "Replay the incident" not in user_installed.stderr  # setup.sh's hint for its own machine
    assert sudo_user.root_owned() == []
    assert sorted(path.name for path in sudo_user.remote_home.iterdir()) == ["runs", "venvs", "versions"]


def test_validate_names_the_scenario_as_typed(user_client, sshd, sudo_user, user_installed):
    result = user_client.run("validate", NAT, *on(sshd, sudo_user))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith(f"{NAT}: ok — scenario 'docker-nat-reachability'"), result.stdout
    assert not [
        line for line in about_the_lab_machine(result.stdout + result.stderr, sshd, sudo_user) if "/home/" in line
    ]
    assert sudo_user.root_owned() == []


def test_killed_client_results_come_home_with_the_next_run(user_client, sshd, sudo_user, user_installed, tmp_path):
    results = tmp_path / "results"
    process = user_client.start("run", NAT, *on(sshd, sudo_user), "--results", str(results))
    kill_mid_run(process, sudo_user.remote_home)
    runs = sudo_user.remote_home / "runs"
    (work,) = runs.iterdir()
    (left,) = (work / "results").iterdir()
    assert sudo_user.root_owned() == [], "the tether hands the run's folder back to the user as it ends"

    again = user_client.run("run", NAT, *on(sshd, sudo_user), "--results", str(results))
    assert again.returncode == 0, again.stdout + again.stderr
    dead = results / left.name
    assert json.loads((dead / "results.json").read_text())["complete"] is False
    assert f"(incomplete: its connection was lost) brought home to {dead}" in again.stderr
    (new,) = set(results.iterdir()) - {dead}
    assert json.loads((new / "results.json").read_text())["complete"] is True
    assert list(runs.iterdir()) == [], "nothing of either run stays in the user's home"
    assert sudo_user.root_owned() == []
    assert_left_nothing(dead)
    assert_left_nothing(new)
    # every path shown is the local one: the report line, the results line
    assert last_line(again.stdout) == f"results: {new}"
    assert any(f"report: {new}/" in line for line in again.stderr.splitlines()), again.stderr
    assert not [
        line for line in about_the_lab_machine(again.stdout + again.stderr, sshd, sudo_user) if "/home/" in line
    ]


SLOW = """
name: slow-step
subnets: {lan: 10.0.32.0/24}
hosts:
  client: {interfaces: {lan: 10.0.32.5}}
steps:
  - {name: wait, on: [client], run: [sleep, "12"], timeout: 30}
"""


def test_a_live_runs_folder_is_never_taken(user_client, sshd, sudo_user, user_installed, tmp_path):
    scenario = tmp_path / "slow-step.yaml"
    scenario.write_text(SLOW)
    results = tmp_path / "results"
    process = user_client.start("run", str(scenario), *on(sshd, sudo_user), "--results", str(results))
    seen = wait_for(process, "network: 1 nodes on 1 subnets: done")
    assert any("done" in line for line in seen), "".join(seen)
    fetched = tmp_path / "fetched"
    fetch = user_client.run("fetch", *on(sshd, sudo_user), "--results", str(fetched))
    assert fetch.returncode == 0, fetch.stdout + fetch.stderr
    assert "no results of a run whose connection was lost" in fetch.stdout
    assert not fetched.exists()
    stdout, stderr = process.communicate(timeout=TEARDOWN_TIMEOUT_S)
    assert process.returncode == 0, "".join(seen) + stdout + stderr
    (run_dir,) = results.iterdir()
    assert last_line(stdout) == f"results: {run_dir}"
    assert json.loads((run_dir / "results.json").read_text())["complete"] is True
    assert list((sudo_user.remote_home / "runs").iterdir()) == []
    assert sudo_user.root_owned() == []


def test_versions_share_one_virtualenv_and_old_ones_are_pruned(
    user_client, sshd, sudo_user, user_installed, monkeypatch
):
    monkeypatch.setenv("HOME", str(user_client.home))  # its known_hosts
    monkeypatch.delenv("LAB_REMOTE_HOME", raising=False)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    versions, venvs = sudo_user.remote_home / "versions", sudo_user.remote_home / "venvs"
    (venv,) = venvs.iterdir()
    made = (venv / ".lab-ready").stat().st_mtime_ns
    older = sudo_user.remote_home / "0123456789abcdef0123"  # a version installed the older way: root's .venv inside
    (older / ".venv" / "bin").mkdir(parents=True)
    (older / ".venv" / "bin" / "python").write_text("")
    (older / ".lab-ready").write_text("setup.sh succeeded\n")
    for path in (older, older / ".lab-ready"):
        os.chown(path, sudo_user.uid, sudo_user.gid)
    # what clients that died while copying a version or making a virtualenv left: old ones go, a
    # young one (another client may be making it now) stays
    cut_version, cut_venv = versions / f"{'1' * 20}{PARTIAL}0badf00d", venvs / f"{'2' * 16}{PARTIAL}0badf00d"
    being_made = versions / f"{'3' * 20}{PARTIAL}0badf00d"
    for folder in (cut_version, cut_venv, being_made):
        (folder / "lab").mkdir(parents=True)
        for path in (folder, folder / "lab"):
            os.chown(path, sudo_user.uid, sudo_user.gid)
    long_ago = time.time() - ABANDONED_S - 60
    for folder in (cut_version, cut_venv):
        os.utime(folder, (long_ago, long_ago))
    files = project_files()
    roots = []
    with connect(Target("127.0.0.1", sudo_user.name, sshd.port), sshd.client_key) as remote:
        for number in range(KEEP_VERSIONS + 1):  # versions differing in a file, not in their dependencies
            extra = LocalFile(f"extra-{number}.txt", f"version {number}\n".encode(), False)
            time.sleep(1.1)  # when a version was used is known to the second (SFTP's times)
            installation = install(remote, [*files, extra], print, (print, print))
            assert installation.venv == str(venv)
            roots.append(Path(installation.root))
            assert roots[-1].is_dir() and len(set(roots)) == number + 1
            prune(remote, installation, set(), print)
    remaining = sorted(versions.iterdir())
    shutil.rmtree(being_made)  # this test's own: the next tests remove the whole installation
    assert remaining == sorted([*roots[-KEEP_VERSIONS:], being_made])
    assert list(venvs.iterdir()) == [venv] and (venv / ".lab-ready").stat().st_mtime_ns == made
    assert not older.exists()
    assert sudo_user.root_owned() == []


def test_missing_sudo_is_named(user_client, sshd, sudo_user):
    bin_dir = Path(tempfile.mkdtemp(prefix="lab-no-sudo-"))  # a PATH with `id` and no sudo
    environment = sudo_user.home / ".ssh" / "environment"
    try:
        bin_dir.chmod(0o755)
        (bin_dir / "id").symlink_to(shutil.which("id"))
        environment.write_text(f"PATH={bin_dir}\n")
        os.chown(environment, sudo_user.uid, sudo_user.gid)
        result = user_client.run("validate", NAT, *on(sshd, sudo_user))
    finally:
        environment.unlink(missing_ok=True)
        shutil.rmtree(bin_dir)
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"sudo is not installed on {sudo_user.name}@127.0.0.1:{sshd.port}" in result.stderr
    assert "without a password" not in result.stderr


def test_remote_cache_removes_every_file_of_the_lab(user_client, sshd, sudo_user, user_installed):
    result = user_client.run("clean", "--remote-cache", *on(sshd, sudo_user))
    # 1: a dead run of someone else on this machine could not be cleaned (named on stderr)
    assert result.returncode in (ExitStatus.OK, ExitStatus.UNMET), result.stdout + result.stderr
    assert f"removed {sudo_user.remote_home}" in result.stdout
    assert not sudo_user.remote_home.exists() and not sudo_user.remote_home.parent.exists()
    assert sudo_user.root_owned() == []
