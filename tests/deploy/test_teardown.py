"""Teardown that cannot be cut short or fooled: deferred signals, ending every process in a node's
network namespace (also once its shell is gone, never in a newer namespace with a reused inode),
removing a dead engine's cgroup, and `lab clean` exiting 1 for what it cannot remove.

Only processes, namespaces, cgroups and mounts the test makes itself are touched; each carries
a token of the test's own (`sleep <token>`, cgroup `lab-test-<token>`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lab.deploy.journal import (
    Journal,
    cgroup_folders,
    end_netns_processes,
    leftovers,
    netns_cookie,
    netns_inode,
    read,
    remove_cgroup,
    start_time,
    undo,
)
from lab.deploy.signals import HURRY, deferred_signals

from ..conftest import REPO
from ..safety.processes import kill_sleepers, new_token, sleepers, wait_until

NEVER_A_PID = int(Path("/proc/sys/kernel/pid_max").read_text())


def test_signals_wait_until_the_block_is_done():
    said, steps = [], []
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals(said.append):
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("after the first")
            assert not HURRY.is_set()
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("after the second")
            assert HURRY.is_set(), "a second signal makes the teardown stop waiting"
    assert steps == ["after the first", "after the second"], "the block ran to its end"
    assert len(said) == 2 and "finishing the teardown first" in said[0]
    assert not HURRY.is_set() and signal.getsignal(signal.SIGINT) is before


def test_an_error_of_the_block_is_not_replaced():
    with pytest.raises(ValueError):
        with deferred_signals():
            os.kill(os.getpid(), signal.SIGINT)
            raise ValueError("the undo failed")


def test_nested_deferral_raises_once_at_the_outermost():
    steps = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_signals():
            with deferred_signals():
                os.kill(os.getpid(), signal.SIGINT)
            steps.append("outer goes on")
    assert steps == ["outer goes on"]


# -- root: namespaces, cgroups, mounts ---------------------------------------------------------


@pytest.fixture
def token():
    token = new_token()
    yield token
    kill_sleepers(token)


def _holder(token: str) -> subprocess.Popen:
    """A process in a new network namespace of its own (a node's shell, for the journal)."""
    holder = subprocess.Popen(["unshare", "--net", "sleep", token])
    wait_until(lambda: holder.pid in sleepers(token), what="the namespace holder runs")
    return holder


def _daemon_in(pid: int, token: str) -> None:
    """A daemon in the network namespace of `pid`, outside the test's own process tree."""
    subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "setsid", "-f", "sleep", token], check=True)
    wait_until(lambda: len(sleepers(token)) == 2, what="the daemon runs")


@pytest.mark.root
def test_processes_of_a_namespace_are_ended_only_when_its_cookie_matches(token):
    holder = _holder(token)
    try:
        _daemon_in(holder.pid, token)
        inode, cookie = netns_inode(holder.pid), netns_cookie(holder.pid)
        assert cookie is not None and cookie != netns_cookie(os.getpid())
        assert end_netns_processes(inode, cookie + 1) == []  # another namespace that got the same inode
        assert end_netns_processes(inode, None) == []  # no cookie and no live process of the run: unproven
        both = sorted(sleepers(token))
        assert len(both) == 2 and holder.pid in both
        assert sorted(end_netns_processes(inode, cookie)) == both
        assert sleepers(token) == [], "every process of the namespace ended"
        assert holder.wait(timeout=10) == -signal.SIGKILL
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait(timeout=10)


@pytest.mark.root
def test_undo_of_a_node_whose_shell_is_gone_ends_its_daemons(tmp_path, token):
    holder = _holder(token)
    journal = Journal("node", tmp_path / "node.jsonl")
    journal.node(holder.pid, "client")
    _daemon_in(holder.pid, token)
    holder.kill()  # the run was SIGKILLed: its node's shell went with it, the daemon holds the namespace
    holder.wait(timeout=10)
    records = read(journal.path)
    (daemon,) = sleepers(token)
    assert leftovers(records) == [f"1 process(es) in the network namespace of node client (pids [{daemon}])"]
    assert undo(records) == [f"ended 1 process(es) in node client (pids [{daemon}])"]
    assert sleepers(token) == [] and leftovers(records) == []


@pytest.mark.root
def test_undo_leaves_a_newer_namespace_with_the_same_inode_alone(tmp_path, token):
    holder = _holder(token)
    try:
        _daemon_in(holder.pid, token)
        inode, cookie = netns_inode(holder.pid), netns_cookie(holder.pid)
        # a node of a dead run whose namespace is gone, its inode now another namespace's
        record = {"kind": "node", "pid": NEVER_A_PID, "started": "0", "netns": inode, "cookie": cookie - 1}
        record["name"] = "old-node"
        assert leftovers([record]) == [] and undo([record]) == []
        assert len(sleepers(token)) == 2
    finally:
        end_netns_processes(netns_inode(holder.pid), netns_cookie(holder.pid))
        holder.wait(timeout=10)


@pytest.mark.root
def test_removing_a_cgroup_ends_its_processes_and_removes_its_folders(token):
    name = f"lab-test-{token.replace('.', '-')}"
    hierarchy = Path("/sys/fs/cgroup/pids")
    if not hierarchy.is_dir():
        pytest.skip("no cgroup v1 pids hierarchy on this machine")
    top, inner = hierarchy / name, hierarchy / name / "container"
    inner.mkdir(parents=True)
    sleepers_started = [subprocess.Popen(["sleep", token]) for _ in range(2)]
    try:
        (top / "cgroup.procs").write_text(str(sleepers_started[0].pid))
        (inner / "cgroup.procs").write_text(str(sleepers_started[1].pid))
        assert cgroup_folders(name) == [top]
        done = remove_cgroup(name)
        assert sorted(done) == sorted(
            [f"killed pid {p.pid} (in cgroup {name})" for p in sleepers_started] + [f"removed cgroup {name}"]
        )
        assert [p.wait(timeout=10) for p in sleepers_started] == [-signal.SIGKILL] * 2
        assert not top.exists() and cgroup_folders(name) == []
        assert leftovers([{"kind": "cgroup", "name": name}]) == []
    finally:
        for process in sleepers_started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
        for folder in (inner, top):
            if folder.exists():
                folder.rmdir()


CLEAN_IN_PRIVATE_MOUNTS = """
import subprocess, sys
folder = sys.argv[1]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "lab-test", folder], check=True)
subprocess.run(["mkdir", folder + "/kept"], check=True)
subprocess.run(["mount", "-o", "remount,ro", folder], check=True)
from lab.cli import main
sys.exit(main(["clean", "--run", sys.argv[2]]))
"""


@pytest.mark.root
def test_clean_exits_1_and_keeps_the_journal_when_something_cannot_be_removed(tmp_path):
    state = tmp_path / "state" / "runs"
    state.mkdir(parents=True)
    folder = tmp_path / "read-only"
    folder.mkdir()
    journal = state / "stuck.jsonl"
    records = [
        {"kind": "run", "pid": NEVER_A_PID, "started": "0", "results": "results"},
        {"kind": "folder", "path": str(folder / "kept")},  # on a read-only file system: rmtree fails
    ]
    journal.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", CLEAN_IN_PRIVATE_MOUNTS]
        + [str(folder), "stuck"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LAB_STATE_DIR": str(tmp_path / "state")},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"could not remove: folder {folder / 'kept'}" in result.stderr
    assert "not everything could be removed (journals kept: stuck)" in result.stderr
    assert journal.exists(), "the journal stays, for another try"
    assert start_time(NEVER_A_PID) is None
