"""lab.deploy.journal on records of the test's own: reading, what is left, and undo in reverse order.

Nothing here needs root. The only processes signalled are ones a test starts itself; records
of processes that are gone use a pid the kernel never hands out (pid_max) or a start time
("0") that no running process has.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.deploy.journal import Journal, is_live, leftovers, read, start_time, undo

NEVER_A_PID = int(Path("/proc/sys/kernel/pid_max").read_text())  # pids are always below pid_max
GONE_START = "0"  # no process started at boot tick 0 is still around to match


def wait_for(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


@pytest.fixture
def sleeper():
    """A `sleep 30` of the test's own, and its journal identity (pid, start time); killed at the end if alive."""
    process = subprocess.Popen(["sleep", "30"])
    try:
        yield process, start_time(process.pid)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def gone_records(folder: Path) -> list[dict]:
    """Records of a run whose processes and node are gone and whose folder was removed."""
    return [
        {"kind": "run", "pid": NEVER_A_PID, "started": GONE_START, "results": "results"},
        {"kind": "process", "pid": NEVER_A_PID, "started": GONE_START, "what": "dockerd"},
        {"kind": "node", "pid": NEVER_A_PID, "started": GONE_START, "netns": 4026531840, "name": "remote-client"},
        {"kind": "folder", "path": str(folder / "removed-long-ago")},
    ]


def test_read_ignores_a_torn_last_line(tmp_path):
    journal = Journal("torn", tmp_path / "torn.jsonl")
    journal.record("folder", path="/tmp/lab-torn-a")
    journal.record("folder", path="/tmp/lab-torn-b")
    with open(journal.path, "a", encoding="utf-8") as file:
        file.write('{"kind": "process", "pid": 12')  # the crash came mid-write
    records = read(journal.path)
    assert [(r["kind"], r["path"]) for r in records] == [("folder", "/tmp/lab-torn-a"), ("folder", "/tmp/lab-torn-b")]
    assert all(isinstance(r["at"], float) for r in records)


def test_records_are_one_json_object_per_line(tmp_path):
    journal = Journal("lines", tmp_path / "lines.jsonl")
    journal.folder(tmp_path / "work")
    journal.record("run", pid=1, started="5", results="results")
    lines = journal.path.read_text().splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["folder", "run"]
    assert json.loads(lines[0])["path"] == str(tmp_path / "work")


def test_nothing_of_gone_processes_nodes_or_folders_is_left_or_undone(tmp_path):
    records = gone_records(tmp_path)
    assert leftovers(records) == []
    assert undo(records) == []
    assert not is_live(records)


def test_a_reused_pid_is_not_the_journaled_process(sleeper):
    process, _ = sleeper
    impostor = [{"kind": "process", "pid": process.pid, "started": GONE_START, "what": "dockerd"}]
    assert leftovers(impostor) == []
    assert undo(impostor) == []
    assert process.poll() is None  # same pid, another start time: left alone


def test_is_live_while_the_runs_own_process_runs(sleeper):
    process, started = sleeper
    assert is_live([{"kind": "run", "pid": process.pid, "started": started, "results": "results"}])
    assert is_live([{"kind": "run", "pid": os.getpid(), "started": start_time(os.getpid()), "results": "results"}])
    assert not is_live([{"kind": "folder", "path": "/nonexistent"}])  # no run record


def test_undo_stops_the_journaled_process_and_removes_folders_newest_first(tmp_path, sleeper):
    process, started = sleeper
    older, newer = tmp_path / "older", tmp_path / "newer"
    (older / "data").mkdir(parents=True)
    (older / "data" / "file").write_text("kept by the run\n")
    newer.mkdir()
    journal = Journal("undo", tmp_path / "undo.jsonl")
    journal.folder(older)
    assert journal.process(process.pid, "sleep") == started
    journal.folder(newer)
    records = [*gone_records(tmp_path), *read(journal.path)]
    assert leftovers(records) == [f"folder {older}", f"process sleep (pid {process.pid})", f"folder {newer}"]
    assert journal.close() == leftovers(records) and journal.path.exists()  # kept: things are left

    assert undo(records) == [f"removed {newer}", f"stopped sleep (pid {process.pid})", f"removed {older}"]
    assert process.wait(timeout=10) == -signal.SIGTERM
    assert not older.exists() and not newer.exists()
    assert leftovers(records) == []
    assert journal.close() == [] and not journal.path.exists()  # nothing left: the journal goes


def test_undo_of_a_folder_stops_the_processes_that_use_it(tmp_path):
    folder = tmp_path / "run-folder"
    folder.mkdir()
    user = subprocess.Popen([sys.executable, "-c", "import time, sys; time.sleep(30)", str(folder / "docker.sock")])
    # Popen returns once exec has begun; the kernel shows the new command line a moment later
    wait_for(lambda: str(folder).encode() in Path(f"/proc/{user.pid}/cmdline").read_bytes())
    try:
        assert undo([{"kind": "folder", "path": str(folder)}]) == [
            f"stopped pid {user.pid} (it used {folder})",
            f"removed {folder}",
        ]
        assert user.wait(timeout=10) == -signal.SIGTERM
        assert not folder.exists()
    finally:
        if user.poll() is None:
            user.kill()
        user.wait(timeout=10)


def test_clean_of_a_run_takes_its_workers_journals_and_no_other_runs(tmp_path, monkeypatch):
    """`lab clean --run ID` after a crashed `run --jobs`: the parent's journal and each worker's
    (ID-w1, ID-w2...), never another run whose id merely starts the same way."""
    from lab.deploy import journal as journal_module

    monkeypatch.setattr(journal_module, "STATE_DIR", tmp_path / "runs")
    (tmp_path / "runs").mkdir()
    stems = ["r1", journal_module.worker_run_id("r1", 1), journal_module.worker_run_id("r1", 12), "r10-w1", "r1-wx"]
    folders = {}
    for stem in stems:
        folders[stem] = tmp_path / f"left-by-{stem}"
        folders[stem].mkdir()
        Journal(stem, tmp_path / "runs" / f"{stem}.jsonl").folder(folders[stem])  # a crashed run: no run record
    cleaned = journal_module.clean("r1")
    assert sorted(c.run_id for c in cleaned) == ["r1", "r1-w1", "r1-w12"]
    assert sorted(stem for stem in stems if folders[stem].exists()) == ["r1-wx", "r10-w1"]
    assert sorted(p.stem for p in journal_module.journals()) == ["r1-wx", "r10-w1"]
