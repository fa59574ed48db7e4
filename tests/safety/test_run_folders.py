"""Class 7: run folder names are unique under any timing.

Many processes (and threads) claim run folders of one scenario at the same instant (a
barrier releases them together, so every claim falls in the same second): each gets a
folder of its own, and every folder exists.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

from lab.results.record import create_unique_dir
from lab.runner import new_run_dir

WORKERS = 8
CLAIMS = 10  # per worker


def _claim(root: str, barrier, queue) -> None:
    barrier.wait()
    scenario = SimpleNamespace(name="same-scenario")
    queue.put([str(new_run_dir(Path(root), scenario)) for _ in range(CLAIMS)])  # type: ignore[arg-type]


def test_runs_started_together_in_processes_get_folders_of_their_own(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(WORKERS), context.Queue()
    workers = [context.Process(target=_claim, args=(str(tmp_path), barrier, queue)) for _ in range(WORKERS)]
    for worker in workers:
        worker.start()
    folders = [folder for _ in workers for folder in queue.get(timeout=60)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert len(folders) == len(set(folders)) == WORKERS * CLAIMS
    assert sorted(folders) == sorted(str(p) for p in tmp_path.iterdir() if p.is_dir())


def test_threads_claiming_one_name_get_distinct_folders(tmp_path):
    barrier = threading.Barrier(WORKERS)

    def claim(_):
        barrier.wait()
        return [create_unique_dir(tmp_path, "20261202-120000-same") for _ in range(CLAIMS)]

    with ThreadPoolExecutor(WORKERS) as pool:
        folders = [folder for batch in pool.map(claim, range(WORKERS)) for folder in batch]
    assert len(set(folders)) == WORKERS * CLAIMS
    assert {p.name for p in folders} == {"20261202-120000-same"} | {
        f"20261202-120000-same-{n}" for n in range(2, WORKERS * CLAIMS + 1)
    }


def test_a_name_taken_by_a_file_is_skipped(tmp_path):
    (tmp_path / "run").write_text("someone else's\n")
    assert create_unique_dir(tmp_path, "run") == tmp_path / "run-2"
    assert (tmp_path / "run").read_text() == "someone else's\n"
