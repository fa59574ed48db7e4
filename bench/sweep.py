"""Benchmark of variants in parallel (issue 16): a sweep of 12 variants against 12 sequential replays.

    .venv/bin/python bench/sweep.py [--jobs K] [--runs N]

The variant is scenarios/docker-nat-reachability.yaml (one Docker host with three containers, a
router, two clients, probes). "Sequential" is 12 `python -m lab run` of that scenario, one after
the other; "sweep" is one `python -m lab run --jobs K` of a copy whose `matrix` makes the same
deployment 12 times (axes a: 3 values x b: 4 values, each an empty override). Both sides must
give the same outcome in every cell (success and expectation met per node and step). Wall time,
CPU seconds of the lab and everything it reaped (RUSAGE_CHILDREN), per variant; medians of
--runs. Writes bench/sweep-results.json and bench/sweep-results.md; never run by the tests.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.measure import machine, run_child  # noqa: E402
from bench.paths import BENCH, OUT  # noqa: E402

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


def main(argv: list[str] | None = None) -> int:
    """Measure and write bench/sweep-results.*."""
    parser = argparse.ArgumentParser(description="A sweep of 12 variants against 12 sequential replays.")
    parser.add_argument("--jobs", type=int, default=2, metavar="K", help="variants at once in the sweep (default 2)")
    parser.add_argument("--runs", type=int, default=1, metavar="N", help="runs of each side (default 1)")
    args = parser.parse_args(argv)
    lab = [sys.executable, "-m", "lab", "run"]
    results_dir = OUT / "sweep-results"
    rows: dict[str, list[dict]] = {"sequential": [], "sweep": []}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as directory:
        matrix = sweep_copy(Path(directory))
        for run in range(args.runs):
            wall = cpu = 0.0
            single: list = []
            for index in range(COUNT):
                w, c, cells = timed([*lab, str(VARIANT), "--results", str(results_dir)], f"sequential-{run}-{index}")
                wall, cpu = wall + w, cpu + c
                single = single or cells
                assert cells == single, "the sequential replays disagree"
            rows["sequential"].append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)})
            print(f"run {run + 1}: 12 sequential replays {wall:.1f}s wall, {cpu:.1f}s cpu", flush=True)
            w, c, cells = timed(
                [*lab, str(matrix), "--jobs", str(args.jobs), "--results", str(results_dir)], f"sweep-{run}"
            )
            assert cells == sorted(single * COUNT), "the sweep's cells differ from the sequential replays'"
            rows["sweep"].append({"wall_s": round(w, 2), "cpu_s": round(c, 2)})
            print(f"run {run + 1}: sweep of 12, --jobs {args.jobs}: {w:.1f}s wall, {c:.1f}s cpu", flush=True)
    median = {
        side: {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "cpu_s")} for side, runs in rows.items()
    }
    speedup = round(median["sequential"]["wall_s"] / median["sweep"]["wall_s"], 2)
    report = {
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "machine": machine(),
        "jobs": args.jobs,
        "runs": rows,
        "median": median,
        "speedup": speedup,
        "target": "sweep of 12 at least 2x faster than 12 sequential replays, identical outcomes",
        "pass": speedup >= 2,
    }
    (BENCH / "sweep-results.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [
        "# Sweep of 12 variants against 12 sequential replays",
        "",
        f"{report['finished_at']}; {report['machine'].get('cores', '?')} CPUs; `bench/sweep.py --jobs {args.jobs} "
        f"--runs {args.runs}`; variant: `scenarios/docker-nat-reachability.yaml`. Outcomes identical cell by cell.",
        "",
        "| | wall s (median) | CPU s (median) | CPU s per variant |",
        "|---|---|---|---|",
        *(
            f"| {side} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m['cpu_s'] / COUNT:.2f} |"
            for side, m in median.items()
        ),
        "",
        f"Speed-up: **{speedup}x** (target 2x: {'met' if report['pass'] else 'not met'}).",
        "",
    ]
    (BENCH / "sweep-results.md").write_text("\n".join(lines))
    print(f"speed-up {speedup}x; results: {BENCH / 'sweep-results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
