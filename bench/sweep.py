"""Benchmark of variants in parallel (issue 16): a sweep of 12 variants against 12 sequential replays,
and the incident replayed with --jobs 2 against the plain baseline.

    .venv/bin/python bench/sweep.py [--jobs K] [--runs N] [--only sweep|incident]

Sweep: the variant is scenarios/docker-nat-reachability.yaml (one Docker host with three
containers, a router, two clients, probes). "Sequential" is 12 `python -m lab run` of that
scenario, one after the other; "sweep" is one `python -m lab run --jobs K` of a copy whose
`matrix` makes the same deployment 12 times (axes a: 3 values x b: 4 values, each an empty
override). Both sides must give the same outcome in every cell (success and expectation met per
node and step).

Incident: `python -m lab run scenarios/tdengine-docker-cross-subnet.yaml --jobs K` against
bench/baseline.py (both variants one after the other, no lab code), interleaved; and, as the
floor no lab could beat on this machine, the baseline's two variants started at once (two
`baseline.py --variant ...` side by side: a parallel replay without any of the lab's work).

Wall time, CPU seconds of everything the bench reaped (RUSAGE_CHILDREN), medians of --runs.
Writes bench/sweep-results.json and bench/sweep-results.md; never run by the tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import machine, run_child  # noqa: E402
from bench.paths import BENCH, INCIDENT, OUT  # noqa: E402

VARIANT = ROOT / "scenarios" / "docker-nat-reachability.yaml"
COUNT = 12


def sweep_copy(directory: Path) -> Path:
    """The scenario with a matrix of 12 identical combinations (appended as text: the file has none)."""
    axes = "\n".join(
        f"    {axis}: {{{', '.join(f'v{i}: {{}}' for i in range(count))}}}" for axis, count in (("a", 3), ("b", 4))
    )
    text = VARIANT.read_text().replace("name: docker-nat-reachability", "name: bench-sweep-12", 1)
    path = directory / "bench-sweep-12.yaml"
    path.write_text(f"{text}\nmatrix:\n  axes:\n{axes}\n")
    return path


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cells(output: str) -> list[tuple[str, str, bool, bool]]:
    run_dir = Path(output.strip().splitlines()[-1].removeprefix("results: "))
    results = json.loads((run_dir / "results.json").read_text())
    return sorted((o["node"], o["step"], o["ok"], o["met"]) for o in results["outcomes"])


def timed(argv: list[str], name: str) -> tuple[float, float, list[tuple[str, str, bool, bool]]]:
    """Wall and CPU seconds of one lab run, and its cells (node, step, ok, met)."""
    cpu = _cpu()
    status, wall, output = run_child(argv, name)
    if status != 0:
        raise SystemExit(f"{name} exited with {status}; see {OUT / 'logs' / name}.err")
    return wall, _cpu() - cpu, _cells(output)


def _median(rows: list[dict]) -> dict[str, float]:
    return {key: statistics.median(row[key] for row in rows) for key in ("wall_s", "cpu_s")}


def measure_sweep(jobs: int, runs: int) -> dict:
    """12 sequential replays of the variant against one sweep of 12, `runs` times."""
    lab = [sys.executable, "-m", "lab", "run"]
    results_dir = OUT / "sweep-results"
    rows: dict[str, list[dict]] = {"sequential": [], "sweep": []}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as directory:
        matrix = sweep_copy(Path(directory))
        for run in range(runs):
            wall = cpu = 0.0
            single: list = []
            for index in range(COUNT):
                w, c, cells = timed([*lab, str(VARIANT), "--results", str(results_dir)], f"sequential-{run}-{index}")
                wall, cpu = wall + w, cpu + c
                single = single or cells
                assert cells == single, "the sequential replays disagree"
            rows["sequential"].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            print(f"run {run + 1}: 12 sequential replays {wall:.1f}s wall, {cpu:.1f}s cpu", flush=True)
            w, c, cells = timed([*lab, str(matrix), "--jobs", str(jobs), "--results", str(results_dir)], f"sweep-{run}")
            assert cells == sorted(single * COUNT), "the sweep's cells differ from the sequential replays'"
            rows["sweep"].append({"wall_s": round(w, 2), "cpu_s": round(c, 2)})
            print(f"run {run + 1}: sweep of 12, --jobs {jobs}: {w:.1f}s wall, {c:.1f}s cpu", flush=True)
    median = {side: _median(r) for side, r in rows.items()}
    speedup = round(median["sequential"]["wall_s"] / median["sweep"]["wall_s"], 2)
    return {"runs": rows, "median": median, "speedup": speedup, "pass": speedup >= 2}


def _children(argvs: list[list[str]], name: str) -> tuple[float, float]:
    """Wall and CPU seconds of programs started together and all awaited; each must exit 0."""
    cpu = _cpu()
    started = time.monotonic()
    with ThreadPoolExecutor(len(argvs)) as pool:
        results = list(pool.map(run_child, argvs, [f"{name}-{i}" for i in range(len(argvs))]))
    wall = time.monotonic() - started
    for index, (status, _, _) in enumerate(results):
        if status != 0:
            raise SystemExit(f"{name}-{index} exited with {status}; see {OUT / 'logs' / name}-{index}.err")
    return round(wall, 2), round(_cpu() - cpu, 2)


def measure_incident(jobs: int, runs: int) -> dict:
    """The incident with --jobs, the baseline, and the baseline's two variants at once, interleaved."""
    baseline = [sys.executable, str(BENCH / "baseline.py")]
    sides = {
        "lab": [
            [sys.executable, "-m", "lab", "run", str(INCIDENT), "--jobs", str(jobs), "--results", str(OUT / "incident")]
        ],
        "baseline": [baseline],
        "baseline_at_once": [[*baseline, "--variant", "original"], [*baseline, "--variant", "fixed"]],
    }
    rows: dict[str, list[dict]] = {side: [] for side in sides}
    for run in range(runs):
        for side, argvs in sides.items():
            wall, cpu = _children(argvs, f"incident-{side}-{run}")
            rows[side].append({"wall_s": wall, "cpu_s": cpu})
        print(
            f"run {run + 1}: incident " + ", ".join(f"{side} {r[-1]['wall_s']:.1f}s" for side, r in rows.items()),
            flush=True,
        )
    median = {side: _median(r) for side, r in rows.items()}
    ratio = round(median["lab"]["wall_s"] / median["baseline"]["wall_s"], 2)
    floor = round(median["baseline_at_once"]["wall_s"] / median["baseline"]["wall_s"], 2)
    return {"runs": rows, "median": median, "ratio": ratio, "floor_ratio": floor, "pass": ratio <= 0.6}


def _sweep_lines(sweep: dict, jobs: int) -> list[str]:
    return [
        "## Sweep of 12 variants against 12 sequential replays",
        "",
        f"Variant: `scenarios/docker-nat-reachability.yaml`; the sweep with `--jobs {jobs}`. Outcomes identical"
        " cell by cell.",
        "",
        "| | wall s (median) | CPU s (median) | CPU s per variant |",
        "|---|---|---|---|",
        *(
            f"| {side} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['cpu_s'] / COUNT:.2f} |"
            for side, m in sweep["median"].items()
        ),
        "",
        f"Speed-up: **{sweep['speedup']}x** (target 2x: {'met' if sweep['pass'] else 'not met'}).",
        "",
    ]


def _incident_lines(incident: dict, jobs: int) -> list[str]:
    names = {
        "lab": f"`lab run` of the incident, `--jobs {jobs}`",
        "baseline": "bench/baseline.py, both variants one after the other",
        "baseline_at_once": "bench/baseline.py, its two variants at once",
    }
    return [
        "## The incident replay against the baseline",
        "",
        "| | wall s (median) | CPU s (median) |",
        "|---|---|---|",
        *(f"| {names[side]} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} |" for side, m in incident["median"].items()),
        "",
        f"Lab / baseline: **{incident['ratio']}x** (target at most 0.6x: {'met' if incident['pass'] else 'not met'}); "
        f"the baseline's own two variants at once: {incident['floor_ratio']}x of the baseline.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    """Measure and write bench/sweep-results.*."""
    parser = argparse.ArgumentParser(description="Variants in parallel: a sweep of 12, and the incident with --jobs.")
    parser.add_argument("--jobs", type=int, default=2, metavar="K", help="variants at once (default 2)")
    parser.add_argument("--runs", type=int, default=1, metavar="N", help="runs of each side (default 1)")
    parser.add_argument("--only", choices=("sweep", "incident"), help="measure only one of the two")
    args = parser.parse_args(argv)
    report: dict = {"machine": machine(), "jobs": args.jobs, "runs_of_each": args.runs}
    if args.only != "incident":
        report["sweep"] = measure_sweep(args.jobs, args.runs)
    if args.only != "sweep":
        report["incident"] = measure_incident(args.jobs, args.runs)
    report["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    (BENCH / "sweep-results.json").write_text(json.dumps(report, indent=1) + "\n")
    command = " ".join(["bench/sweep.py", *(argv if argv is not None else sys.argv[1:])])
    cpu = report["machine"].get("cpu", "?")
    lines = [
        "# Variants in parallel (issue 16)",
        "",
        f"{report['finished_at']}; {cpu}, {report['machine'].get('cores', '?')} cores; `{command}`; "
        f"medians of {args.runs} run(s).",
        "",
        *(_sweep_lines(report["sweep"], args.jobs) if "sweep" in report else []),
        *(_incident_lines(report["incident"], args.jobs) if "incident" in report else []),
    ]
    (BENCH / "sweep-results.md").write_text("\n".join(lines))
    print(f"results: {BENCH / 'sweep-results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
