"""Benchmark of the lab (issue 8): where a replay's time goes, the lab against a plain script, scale.

    .venv/bin/python bench/run.py [--repeat N] [--quick] [--profile]

1. The incident replay (`python -m lab run scenarios/tdengine-docker-cross-subnet.yaml`: both
   variants, both clients, teardown) end to end and by phase, read from each run's
   results.json; with Docker's default userland proxy and with `userland_proxy: false`
   (a temporary copy of the scenario).
2. The same deployment by bench/baseline.py (ip, dockerd, docker; no lab code), interleaved
   with the lab runs: the lab's overhead as a ratio.
3. Scaling: generated scenarios with N emulated dnodes, each publishing its 13 tcp+udp ports
   on distinct host ports: time to all `ready`, each client's `show dnodes`, RSS per dnode
   (the container's processes, found through `docker inspect`) and of the whole lab.
4. Medians and spread of --repeat runs (5 by default; --quick: 1 run, N = 3 and 8 only).

Writes bench/results.json and bench/results.md; lab result folders and logs go to bench/out/
(rewritten by each invocation, not committed). Targets are checked here, never by tests.
Everything the bench starts is torn down, also on Ctrl-C or SIGTERM (exit status 130).

This file parses the command line and runs the measurements in order; the scenarios are made by
bench/scenarios.py, measured by bench/measure.py and reported by bench/report.py, whose findings
prose is bench/findings.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # lab and bench.* import from the repo root, also when run as a script

from bench.measure import baseline, lab_incident, machine, profile_incident, scale_run, transcript_profile  # noqa: E402
from bench.paths import BENCH, INCIDENT, OUT  # noqa: E402
from bench.report import markdown, overhead, summarize, summarize_scaling, targets, verdict  # noqa: E402
from bench.scenarios import MODES, incident_copy  # noqa: E402
from lab.errors import MachineUnfit  # noqa: E402
from lab.machine import check_machine  # noqa: E402

SIZES, QUICK_SIZES = (3, 8, 16, 32), (3, 8)


def log(text: str) -> None:
    """Progress on stderr."""
    print(text, file=sys.stderr, flush=True)


# -- main ----------------------------------------------------------------------------------
def _interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write bench/results.*; 0, 3 (machine unfit) or 130 (interrupted)."""
    parser = argparse.ArgumentParser(description="Benchmark the lab: incident replay by phase, baseline, scaling.")
    parser.add_argument("--repeat", type=int, default=5, metavar="N", help="runs of each measurement (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 run of each, scaling only to N=3 and 8")
    parser.add_argument("--profile", action="store_true", help="also profile one replay with pyinstrument")
    args = parser.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    sizes = QUICK_SIZES if args.quick else SIZES
    try:
        check_machine()
    except MachineUnfit as exc:
        log(f"cannot run the benchmark on this machine:\n{exc}")
        return 3
    signal.signal(signal.SIGTERM, _interrupt)
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    scenarios = Path(tempfile.mkdtemp(prefix="bench-scenarios-"))
    started = time.monotonic()
    results: dict = {
        "command": " ".join([".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "repeat": repeat,
        "sizes": list(sizes),
        "machine": machine(),
    }
    try:
        incident = {"on": INCIDENT, "off": incident_copy(scenarios)}
        lab_runs = {mode: [] for mode in MODES}
        base_runs = {mode: [] for mode in MODES}
        for index in range(repeat):
            for mode in MODES:
                log(f"incident replay {index + 1}/{repeat}, userland proxy {mode}: lab ...")
                lab_runs[mode].append(lab_incident(incident[mode], mode, index))
                log(f"  lab {lab_runs[mode][-1]['wall_s']:.1f}s; baseline ...")
                base_runs[mode].append(baseline(mode, index))
                log(f"  baseline {base_runs[mode][-1]['wall_s']:.1f}s")
        results["incident"] = {
            mode: {"runs": lab_runs[mode], "summary": summarize(lab_runs[mode], ("original", "fixed"))}
            for mode in MODES
        }
        results["baseline"] = {
            mode: {"runs": base_runs[mode], "summary": summarize(base_runs[mode], ("original", "fixed"))}
            for mode in MODES
        }
        results["overhead"] = {
            mode: overhead(
                results["incident"][mode]["summary"]["wall_s"], results["baseline"][mode]["summary"]["wall_s"]
            )
            for mode in MODES
        }
        last = next((r for r in reversed(lab_runs["on"]) if r["ok"]), None)
        results["transcript_profile"] = transcript_profile(last["run_dir"]) if last else []

        results["scaling"] = {}
        for n in sizes:
            for mode in MODES:
                runs = []
                for index in range(repeat):
                    log(f"scaling: {n} dnodes, userland proxy {mode}, run {index + 1}/{repeat} ...")
                    runs.append(scale_run(n, mode, scenarios, log))
                    log(f"  ready {runs[-1]['ready_s']}s, wall {runs[-1]['wall_s']:.1f}s, ok {runs[-1]['ok']}")
                results["scaling"][f"{n}-{mode}"] = summarize_scaling(n, mode, runs)
        if args.profile:
            log("profiling one replay with pyinstrument ...")
            results["profile"] = profile_incident()
    except KeyboardInterrupt:
        log("interrupted: every lab run and baseline was torn down; bench/results.* were not rewritten")
        return 130
    finally:
        shutil.rmtree(scenarios, ignore_errors=True)
    results["machine"]["load_average_end"] = os.getloadavg()
    results["duration_min"] = round((time.monotonic() - started) / 60, 2)
    results["finished_at"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results["targets"] = targets(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (BENCH / "results.md").write_text(markdown(results))
    for row in results["targets"]:
        print(f"{verdict(row['pass']):>12}  {row['target']}: {row['measured']}")
    print(f"results: {BENCH / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
