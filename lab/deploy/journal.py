"""The run journal: every object a run creates is written down the moment it exists.

Normal teardown undoes a deployment through its own stack; the journal is what makes a
crashed or killed run cleanable afterwards (`python -m lab clean`, and at the start of
every run). Each record is one JSON line, flushed and fsynced. Processes are identified by
pid *and* start time, namespaces by inode, folders by path: nothing is ever matched by a
name pattern, nothing killed by name.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

STATE_DIR = Path(os.environ.get("LAB_STATE_DIR", "/var/lib/lab")) / "runs"
TERM_WAIT_S = 20


def start_time(pid: int) -> str | None:
    """The kernel's start time of process `pid` (clock ticks since boot), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


def same_process(pid: int, started: str) -> bool:
    """Whether `pid` is still the process that was journaled (not a reused pid)."""
    return start_time(pid) == started


def netns_inode(pid: int) -> int | None:
    """The inode of the network namespace of `pid`."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def processes_in_netns(inode: int) -> list[int]:
    """Pids of the processes whose network namespace is `inode`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.stat(entry / "ns" / "net").st_ino == inode:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _stop(pid: int, started: str, sig=signal.SIGTERM, wait_s: float = TERM_WAIT_S) -> None:
    if not same_process(pid, started):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait_s
    while same_process(pid, started) and time.monotonic() < deadline:
        time.sleep(0.05)
    if same_process(pid, started):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def processes_using(folder: str) -> list[int]:
    """Pids whose command line names a path inside `folder` (a run's own, uniquely named folder).

    This finds what the Docker engine started on the run's behalf before the journal could
    note it (a containerd shim of a container that was being created when the run died).
    """
    prefix = (folder.rstrip("/") + "/").encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if prefix in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def unmount_below(path: str) -> None:
    """Unmount whatever the run left mounted inside its own folder (deepest first)."""
    prefix = path.rstrip("/") + "/"
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", target], capture_output=True)


@dataclass
class Journal:
    """The journal of one live run."""

    run_id: str
    path: Path

    @classmethod
    def open(cls, run_id: str, results_dir: Path) -> Journal:
        """Start the journal of a new run owned by this process."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        journal = cls(run_id, STATE_DIR / f"{run_id}.jsonl")
        journal.record("run", pid=os.getpid(), started=start_time(os.getpid()), results=str(results_dir))
        return journal

    def record(self, kind: str, **fields) -> None:
        """Write one record durably."""
        line = json.dumps({"kind": kind, "at": time.time(), **fields})
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(line + "\n")
            file.flush()
            os.fsync(file.fileno())

    def process(self, pid: int, what: str) -> str | None:
        """Journal a long-running process the run started; return its start time (its identity)."""
        started = start_time(pid)
        self.record("process", pid=pid, started=started, what=what)
        return started

    def node(self, pid: int, name: str) -> None:
        """Journal a node: its shell process and its network namespace."""
        self.record("node", pid=pid, started=start_time(pid), netns=netns_inode(pid), name=name)

    def folder(self, path: Path) -> None:
        """Journal a folder the run owns entirely."""
        self.record("folder", path=str(path))

    def close(self) -> list[str]:
        """End the run: drop the journal if nothing it lists is left, else keep it and say what is left."""
        left = leftovers(read(self.path))
        if not left:
            self.path.unlink(missing_ok=True)
        return left


def read(path: Path) -> list[dict]:
    """The records of a journal (a torn last line, from a crash mid-write, is ignored)."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def is_live(records: list[dict]) -> bool:
    """Whether the run's own process still runs."""
    owner = next((r for r in records if r["kind"] == "run"), None)
    return owner is not None and same_process(owner["pid"], owner["started"])


def leftovers(records: list[dict]) -> list[str]:
    """What of a run's records still exists."""
    left = []
    for record in records:
        if record["kind"] in ("process", "node") and same_process(record["pid"], record["started"]):
            left.append(f"{record['kind']} {record.get('what') or record.get('name')} (pid {record['pid']})")
        elif record["kind"] == "folder" and Path(record["path"]).exists():
            left.append(f"folder {record['path']}")
    return left


def undo(records: list[dict]) -> list[str]:
    """Undo a dead run's records in reverse order; return what was done, for the user."""
    done = []
    for record in reversed(records):
        kind = record["kind"]
        if kind == "process" and same_process(record["pid"], record["started"]):
            _stop(record["pid"], record["started"])
            done.append(f"stopped {record['what']} (pid {record['pid']})")
        elif kind == "node" and same_process(record["pid"], record["started"]):
            for pid in processes_in_netns(record["netns"]):
                if pid != record["pid"]:
                    started = start_time(pid)
                    if started:
                        _stop(pid, started, signal.SIGKILL, wait_s=2)
            _stop(record["pid"], record["started"], signal.SIGKILL, wait_s=2)
            done.append(f"removed node {record['name']} (pid {record['pid']})")
        elif kind == "folder" and Path(record["path"]).exists():
            for pid in processes_using(record["path"]):
                started = start_time(pid)
                if started:
                    _stop(pid, started)
                    done.append(f"stopped pid {pid} (it used {record['path']})")
            unmount_below(record["path"])
            shutil.rmtree(record["path"], ignore_errors=True)
            done.append(f"removed {record['path']}")
    return done


def journals() -> list[Path]:
    """Journals of runs that have not finished their own teardown."""
    return sorted(STATE_DIR.glob("*.jsonl")) if STATE_DIR.exists() else []


def clean(run_id: str | None = None) -> list[tuple[str, list[str]]]:
    """Undo dead runs (all, or the one with `run_id`); live runs are left alone."""
    cleaned = []
    for path in journals():
        if run_id and path.stem != run_id:
            continue
        records = read(path)
        if is_live(records):
            continue
        cleaned.append((path.stem, undo(records)))
        path.unlink(missing_ok=True)
    return cleaned
