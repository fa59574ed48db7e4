"""Measurements: the lab's and the baseline's runs as children, scaling runs in-process, /proc sampling."""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from bench.paths import BENCH, INCIDENT, OUT, ROOT
from bench.scenarios import FORMATION_STEPS, scaling_scenario
from lab.deploy.journal import STATE_DIR, read, same_process

if TYPE_CHECKING:
    from lab.steps.execute import Outcome

CHILD_TIMEOUT_S = 900
STOP_WAIT_S = 180
TRANSCRIPT_RE = re.compile(
    r"^\S+ \[(?P<where>[^\]]+)\] \$ (?P<cmd>.+?)  \((?:exit -?\d+|timed out), (?P<secs>[\d.]+)s\)$"
)


# -- children: the lab's CLI and the baseline, each in its own session --------------------
def run_child(argv: list[str], name: str) -> tuple[int, float, str]:
    """Run a program to completion with its output in bench/out/logs; SIGTERM it (it tears down) if we are stopped."""
    logs = OUT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(logs / f"{name}.out", "wb") as out, open(logs / f"{name}.err", "wb") as err:
        process = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True
        )
        try:
            process.wait(timeout=CHILD_TIMEOUT_S)
        except BaseException:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            raise
    return process.returncode, time.monotonic() - started, (logs / f"{name}.out").read_text(errors="replace")


def variant_breakdown(variant: dict, outcomes: list[dict]) -> dict:
    """One variant's phases: build phases from phases_s, formation and client steps from the outcomes."""
    phases = variant["phases_s"]
    mine = [o for o in outcomes if o["variant"] == variant["name"]]
    result = {
        key: phases.get(key)
        for key in (
            "network",
            "captures",
            "dockerd",
            "image",
            "docker_networks",
            "containers",
            "build",
            "save_state",
            "teardown",
            "teardown_docker",
            "teardown_captures",
            "teardown_network",
            "total",
        )
    }
    result["formation"] = round(sum(o["duration_s"] for o in mine if o["step"] in FORMATION_STEPS), 3)
    for o in mine:
        if o["step"] not in FORMATION_STEPS:
            result[f"{o['node']} {o['step']}"] = o["duration_s"]
    result["clients"] = round(sum(o["duration_s"] for o in mine if o["step"] not in FORMATION_STEPS), 3)
    return result


def lab_incident(scenario: Path, mode: str, index: int) -> dict:
    """One `python -m lab run` of the incident; its wall time and per-variant phases."""
    name = f"incident-{mode}-{index}"
    code, wall, stdout = run_child(
        [sys.executable, "-m", "lab", "run", str(scenario), "--results", str(OUT / f"incident-{mode}")], name
    )
    last = stdout.strip().splitlines()[-1:] or [""]
    run_dir = Path(last[0].removeprefix("results: ")) if last[0].startswith("results: ") else None
    if code != 0 or run_dir is None:
        return {"ok": False, "exit": code, "wall_s": round(wall, 3), "log": str(OUT / "logs" / name)}
    data = json.loads((run_dir / "results.json").read_text())
    variants = {v["name"]: variant_breakdown(v, data["outcomes"]) for v in data["variants"]}
    return {
        "ok": True,
        "wall_s": round(wall, 3),
        "run_dir": str(run_dir),
        "variants": variants,
        "outside_variants_s": round(wall - sum(v["total"] for v in variants.values()), 3),
        "docker": data["versions"].get("docker"),
    }


def baseline(mode: str, index: int) -> dict:
    """One run of bench/baseline.py (both variants)."""
    name = f"baseline-{mode}-{index}"
    code, wall, stdout = run_child([sys.executable, str(BENCH / "baseline.py"), "--userland-proxy", mode], name)
    if code != 0:
        return {"ok": False, "exit": code, "wall_s": round(wall, 3), "log": str(OUT / "logs" / name)}
    data = json.loads(stdout)
    return {"ok": True, "wall_s": round(wall, 3), "variants": {v["variant"]: v["phases_s"] for v in data["variants"]}}


# -- scaling: generated scenarios run in-process, measured while the lab is up -------------
def proc_table() -> dict[int, int]:
    """pid -> parent pid of every process."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def descendants(pid: int, parents: dict[int, int]) -> list[int]:
    """Children, grandchildren, ... of a process in a `proc_table`."""
    children: dict[int, list[int]] = {}
    for child, parent in parents.items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_s(pid: int) -> tuple[float, float]:
    """(own CPU seconds, CPU seconds of its reaped children) of a process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB; (0, 0) when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    rss = re.search(r"^VmRSS:\s+(\d+)", status, re.M)
    pss = re.search(r"^Pss:\s+(\d+)", rollup, re.M)
    return int(rss.group(1)) if rss else 0, int(pss.group(1)) if pss else 0


def own_journal() -> list[dict]:
    """The journal of the lab run this process is doing now (its `run` record names our pid)."""
    for path in sorted(STATE_DIR.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True):
        records = read(path)
        if records and records[0]["kind"] == "run" and records[0]["pid"] == os.getpid():
            return records
    raise RuntimeError("the running lab's journal was not found")


def measure_lab() -> dict:
    """RSS of every process of the running lab, by kind, and the server's iptables rule count.

    Mininet shells, dockerd and containerd come from the run's journal; docker-proxies are
    dockerd's other children; each container's pid comes from `docker inspect` on that
    dockerd's socket, its shim is the pid's parent, the dnode is the pid and its descendants.
    """
    records = [r for r in own_journal() if r["kind"] in ("node", "process") and same_process(r["pid"], r["started"])]
    shells = [r["pid"] for r in records if r["kind"] == "node"]
    dockerds = [r["pid"] for r in records if r["kind"] == "process" and r["what"].startswith("dockerd of ")]
    containerds = [r["pid"] for r in records if r["kind"] == "process" and r["what"].startswith("containerd of ")]
    parents = proc_table()
    kinds: dict[str, list[int]] = {
        "mininet shells": shells,
        "dockerd": dockerds,
        "containerd": containerds,
        "docker-proxy": [],
        "containerd shims": [],
        "dnodes": [],
    }
    dnodes, rules = [], 0
    for dockerd in dockerds:
        kinds["docker-proxy"] += [
            pid for pid in descendants(dockerd, parents) if pid not in containerds and parents.get(pid) == dockerd
        ]
        argv = Path(f"/proc/{dockerd}/cmdline").read_bytes().split(b"\0")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_HOST": argv[argv.index(b"--host") + 1].decode()}
        ids = subprocess.run(
            ["docker", "ps", "--quiet"], env=env, capture_output=True, text=True, timeout=60, check=True
        ).stdout.split()
        if not ids:
            continue
        inspected = subprocess.run(
            ["docker", "inspect", "--format", "{{.Name}} {{.State.Pid}}", *ids],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.split("\n")
        for line in filter(None, inspected):
            name, pid = line.strip("/").split()
            tree = [int(pid), *descendants(int(pid), parents)]
            kinds["containerd shims"].append(parents[int(pid)])
            kinds["dnodes"] += tree
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            dnodes.append(
                {
                    "container": name,
                    "pid": int(pid),
                    "command": command.strip(),
                    "rss_kb": sum(memory_kb(p)[0] for p in tree),
                }
            )
        saved = subprocess.run(
            ["nsenter", f"--net=/proc/{dockerd}/ns/net", "iptables-save"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        rules += sum(line.startswith("-A ") for line in saved.splitlines())
    by_kind = {}
    for kind, pids in kinds.items():
        sizes = [memory_kb(pid) for pid in pids]
        by_kind[kind] = {
            "processes": len(pids),
            "rss_mb": round(sum(r for r, _ in sizes) / 1024, 1),
            "pss_mb": round(sum(p for _, p in sizes) / 1024, 1),
        }
    cpu = {
        f"{kind} {part}": round(sum(cpu_s(pid)[i] for pid in pids), 2)
        for kind, pids in (
            ("dockerd", dockerds),
            ("containerd", containerds),
            ("containerd shims", kinds["containerd shims"]),
        )
        for i, part in enumerate(("own", "reaped children"))
    }
    return {
        "dnodes": dnodes,
        "by_kind": by_kind,
        "iptables_rules": rules,
        "cpu_s": cpu,
        "lab_rss_mb": round(sum(k["rss_mb"] for k in by_kind.values()), 1),
        "lab_pss_mb": round(sum(k["pss_mb"] for k in by_kind.values()), 1),
        "processes": sum(k["processes"] for k in by_kind.values()),
        "controller_rss_mb": round(memory_kb(os.getpid())[0] / 1024, 1),
    }


def scale_run(n: int, mode: str, directory: Path, log: Callable[[str], None]) -> dict:
    """Run one generated scenario in this process; measure memory when the last client step is done."""
    from lab.runner import run_scenario
    from lab.scenario.loader import load_scenario

    path = directory / f"scale-{n}-{mode}.yaml"
    path.write_text(yaml.safe_dump(scaling_scenario(n, mode), sort_keys=False))
    scenario = load_scenario(path)
    sample: dict = {}

    def on_outcome(outcome: Outcome, trial: int = 1) -> None:
        if (outcome.node, outcome.step) == ("remote-client", "show-dnodes"):
            try:
                sample.update(measure_lab())
            except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as exc:
                sample["error"] = f"{type(exc).__name__}: {exc}"

    def progress(text: str) -> None:
        if ": container " not in text:
            log(f"    [{n} dnodes, proxy {mode}] {text}")

    started = time.time()
    record = run_scenario(scenario, OUT / "scale", progress, on_outcome)
    wall = time.time() - started
    outcomes = {(o.node, o.step): o for o in record.outcomes}
    variant = record.variants[0]
    ready = outcomes.get(("taosnode1", "cluster-ready"))
    rss = [d["rss_kb"] / 1024 for d in sample.get("dnodes", [])]
    return {
        "n": n,
        "mode": mode,
        "ok": variant["built"] and all(o.ok for o in record.outcomes),
        "wall_s": round(wall, 3),
        "error": variant["error"],
        "run_dir": str(record.directory),
        "ready_s": round(ready.started_at + ready.duration_s - started, 3) if ready and ready.ok else None,
        "containers_s": variant["phases_s"].get("containers"),
        "build_s": variant["phases_s"].get("build"),
        "formation_s": round(sum(o.duration_s for o in record.outcomes if o.step in FORMATION_STEPS), 3),
        "show_dnodes_s": {node: o.duration_s for (node, step), o in outcomes.items() if step == "show-dnodes"},
        "teardown_s": variant["phases_s"].get("teardown"),
        "dnode_rss_mb": {"median": round(statistics.median(rss), 1), "max": round(max(rss), 1)} if rss else None,
        "memory": sample,
    }


# -- where the time goes ------------------------------------------------------------------
def transcript_profile(run_dir: str) -> list[dict]:
    """Seconds and counts per kind of command in a run's transcript (concurrent commands overlap)."""
    totals: dict[str, list[float]] = {}
    for line in (Path(run_dir) / "transcript.log").read_text(errors="replace").splitlines():
        match = TRANSCRIPT_RE.match(line)
        if not match:
            continue
        words = match["cmd"].split()
        kind = " ".join(words[:2]) if words[0] in ("docker", "nsenter") else words[0]
        if words[0] == "nsenter":
            kind = "nsenter " + next((w for w in words[1:] if not w.startswith("-")), "")
        entry = totals.setdefault(kind, [0, 0.0])
        entry[0] += 1
        entry[1] += float(match["secs"])
    rows = [{"command": kind, "count": count, "seconds": round(secs, 2)} for kind, (count, secs) in totals.items()]
    return sorted(rows, key=lambda row: row["seconds"], reverse=True)


def profile_incident() -> dict:
    """One incident replay under pyinstrument (the lab's Python side: what it waits on, and for how long)."""
    if importlib.util.find_spec("pyinstrument") is None:
        return {"skipped": "pyinstrument is not installed: .venv/bin/pip install pyinstrument"}
    output = OUT / "profile-incident.txt"
    code, wall, _ = run_child(
        [
            sys.executable,
            "-m",
            "pyinstrument",
            "--renderer",
            "text",
            "--outfile",
            str(output),
            "-m",
            "lab",
            "run",
            str(INCIDENT),
            "--results",
            str(OUT / "profile"),
        ],
        "profile",
    )
    text = output.read_text(errors="replace") if output.exists() else ""
    header = re.search(r"Duration:\s+([\d.]+)\s+CPU time:\s+([\d.]+)", text)
    return {
        "exit": code,
        "wall_s": round(wall, 3),
        "file": str(output.relative_to(ROOT)),
        "text": text,
        "profiled_wall_s": float(header.group(1)) if header else None,
        "lab_cpu_s": float(header.group(2)) if header else None,
    }


# -- the machine ---------------------------------------------------------------------------
def first_line(argv: list[str]) -> str:
    """The first line a program prints, or `?`."""
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine() -> dict:
    """CPU, memory, kernel, tool versions and load average of this machine."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    memory = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)
    return {
        "cpu": model.group(1) if model else platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory.group(1)) / 1024 / 1024, 1),
        "kernel": platform.release(),
        "dockerd": first_line(["dockerd", "--version"]),
        "docker_cli": first_line(["docker", "--version"]),
        "iptables": first_line(["iptables", "--version"]),
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
    }
