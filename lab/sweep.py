"""Variants in parallel (`run --jobs K`): each trial of each variant in a worker process of its own.

A worker (`python -m lab.sweep_worker`, in a session of its own) builds and replays one variant exactly
as a sequential run does (lab.runner), with its own run id, journal, workdir (namespaces, bridges,
dockerd, cgroups are named after it) and Docker engine: nothing is shared but the run folder,
where each trial has its own folder. It reads its task (pickled, from the parent) on stdin and
reports on stdout, one JSON object a line: `progress`, `outcome`, `variant`, `versions`. The
parent records everything in the one RunRecord, and appends each worker's transcript to the
run's transcript.log when the worker is done.

Ctrl-C and SIGTERM reach the parent only (workers have their own sessions); the parent forwards
SIGTERM to every running worker, which tears its deployment down as `lab run` does, and waits
for all of them; a second signal is forwarded again (the workers' teardowns stop waiting for
programs to exit). A worker whose parent dies gets SIGTERM from the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import queue
import signal
import subprocess
import sys
import sysconfig
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .deploy.journal import worker_run_id
from .results.record import RunRecord, trial_label
from .scenario import model
from .steps.execute import Outcome

LOG_TAIL_LINES = 20  # of a worker that died without reporting, the last lines of its stderr quoted


MAX_REPEAT = 100
MAX_JOBS = 64


def _count(maximum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not 1 <= value <= maximum:
            raise argparse.ArgumentTypeError(f"{value} is not between 1 and {maximum}")
        return value

    return parse


def add_sweep_options(parser: argparse.ArgumentParser) -> None:
    """`--repeat N` and `--jobs K` of `lab run`."""
    parser.add_argument(
        "--repeat",
        type=_count(MAX_REPEAT),
        default=1,
        metavar="N",
        help="replay every variant N times, each trial recorded; a cell then reads 3/3 or 2/3 flaky",
    )
    parser.add_argument(
        "--jobs",
        type=_count(MAX_JOBS),
        default=None,
        metavar="K",
        help=f"build and replay up to K variants at once, each in a worker process of its own "
        f"(default: half the cores, here {default_jobs()})",
    )


def check_sweep_options(args: argparse.Namespace) -> None:
    """Fill in the default of --jobs."""
    if args.jobs is None:
        args.jobs = default_jobs()


def default_jobs() -> int:
    """How many variants run at once by default: half the machine's cores (at least one): building
    a variant (dockerd, containers, captures) keeps about a core busy, and the rest of the machine
    needs room too."""
    return max(1, (os.cpu_count() or 1) // 2)


def _worker_environment() -> dict[str, str]:
    """A worker's environment: the lab's own, except that Mininet's `import distutils` takes the
    standard library's where this Python still has it (before 3.12): setuptools' replacement,
    which its .pth file installs by default, imports all of setuptools first, about half of a
    worker's start-up."""
    env = dict(os.environ)
    if Path(sysconfig.get_paths()["stdlib"], "distutils").is_dir():
        env.setdefault("SETUPTOOLS_USE_DISTUTILS", "stdlib")
    return env


@dataclass(frozen=True)
class Task:
    """One trial of one variant, as a worker runs it."""

    variant: model.Variant
    trial: int
    repeat: int
    folder: Path  # the trial's folder in the run folder (captures, state, sessions)
    run_dir: Path
    run_id: str  # the worker's own run id (names everything it builds)


class _Worker:
    """A running worker process and the thread that reads its reports."""

    def __init__(self, task: Task, events: queue.Queue) -> None:
        self.task = task
        self.label = trial_label(task.variant.name, task.trial, task.repeat)
        self.doing = "starting"  # its latest progress, without the label
        self.reported = False  # it sent its `variant` record
        self.log = task.folder / "worker.log"
        task.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lab.sweep_worker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # Ctrl-C at the terminal reaches the parent, which forwards it
                cwd=Path(__file__).resolve().parent.parent,
                env=_worker_environment(),
            )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(pickle.dumps(task))
        self.process.stdin.close()
        stdout = self.process.stdout
        threading.Thread(target=self._read, args=(stdout, events), daemon=True).start()

    def _read(self, stdout, events: queue.Queue) -> None:
        for line in stdout:
            try:
                events.put((self, json.loads(line)))
            except json.JSONDecodeError:
                events.put((self, {"progress": line.decode(errors="replace").rstrip()}))
        events.put((self, None))

    def stop(self) -> None:
        """Ask the worker to tear down (SIGTERM, by pidfd-less Popen: it is our own unreaped child)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)


def run_parallel(
    variants: list[model.Variant],
    record: RunRecord,
    jobs: int,
    progress: Callable[[str], None],
    on_outcome: Callable[[Outcome, int], None],
    running_now: Callable[[dict[str, str]], None] | None = None,
) -> None:
    """Run every trial of `variants` (record.repeat each), up to `jobs` at once, into `record`;
    `running_now` hears, whenever it changes, what each running variant does ({label: latest progress})."""
    tasks = deque(
        Task(
            variant,
            trial,
            record.repeat,
            record.variant_dir(variant.name, trial),
            record.directory,
            worker_run_id(record.run_id, number),
        )
        for number, (variant, trial) in enumerate(((v, t) for v in variants for t in range(1, record.repeat + 1)), 1)
    )
    progress(f"{len(tasks)} replay(s), up to {jobs} at once, each in a worker process of its own")
    events: queue.Queue = queue.Queue()
    running: list[_Worker] = []
    interrupted = False
    while tasks or running:
        try:
            while tasks and len(running) < jobs and not interrupted:
                running.append(_Worker(tasks.popleft(), events))
            if running_now is not None:
                running_now({w.label: w.doing for w in running})
            worker, event = events.get()
            if event is None:
                worker.process.wait()
                running.remove(worker)
                _finish(worker, record, progress)
            else:
                _handle(worker, event, record, progress, on_outcome)
        except KeyboardInterrupt:
            if not interrupted:
                progress(f"interrupted: {len(running)} worker(s) tear their variants down ...")
            interrupted = True
            tasks.clear()
            for worker in running:
                worker.stop()
    if running_now is not None:
        running_now({})
    if interrupted:
        raise KeyboardInterrupt("interrupted while variants ran in parallel")


def _handle(
    worker: _Worker,
    event: dict,
    record: RunRecord,
    progress: Callable[[str], None],
    on_outcome: Callable[[Outcome, int], None],
) -> None:
    trial = worker.task.trial
    if "progress" in event:
        text = str(event["progress"])
        worker.doing = text.removeprefix(f"[{worker.label}] ")
        progress(text)
    elif "outcome" in event:
        fields = dict(event["outcome"])
        fields["argv"] = tuple(fields["argv"])
        outcome = Outcome(**fields)
        record.add_outcome(outcome, trial)
        on_outcome(outcome, trial)
    elif "variant" in event:
        fields = event["variant"]
        worker.reported = True
        record.add_variant(
            fields["name"],
            fields["description"],
            fields["error"],
            fields["phases"],
            fields["software"],
            trial,
            run_id=worker.task.run_id,
            started_at=fields["started_at"],
        )
    elif "versions" in event:
        record.versions.update(event["versions"])


def _finish(worker: _Worker, record: RunRecord, progress: Callable[[str], None]) -> None:
    """A worker has exited: its transcript joins the run's; a worker that never reported fails its variant."""
    task = worker.task
    own = task.folder / "transcript.log"
    if own.exists():
        with open(record.directory / "transcript.log", "a", encoding="utf-8") as transcript:
            transcript.write(own.read_text(encoding="utf-8", errors="replace"))
        own.unlink()
    log = worker.log.read_text(errors="replace") if worker.log.exists() else ""
    if not log.strip():
        worker.log.unlink(missing_ok=True)
    if worker.reported:
        return
    if worker.process.returncode == 130:
        progress(f"[{worker.label}] interrupted and torn down")
        return
    tail = "\n".join(log.splitlines()[-LOG_TAIL_LINES:])
    error = f"its worker process exited with status {worker.process.returncode} before reporting" + (
        f"; the end of its log ({worker.log.name}):\n{tail}" if tail else ""
    )
    progress(f"[{worker.label}] failed: {error}")
    record.add_variant(task.variant.name, task.variant.description, error, {}, None, task.trial, run_id=task.run_id)
