"""The run journal: every object a run creates is written down the moment it exists.

Normal teardown undoes a deployment through its own stack; the journal is what makes a
crashed or killed run cleanable afterwards (`python -m lab clean`, and at the start of
every run). Each record is one JSON line, flushed and fsynced. Processes are identified by
pid *and* start time, network namespaces by inode *and* cookie (a number the kernel never
hands out twice), folders by path, cgroups by their run-unique name: nothing is ever
matched by a name pattern, nothing killed by name.

Undoing a node ends every process left in its network namespace, also when the node's
own shell is gone (a daemon a step started keeps the namespace alive). Undoing a cgroup
ends every process in it (a container's, `runc init`) and removes its folders in every
cgroup hierarchy.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .signals import HURRY, deferred_signals

STATE_DIR = Path(os.environ.get("LAB_STATE_DIR", "/var/lib/lab")) / "runs"
TERM_WAIT_S = 20
KILL_WAIT_S = 5
CGROUP_ROOT = Path("/sys/fs/cgroup")
_CLONE_NEWNET = 0x40000000
_SO_NETNS_COOKIE = 71  # <asm-generic/socket.h>, Linux 5.14


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


def netns_cookie(pid: int) -> int | None:
    """The cookie of the network namespace of `pid`: unlike its inode, never reused by a later namespace.

    Read from a socket made in that namespace by a thread of its own (setns moves only the
    calling thread); None when `pid` is gone or the kernel has no cookies.
    """
    found: list[int] = []

    def probe() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
        except OSError:
            return
        try:
            if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
                return
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as probe_socket:
                found.append(int.from_bytes(probe_socket.getsockopt(socket.SOL_SOCKET, _SO_NETNS_COOKIE, 8), "little"))
        except OSError:
            return
        finally:
            os.close(fd)

    thread = threading.Thread(target=probe, name=f"netns-cookie-{pid}")
    thread.start()
    thread.join()
    return found[0] if found else None


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


def end_netns_processes(inode: int, cookie: int | None, spare: int | None = None) -> list[int]:
    """SIGKILL every process in the network namespace `inode` (but `spare`) and wait until they are
    gone; return their pids. Nothing is done unless the namespace there now has `cookie` (an
    inode can be another, newer namespace's), or, with no cookie known, unless `spare` (a live
    process of the run, whose presence proves the namespace is the run's) is in it."""
    pids = processes_in_netns(inode)
    if not pids:
        return []
    if cookie is not None:
        if next((c for c in map(netns_cookie, pids) if c is not None), None) != cookie:
            return []
    elif spare is None or spare not in pids:
        return []
    ended = []
    for pid in pids:
        started = start_time(pid)
        if pid != spare and pid != os.getpid() and started is not None:
            _stop(pid, started, signal.SIGKILL, wait_s=KILL_WAIT_S)
            ended.append(pid)
    return ended


def _stop(pid: int, started: str, sig=signal.SIGTERM, wait_s: float = TERM_WAIT_S) -> None:
    if not same_process(pid, started):
        return
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait_s
    while same_process(pid, started) and time.monotonic() < deadline and not HURRY.is_set():
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
        subprocess.run(["umount", "--lazy", target], capture_output=True, start_new_session=True)


def cgroup_folders(name: str) -> list[Path]:
    """The folders of the cgroup `name` (a top-level one) in every cgroup hierarchy of the machine."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2") and Path(fields[4]).is_relative_to(CGROUP_ROOT):
            folder = Path(fields[4]) / name
            if folder.is_dir():
                found.append(folder)
    return found


def _cgroup_pids(folder: Path) -> set[int]:
    pids = set()
    for directory, _, _ in os.walk(folder):
        try:
            pids.update(int(pid) for pid in Path(directory, "cgroup.procs").read_text().split())
        except OSError:
            continue
    return pids


def remove_cgroup(name: str) -> list[str]:
    """End every process in the cgroup `name` (in every hierarchy, with its sub-cgroups) and remove
    its folders, deepest first; return what was done. A process is signalled through a pidfd
    opened while it is listed in the cgroup, so a reused pid is never hit."""
    done = []
    folders = cgroup_folders(name)
    deadline = time.monotonic() + KILL_WAIT_S
    while folders and time.monotonic() < deadline:
        pids = set().union(*(_cgroup_pids(folder) for folder in folders))
        if not pids:
            break
        for pid in sorted(pids):
            try:
                pidfd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if any(pid in _cgroup_pids(folder) for folder in folders):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    done.append(f"killed pid {pid} (in cgroup {name})")
            except OSError:
                pass
            finally:
                os.close(pidfd)
        time.sleep(0.05)
    removed = False
    for folder in folders:
        for directory, _, _ in sorted(os.walk(folder), key=lambda entry: len(entry[0]), reverse=True):
            try:
                os.rmdir(directory)
                removed = True
            except OSError:
                continue
    if removed:
        done.append(f"removed cgroup {name}")
    return done


def remove_folder(path: str) -> list[str]:
    """Remove a folder the run owns entirely: stop the processes that use it, unmount what is
    mounted below it, delete it; return what was done."""
    done = []
    for pid in processes_using(path):
        started = start_time(pid)
        if started:
            _stop(pid, started)
            done.append(f"stopped pid {pid} (it used {path})")
    unmount_below(path)
    shutil.rmtree(path, ignore_errors=True)
    done.append(f"removed {path}")
    return done


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

    def node(self, pid: int, name: str) -> tuple[int | None, int | None]:
        """Journal a node: its shell process and its network namespace; return the namespace's
        identity (inode, cookie)."""
        netns, cookie = netns_inode(pid), netns_cookie(pid)
        self.record("node", pid=pid, started=start_time(pid), netns=netns, cookie=cookie, name=name)
        return netns, cookie

    def cgroup(self, name: str) -> None:
        """Journal a cgroup (a top-level name unique to the run) before anything is put in it."""
        self.record("cgroup", name=name)

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
        elif record["kind"] == "node" and record.get("cookie") is not None:
            pids = processes_in_netns(record["netns"])
            if pids and next((c for c in map(netns_cookie, pids) if c is not None), None) == record["cookie"]:
                left.append(f"{len(pids)} process(es) in the network namespace of node {record['name']} (pids {pids})")
        elif record["kind"] == "folder" and Path(record["path"]).exists():
            left.append(f"folder {record['path']}")
        elif record["kind"] == "cgroup" and cgroup_folders(record["name"]):
            left.append(f"cgroup {record['name']} ({', '.join(map(str, cgroup_folders(record['name'])))})")
    return left


def undo(records: list[dict]) -> list[str]:
    """Undo a dead run's records in reverse order; return what was done, for the user."""
    done = []
    for record in reversed(records):
        kind = record["kind"]
        if kind == "process" and same_process(record["pid"], record["started"]):
            _stop(record["pid"], record["started"])
            done.append(f"stopped {record['what']} (pid {record['pid']})")
        elif kind == "node":
            shell = record["pid"] if same_process(record["pid"], record["started"]) else None
            ended = end_netns_processes(record["netns"], record.get("cookie"), spare=shell)
            if ended:
                done.append(f"ended {len(ended)} process(es) in node {record['name']} (pids {ended})")
            if shell is not None:
                _stop(record["pid"], record["started"], signal.SIGKILL, wait_s=KILL_WAIT_S)
                done.append(f"removed node {record['name']} (pid {record['pid']})")
        elif kind == "cgroup":
            done += remove_cgroup(record["name"])
        elif kind == "folder" and Path(record["path"]).exists():
            done += remove_folder(record["path"])
    return done


def worker_run_id(run_id: str, number: int) -> str:
    """The run id of the `number`th worker of run `run_id` (`run --jobs`: each worker journals its own variant)."""
    return f"{run_id}-w{number}"


def of_run(journal: Path, run_id: str) -> bool:
    """Whether `journal` is run `run_id`'s own or one of its workers'."""
    return journal.stem == run_id or re.fullmatch(rf"{re.escape(run_id)}-w\d+", journal.stem) is not None


def journals() -> list[Path]:
    """Journals of runs that have not finished their own teardown."""
    return sorted(STATE_DIR.glob("*.jsonl")) if STATE_DIR.exists() else []


@dataclass(frozen=True)
class Cleaned:
    """What cleaning one dead run did, and what of it could not be removed (its journal is then kept)."""

    run_id: str
    done: list[str]
    left: list[str]


def clean(run_id: str | None = None) -> list[Cleaned]:
    """Undo dead runs (all, or the one with `run_id` and its workers); live runs are left alone. Signals wait
    until a run's undoing is done. A run whose objects are all gone loses its journal."""
    cleaned = []
    for path in journals():
        if run_id and not of_run(path, run_id):
            continue
        records = read(path)
        if is_live(records):
            continue
        with deferred_signals():
            done = undo(records)
            left = leftovers(records)
            if not left:
                path.unlink(missing_ok=True)
        cleaned.append(Cleaned(path.stem, done, left))
    return cleaned
