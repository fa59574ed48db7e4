"""The report: spreads of the runs, the targets and their verdicts, bench/results.md."""

from __future__ import annotations

import statistics

from bench.paths import BENCH
from bench.scenarios import MODES

TARGET_INCIDENT_S, TARGET_RATIO, TARGET_READY_32_S, TARGET_DNODE_MB = 20.0, 1.3, 60.0, 30.0
FINDINGS = BENCH / "findings.md"


def spread(values: list[float]) -> dict:
    """Median, min, max and (from 4 values on) the interquartile range."""
    values = sorted(v for v in values if v is not None)
    if not values:
        return {"n": 0}
    result = {"n": len(values), "median": round(statistics.median(values), 3), "min": values[0], "max": values[-1]}
    if len(values) >= 4:
        q1, _, q3 = statistics.quantiles(values, n=4)
        result["iqr"] = [round(q1, 3), round(q3, 3)]
    return result


def fmt(stat: dict, unit: str = " s", digits: int = 2) -> str:
    """`median (min–max)` of a spread, or `–` without values."""
    if not stat or not stat.get("n"):
        return "–"
    median = f"{stat['median']:.{digits}f}{unit}"
    return median if stat["n"] == 1 else f"{median} ({stat['min']:.{digits}f}–{stat['max']:.{digits}f})"


def summarize(runs: list[dict], variants: tuple[str, ...]) -> dict:
    """Spread of the wall time and of each phase of each variant over the successful runs."""
    good = [r for r in runs if r["ok"]]
    result = {"runs": len(runs), "failed": len(runs) - len(good), "wall_s": spread([r["wall_s"] for r in good])}
    for variant in variants:
        keys = {key for r in good for key in r["variants"].get(variant, {})}
        result[variant] = {
            key: spread([r["variants"][variant].get(key) for r in good if variant in r["variants"]])
            for key in sorted(keys)
        }
    if good and "outside_variants_s" in good[0]:
        result["outside_variants_s"] = spread([r["outside_variants_s"] for r in good])
    return result


def overhead(lab: dict, base: dict) -> dict:
    """The lab's median wall time over the baseline's, from the two `wall_s` spreads."""
    ratio = round(lab["median"] / base["median"], 3) if lab.get("n") and base.get("n") else None
    return {"lab": lab, "baseline": base, "ratio": ratio}


def summarize_scaling(n: int, mode: str, runs: list[dict]) -> dict:
    """Spreads of the successful scaling runs of one size and proxy mode."""
    good = [r for r in runs if r["ok"]]
    mem = [r["memory"] for r in good if "by_kind" in r["memory"]]
    return {
        "n": n,
        "mode": mode,
        "runs": runs,
        "failed": len(runs) - len(good),
        "ready_s": spread([r["ready_s"] for r in good]),
        "containers_s": spread([r["containers_s"] for r in good]),
        "formation_s": spread([r["formation_s"] for r in good]),
        "teardown_s": spread([r["teardown_s"] for r in good]),
        "show_win_s": spread([r["show_dnodes_s"].get("win-client") for r in good]),
        "show_remote_s": spread([r["show_dnodes_s"].get("remote-client") for r in good]),
        "dnode_rss_median_mb": spread([r["dnode_rss_mb"]["median"] for r in good if r["dnode_rss_mb"]]),
        "dnode_rss_max_mb": spread([r["dnode_rss_mb"]["max"] for r in good if r["dnode_rss_mb"]]),
        "lab_rss_mb": spread([m["lab_rss_mb"] for m in mem]),
        "lab_pss_mb": spread([m["lab_pss_mb"] for m in mem]),
        "processes": spread([m["processes"] for m in mem]),
        "iptables_rules": spread([m["iptables_rules"] for m in mem]),
    }


def targets(results: dict) -> list[dict]:
    """Each target with what was measured and PASS/FAIL (or NOT MEASURED)."""
    rows = []
    for mode in MODES:
        wall = results["incident"][mode]["summary"]["wall_s"]
        rows.append(
            {
                "target": f"incident replay under {TARGET_INCIDENT_S:g} s (userland proxy {mode})",
                "measured": fmt(wall),
                "pass": wall.get("median", 1e9) < TARGET_INCIDENT_S,
            }
        )
        ratio = results["overhead"][mode]["ratio"]
        rows.append(
            {
                "target": f"lab at most {TARGET_RATIO}x the baseline (userland proxy {mode})",
                "measured": f"{ratio:.2f}x" if ratio else "–",
                "pass": bool(ratio) and ratio <= TARGET_RATIO,
            }
        )
    for mode in MODES:
        ready = results["scaling"].get(f"32-{mode}", {}).get("ready_s")
        rows.append(
            {
                "target": f"32-dnode cluster ready under {TARGET_READY_32_S:g} s (userland proxy {mode})",
                "measured": fmt(ready) if ready else "not measured",
                "pass": None if not ready else ready.get("median", 1e9) < TARGET_READY_32_S,
            }
        )
    per_dnode = [
        run["dnode_rss_mb"]["max"]
        for entry in results["scaling"].values()
        for run in entry["runs"]
        if run.get("dnode_rss_mb")
    ]
    rows.append(
        {
            "target": f"an emulated dnode under {TARGET_DNODE_MB:g} MB RSS (largest of all dnodes measured)",
            "measured": f"{max(per_dnode):.1f} MB" if per_dnode else "not measured",
            "pass": None if not per_dnode else max(per_dnode) < TARGET_DNODE_MB,
        }
    )
    return rows


def verdict(value: bool | None) -> str:
    """PASS, FAIL or NOT MEASURED."""
    return "NOT MEASURED" if value is None else ("PASS" if value else "FAIL")


def markdown(results: dict) -> str:
    """bench/results.md from the results, ending with bench/findings.md verbatim."""
    m = results["machine"]
    lines = [
        "# Lab benchmark (issue 8)",
        "",
        f"`{results['command']}` — {results['finished_at']}, {results['duration_min']:.1f} min. "
        "Regenerate with the same command; raw numbers in `bench/results.json`, lab result folders "
        "and logs of the last invocation in `bench/out/` (not committed). Times: median (min–max) of "
        f"{results['repeat']} run(s).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m['cpu']} |",
        f"| cores | {m['cores']} |",
        f"| memory | {m['memory_gib']} GiB |",
        f"| kernel | {m['kernel']} |",
        f"| Docker | {m['dockerd']}; CLI: {m['docker_cli']} |",
        f"| iptables | {m['iptables']} |",
        f"| Python | {m['python']} |",
        f"| load average (1, 5, 15 min) | start {', '.join(f'{x:.2f}' for x in m['load_average_start'])}; "
        f"end {', '.join(f'{x:.2f}' for x in m['load_average_end'])} |",
        "",
        "## Targets",
        "",
        "| target | measured | result |",
        "|---|---|---|",
    ]
    lines += [f"| {row['target']} | {row['measured']} | **{verdict(row['pass'])}** |" for row in results["targets"]]

    lines += [
        "",
        "## Incident replay, end to end",
        "",
        "`python -m lab run scenarios/tdengine-docker-cross-subnet.yaml` (both variants, both clients, "
        "captures, teardown, report). Phases from each run's `results.json` (`phases_s`, step durations).",
        "",
        "| phase | " + " | ".join(f"{v} (proxy {mode})" for mode in MODES for v in ("original", "fixed")) + " |",
        "|---|" + "---|" * 4,
    ]
    phases = (
        "network",
        "captures",
        "dockerd",
        "image",
        "docker_networks",
        "containers",
        "formation",
        "win-client connect",
        "remote-client connect",
        "win-client show-dnodes",
        "remote-client show-dnodes",
        "save_state",
        "teardown_docker",
        "teardown_captures",
        "teardown_network",
        "teardown",
        "total",
    )
    for phase in phases:
        cells = [
            fmt(results["incident"][mode]["summary"].get(v, {}).get(phase, {}))
            for mode in MODES
            for v in ("original", "fixed")
        ]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    for mode in MODES:
        s = results["incident"][mode]["summary"]
        lines.append(
            f"\nUserland proxy {mode}: **{fmt(s['wall_s'])}** wall per replay; outside the variants "
            f"(start-up, report): {fmt(s.get('outside_variants_s', {}))}; failed runs: {s['failed']}."
        )

    lines += [
        "",
        "## Lab against the plain baseline",
        "",
        "`bench/baseline.py` builds the same deployment with `ip netns`/`ip link`/`sysctl`, `dockerd` "
        "(`nsenter --net`) and `docker run` (containers started concurrently, the same teardown "
        "shortcut), forms the cluster and runs both clients' `taos` commands, then tears down; no captures, "
        "no state records, no report. Runs interleaved with the lab's.",
        "",
        "| userland proxy | lab | baseline | ratio |",
        "|---|---|---|---|",
    ]
    for mode in MODES:
        o = results["overhead"][mode]
        lines.append(
            f"| {mode} | {fmt(o['lab'])} | {fmt(o['baseline'])} | {o['ratio']:.2f}x |"
            if o["ratio"]
            else f"| {mode} | {fmt(o['lab'])} | {fmt(o['baseline'])} | – |"
        )
    lines += ["", "| phase (original, proxy on) | lab | baseline |", "|---|---|---|"]
    lab_o, base_o = (
        results["incident"]["on"]["summary"].get("original", {}),
        results["baseline"]["on"]["summary"].get("original", {}),
    )
    for phase, lab_key, base_key in (
        ("network", "network", "network"),
        ("dockerd", "dockerd", "dockerd"),
        ("image (+ network create)", "image", "image"),
        ("containers", "containers", "containers"),
        ("formation", "formation", "formation"),
        ("clients", "clients", "clients"),
        ("teardown", "teardown", "teardown"),
        ("variant total", "total", "total"),
    ):
        lines.append(f"| {phase} | {fmt(lab_o.get(lab_key, {}))} | {fmt(base_o.get(base_key, {}))} |")

    lines += [
        "",
        "## Scaling",
        "",
        "Generated scenarios (one Docker host, N dnodes, each publishing 13 tcp + 13 udp ports on its own host "
        "ports; `create dnode` for all in one `taos -s`). *ready*: from the run's start to `show dnodes` "
        "listing N ready dnodes. Memory sampled after the last client step: RSS of each dnode's processes "
        "(container pid from `docker inspect`), and of the whole lab (mininet shells, dockerd, containerd, "
        "docker-proxies, shims, dnodes; PSS counts shared pages once).",
        "",
        "| N | proxy | ready | containers | formation | show dnodes win / remote | RSS per dnode (median, max) "
        "| lab RSS / PSS | processes | iptables rules | teardown | failed |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in results["scaling"].values():
        lines.append(
            f"| {s['n']} | {s['mode']} | {fmt(s['ready_s'])} | {fmt(s['containers_s'])} | {fmt(s['formation_s'])} "
            f"| {fmt(s['show_win_s'])} / {fmt(s['show_remote_s'])} | {fmt(s['dnode_rss_median_mb'], ' MB', 1)}, "
            f"{fmt(s['dnode_rss_max_mb'], ' MB', 1)} | {fmt(s['lab_rss_mb'], ' MB', 0)} / {fmt(s['lab_pss_mb'], ' MB', 0)} "
            f"| {fmt(s['processes'], '', 0)} | {fmt(s['iptables_rules'], '', 0)} | {fmt(s['teardown_s'])} | {s['failed']} |"
        )
    biggest = max(results["scaling"].values(), key=lambda e: (e["n"], e["mode"] == "on"), default=None)
    if biggest and biggest["runs"] and "by_kind" in biggest["runs"][-1]["memory"]:
        lines += [
            "",
            f"Memory by kind at N={biggest['n']}, proxy {biggest['mode']} (last run):",
            "",
            "| kind | processes | RSS | PSS |",
            "|---|---|---|---|",
        ]
        for kind, k in biggest["runs"][-1]["memory"]["by_kind"].items():
            lines.append(f"| {kind} | {k['processes']} | {k['rss_mb']} MB | {k['pss_mb']} MB |")
        cpu = biggest["runs"][-1]["memory"]["cpu_s"]
        lines += [
            "",
            "CPU seconds used up to that moment (reaped children: dockerd's are its iptables commands, "
            "the shims' are runc): " + ", ".join(f"{kind} {secs:.1f} s" for kind, secs in cpu.items()) + ".",
        ]

    lines += [
        "",
        "## Where the time goes",
        "",
        "Commands of the last incident replay with the userland proxy on, from its transcript (seconds summed "
        "per kind of command; the container starts run concurrently, so their sum exceeds the wall time):",
        "",
        "| command | count | seconds |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{row['command']}` | {row['count']} | {row['seconds']} |" for row in results["transcript_profile"][:14]
    ]
    profile = results.get("profile")
    if profile and profile.get("text"):
        lines += [
            "",
            f"pyinstrument profile of one replay (`{profile['file']}`, the lab's main thread): the lab's "
            f"own Python used {profile['lab_cpu_s']} s of CPU in {profile['profiled_wall_s']} s; the rest is "
            "waiting for dockerd, the docker CLI and the programs in the nodes (`communicate`, `as_completed`):",
            "",
            "```",
            *profile["text"].strip().splitlines()[:60],
            "```",
        ]
    elif profile:
        lines += ["", f"No profile: {profile['skipped']}."]
    lines += ["", FINDINGS.read_text().strip(), ""]
    return "\n".join(lines)
