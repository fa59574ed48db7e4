"""Runs as pandas DataFrames, for notebooks and ad-hoc analysis.

    from lab.analysis import data
    runs = data.load_runs("results")      # every run folder, newest last
    data.outcomes(runs)                   # one row per run x variant x node x step
    data.step_packets(runs[-1], "default", "remote-client", "tcp-unpublished")

Times are pandas Timestamps in UTC. Packets come from the run's captures, read by
`lab.analysis.packets` (scapy).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from .explain import WINDOW_SLACK_S
from .packets import Packet
from .rundir import RunDir

TIME = "datetime64[ns, UTC]"
# Each frame's columns and their types.
OUTCOME_COLUMNS = {
    "run": "str",
    "scenario": "str",
    "variant": "str",
    "node": "str",
    "step": "str",
    "ok": "bool",
    "expected": "str",
    "met": "bool",
    "exit_code": "Int64",
    "duration_s": "float64",
    "error": "str",
    "started_at": TIME,
    "attempts": "int64",
    "trial": "int64",  # which replay of the variant (run --repeat); 1 in a run without repeats
}
RUN_COLUMNS = {
    "run": "str",
    "scenario": "str",
    "sha256": "str",
    "complete": "bool",
    "started_at": TIME,
    "ended_at": TIME,
    "lab_version": "str",
    "kernel_version": "str",
    "python_version": "str",
    "docker_version": "str",
    "outcomes": "int64",
    "met": "int64",
}
PACKET_COLUMNS = {
    "run": "str",
    "variant": "str",
    "time": TIME,
    "node": "str",
    "interface": "str",
    "src": "str",
    "dst": "str",
    "protocol": "str",
    "sport": "Int64",
    "dport": "Int64",
    "flags": "str",
    "ttl": "int64",
    "length": "int64",
    "icmp_type": "Int64",
    "icmp_code": "Int64",
    "quoted_dst": "str",
    "quoted_dport": "Int64",
    "payload": "int64",  # bytes of TCP or UDP payload
    "endpoints": "object",  # "name:port" strings written in the payload (tuple)
    "names": "object",  # words of the payload that could be host names (tuple)
}


class Run(RunDir):
    """One run's results folder (a RunDir) with its name, scenario and start time at hand."""

    @property
    def name(self) -> str:
        """The folder's name, e.g. 20260101-120000-docker-nat-reachability."""
        return self.path.name

    @property
    def scenario(self) -> str:
        """The scenario's name."""
        return self.results["scenario"]["name"]

    @property
    def started_at(self) -> pd.Timestamp:
        """When the run started (UTC)."""
        return pd.Timestamp(self.results["started_at"])

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"


def load_run(path: str | Path) -> Run:
    """The run in folder `path` (raises lab.analysis.rundir.NotARunDir without a results.json)."""
    return Run(Path(path))


def load_runs(root: str | Path = "results") -> list[Run]:
    """Every run folder directly under `root` (folders without a results.json are skipped), newest last."""
    runs = [Run(folder) for folder in Path(root).iterdir() if (folder / "results.json").is_file()]
    return sorted(runs, key=lambda run: (run.started_at, run.name))


def _utc(values: pd.Series) -> pd.Series:
    """Epoch seconds or ISO 8601 texts as UTC times (None becomes NaT)."""
    unit = "s" if pd.api.types.is_numeric_dtype(values) else None
    return pd.to_datetime(values, unit=unit, utc=True).astype(TIME)


def _frame(rows: list[dict], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(columns))
    for column, dtype in columns.items():
        frame[column] = _utc(frame[column]) if dtype == TIME else frame[column].astype(dtype)
    return frame


def _runs(runs: Run | Iterable[Run]) -> list[Run]:
    return [runs] if isinstance(runs, Run) else list(runs)


def outcomes(runs: Run | Iterable[Run]) -> pd.DataFrame:
    """One row per run x variant x trial x node x step, in the order each run recorded them."""
    fields = list(OUTCOME_COLUMNS)[2:]  # as named in results.json
    rows = [
        {
            "run": run.name,
            "scenario": run.scenario,
            **{field: o[field] for field in fields if field != "trial"},
            "trial": o.get("trial", 1),
        }  # runs recorded before run --repeat existed have one trial
        for run in _runs(runs)
        for o in run.outcomes
    ]
    return _frame(rows, OUTCOME_COLUMNS)


def runs_table(runs: Run | Iterable[Run]) -> pd.DataFrame:
    """One row per run: scenario, completeness, times, versions, outcomes and expectations met."""
    rows = []
    for run in _runs(runs):
        results, versions = run.results, run.results["versions"]
        rows.append(
            {
                "run": run.name,
                "scenario": run.scenario,
                "sha256": results["scenario"]["sha256"],
                "complete": results["complete"],
                "started_at": results["started_at"],
                "ended_at": results["ended_at"],
                "lab_version": versions.get("lab"),
                "kernel_version": versions.get("kernel"),
                "python_version": versions.get("python"),
                "docker_version": versions.get("docker"),
                "outcomes": results["summary"]["outcomes"],
                "met": results["summary"]["met"],
            }
        )
    return _frame(rows, RUN_COLUMNS)


def _packet_frame(run: Run, packets: Iterable[tuple[str, Packet]]) -> pd.DataFrame:
    return _frame(
        [{"run": run.name, "variant": variant, **packet.as_dict()} for variant, packet in packets], PACKET_COLUMNS
    )


def packets(run: Run, variant: str | None = None) -> pd.DataFrame:
    """One row per captured IPv4 packet of one variant (or of every variant), in time order per variant.

    Besides the packet's own fields, ICMP errors carry the destination of the packet they
    answer (`quoted_dst`, `quoted_dport`).
    """
    variants = run.variant_names if variant is None else [variant]
    return _packet_frame(run, ((name, packet) for name in variants for packet in run.packets(name)))


def outcome(run: Run, variant: str, node: str, step: str) -> dict:
    """The outcome row of results.json for one cell (KeyError when the run has none)."""
    for row in run.outcomes:
        if (row["variant"], row["node"], row["step"]) == (variant, node, step):
            return row
    raise KeyError(f"{run.name} has no outcome for variant {variant!r}, node {node!r}, step {step!r}")


def step_packets(run: Run, variant: str, node: str, step: str) -> pd.DataFrame:
    """Packets captured on `node` while that step ran there (started_at .. started_at + duration_s).

    The window's end gets the same millisecond of slack as the explanations
    (lab.analysis.explain), since durations are recorded rounded to the millisecond.
    """
    row = outcome(run, variant, node, step)
    start, end = row["started_at"], row["started_at"] + row["duration_s"] + WINDOW_SLACK_S
    return _packet_frame(run, ((variant, p) for p in run.packets(variant) if p.node == node and start <= p.time <= end))
