"""The live labs of this machine, read from the run journals (a keeper's journal has a `lab` record)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..deploy.journal import STATE_DIR, is_live, journals, read, same_process
from ..errors import InvalidInput

LOCK = STATE_DIR.parent / "labs.lock"


@dataclass(frozen=True)
class LiveLab:
    """One lab, as its journal tells it."""

    name: str
    run_id: str
    journal: Path
    scenario: str  # the scenario file's path
    variant: str
    results: str  # the lab's own results folder
    log: str  # the keeper's log
    homes: dict[str, str]
    setup_done: bool  # brought up with --steps: its setup steps have run
    keeper: int
    keeper_started: str
    started_at: float
    alive: bool
    ready: bool  # built (and its setup steps run, with --steps)
    failed: str  # why the keeper gave up, if it did
    nodes: dict[str, int] = field(default_factory=dict)  # node name -> pid of its shell (its namespaces)
    containers: dict[str, str] = field(default_factory=dict)  # container -> its Docker host
    engines: dict[str, dict[str, str]] = field(default_factory=dict)  # Docker host -> the docker CLI's environment

    @property
    def state(self) -> str:
        """up, starting, or dead (`lab clean` removes what a dead one left)."""
        if not self.alive:
            return "dead"
        return "up" if self.ready else "starting"


def _lab(path: Path) -> LiveLab | None:
    try:
        records = read(path)
    except OSError:
        return None
    lab = next((r for r in records if r["kind"] == "lab"), None)
    owner = next((r for r in records if r["kind"] == "run"), None)
    if lab is None or owner is None:
        return None
    up = next((r for r in records if r["kind"] == "lab-up"), {})
    failed = next((r for r in records if r["kind"] == "lab-failed"), {})
    return LiveLab(
        name=lab["name"],
        run_id=path.stem,
        journal=path,
        scenario=lab["scenario"],
        variant=lab["variant"],
        results=lab["results"],
        log=lab["log"],
        homes=lab.get("homes", {}),
        setup_done=bool(lab.get("steps")),
        keeper=owner["pid"],
        keeper_started=owner["started"],
        started_at=owner["at"],
        alive=is_live(records),
        ready=any(r["kind"] == "lab-ready" for r in records),
        failed=failed.get("error", ""),
        nodes={r["name"]: r["pid"] for r in records if r["kind"] == "node" and not r["name"].startswith("switch ")},
        containers=up.get("containers", {}),
        engines=up.get("engines", {}),
    )


def labs() -> list[LiveLab]:
    """Every lab that has a journal: live ones, and dead ones `lab clean` has not removed yet."""
    return [lab for lab in map(_lab, journals()) if lab is not None]


def matching(name: str, names: Iterable[str]) -> list[str]:
    """`[name]` when it is one of `names`, else those that start with it (a unique prefix names one)."""
    every = list(names)
    return [name] if name in every else [candidate for candidate in every if candidate.startswith(name)]


def find(name: str) -> LiveLab:
    """The lab called `name` or the only one whose name starts with it; InvalidInput (2) naming the labs there are."""
    every = {lab.name: lab for lab in labs()}
    matches = matching(name, every)
    if len(matches) == 1:
        return every[matches[0]]
    known = ", ".join(sorted(every)) or "none (`lab up SCENARIO` starts one)"
    if not matches:
        raise InvalidInput(f"no lab '{name}'; labs: {known}")
    raise InvalidInput(f"'{name}' could be any of {', '.join(sorted(matches))}; give more of the name")


def live(name: str) -> LiveLab:
    """Like `find`, but the lab must be up; InvalidInput (2) says what it is instead."""
    lab = find(name)
    if lab.state != "up":
        why = {"dead": "its keeper is gone; `lab clean` removes what it left", "starting": "it is still being built"}
        raise InvalidInput(f"lab {lab.name} is {lab.state}: {why[lab.state]}")
    return lab


def free_name(wanted: str) -> str:
    """`wanted`, or `wanted-2`, `-3`... when a lab of that name exists (call with `naming()` held)."""
    taken = {lab.name for lab in labs()}
    number = 1
    while (candidate := wanted if number == 1 else f"{wanted}-{number}") in taken:
        number += 1
    return candidate


@contextmanager
def naming() -> Iterator[None]:
    """Hold the machine's lab-naming lock: one `lab up` at a time chooses a name and journals it."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def stop_keeper(lab: LiveLab, timeout_s: float = 300) -> bool:
    """SIGTERM the lab's keeper (it tears the lab down) and wait until it is gone; False if it outlived `timeout_s`."""
    try:
        pidfd = os.pidfd_open(lab.keeper)
    except OSError:
        return True
    try:
        if not same_process(lab.keeper, lab.keeper_started):
            return True
        signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while same_process(lab.keeper, lab.keeper_started):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True
    finally:
        os.close(pidfd)


def variant_of(lab: LiveLab):
    """The lab's scenario and variant, loaded from the scenario file it was built from."""
    from ..scenario.loader import load_scenario
    from ..software import with_homes

    scenario = with_homes(load_scenario(lab.scenario), lab.homes)
    return scenario, next(v for v in scenario.variants if v.name == lab.variant)
