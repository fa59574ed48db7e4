"""A worker of `run --jobs K` (lab/sweep.py): one trial of one variant, exactly as a sequential run plays it.

It reads its Task (pickled) on stdin and reports on stdout, one JSON object a line.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import pickle
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from .commands import Transcript
from .deploy.journal import Journal
from .deploy.signals import deferred_signals
from .runner import _run_variant, finish_work
from .steps.execute import Outcome
from .sweep import Task

PR_SET_PDEATHSIG = 1


class _WorkerRecord:
    """What lab.runner's _run_variant records into, in a worker: every call goes to the parent."""

    def __init__(self, task: Task, emit: Callable[[str, object], None]) -> None:
        self.task = task
        self.repeat = task.repeat
        self.emit = emit
        self.versions: dict[str, str] = {}

    def variant_dir(self, variant: str, trial: int = 1) -> Path:
        self.task.folder.mkdir(parents=True, exist_ok=True)
        return self.task.folder

    def add_outcome(self, outcome: Outcome, trial: int = 1) -> None:
        self.emit("outcome", dataclasses.asdict(outcome))

    def add_variant(self, name, description, error, phases, software=None, trial=1, started_at=None) -> None:
        self.emit(
            "variant",
            {
                "name": name,
                "description": description,
                "error": error,
                "phases": phases,
                "software": software,
                "started_at": started_at,
            },
        )


def _worker_main() -> int:
    """A worker: run the task read from stdin; 0 when it ran (whatever the outcomes), 130 when interrupted."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # without it, a worker of a killed parent still ends its variant and tears it down
    signal.signal(signal.SIGTERM, _interrupt)
    task: Task = pickle.load(sys.stdin.buffer)
    lock = threading.Lock()

    def emit(kind: str, data: object) -> None:
        with lock:
            sys.stdout.write(json.dumps({kind: data}) + "\n")
            sys.stdout.flush()

    if os.getppid() != parent:  # the parent died before the death signal was armed
        return 130
    record = _WorkerRecord(task, emit)
    folder = record.variant_dir(task.variant.name)
    transcript = Transcript(folder / "transcript.log")
    journal = Journal.open(task.run_id, task.run_dir)
    workdir = Path(tempfile.mkdtemp(prefix=f"lab-{task.run_id}-", dir="/tmp"))
    journal.folder(workdir)
    status = 0
    try:
        _run_variant(
            task.variant,
            record,
            transcript,
            workdir / "v",
            task.run_id,
            journal,
            lambda text: emit("progress", text),
            lambda outcome, trial: None,
            task.trial,
        )
    except KeyboardInterrupt:
        status = 130
    finally:
        with deferred_signals():  # silent here; held until the versions are sent too
            finish_work(workdir, transcript, journal, task.run_id, lambda text: emit("progress", text))
            emit("versions", record.versions)
    return status


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(_worker_main())
