"""report.md: a self-contained write-up of a run, fit for a blog post."""

from __future__ import annotations

from pathlib import Path

from .. import kinds
from ..results.matrix import outcome_matrix
from ..scenario import model
from .explain import Explanation
from .rundir import RunDir

MARK = {True: "✅", False: "❌"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def configurations_table(scenario: model.Scenario) -> str:
    """Per container and client, each variant's published ports and files side by side."""
    variants = scenario.variants
    header = "| | " + " | ".join(f"`{v.name}`" for v in variants) + " |\n|---|" + "---|" * len(variants) + "\n"
    rows = []
    names = dict.fromkeys(c.name for v in variants for c in v.deployment.containers)
    for name in names:
        cells = []
        for variant in variants:
            container = next((c for c in variant.deployment.containers if c.name == name), None)
            if container is None:
                cells.append("(absent)")
                continue
            parts = [f"**published** `{' '.join(container.publish) or '-'}`"]
            parts += [
                f"**{f.path}**<br>`" + "`<br>`".join(f.content.strip().splitlines()) + "`" for f in container.files
            ]
            cells.append("<br>".join(parts))
        rows.append(
            f"| container **{name}** | "
            + " | ".join(_cell(c) if "<br>" not in c else c.replace("|", "\\|") for c in cells)
            + " |"
        )
    for node in variants[0].deployment.nodes:
        if not kinds.kind(node.kind).client:
            continue
        cells = []
        for variant in variants:
            current = variant.deployment.node(node.name)
            parts = [f"**{f.path}**<br>`" + "`<br>`".join(f.content.strip().splitlines()) + "`" for f in current.files]
            parts += [f"hosts: `{name} -> {address}`" for name, address in current.hosts]
            cells.append("<br>".join(parts).replace("|", "\\|") or "-")
        rows.append(f"| client **{node.name}** | " + " | ".join(cells) + " |")
    return header + "\n".join(rows) + "\n"


def outcome_markdown(run: RunDir) -> str:
    """Rows node x step, columns variants; each cell the result and whether it was expected."""
    matrix = outcome_matrix(run.outcomes, run.variant_names)
    lines = ["| node | step | " + " | ".join(matrix.variants) + " |", "|---|---|" + "---|" * len(matrix.variants)]
    for node, step, cells in matrix.rows:
        texts = []
        for cell in cells:
            if cell is None:
                texts.append("—")
                continue
            expectation = "as expected" if cell.met else f"**NOT as expected** ({cell.expected})"
            texts.append(_cell(f"{MARK[cell.ok]} {cell.result} — {expectation}"))
        lines.append(f"| {node} | {step} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def write_report(
    run: RunDir, scenario: model.Scenario, explanations: list[Explanation], pictures: dict[str, str]
) -> Path:
    """Write report.md into the run folder and return its path."""
    results = run.results
    summary = results["summary"]
    parts = [
        f"# {scenario.name}\n",
        scenario.description.strip() + "\n" if scenario.description else "",
        f"Run {results['started_at']} – {results['ended_at'] or '(incomplete)'}; lab {results['versions'].get('lab')}, "
        f"kernel {results['versions'].get('kernel')}, Docker {results['versions'].get('docker', '-')}; "
        f"scenario sha256 `{scenario.sha256[:12]}`. Expectations met: **{summary['met']}/{summary['outcomes']}**.\n",
        "## Topology\n",
    ]
    for variant, picture in pictures.items():
        parts.append(f"![topology of {variant}]({picture})\n")
    if len(scenario.variants) > 1 or scenario.variants[0].deployment.containers:
        parts += ["## Configurations side by side\n", configurations_table(scenario)]
    for variant in scenario.variants:
        if variant.description:
            parts.append(f"- `{variant.name}`: {variant.description}")
    parts += ["\n## What each client saw\n", outcome_markdown(run)]
    failures = [e for e in explanations if not e.ok]
    if failures:
        parts.append("## Why the failures happened\n")
        parts.append(
            "Derived from the packet captures, the clients' hosts files and the Docker host's NAT rules and "
            "counters recorded during the run.\n"
        )
        for explanation in failures:
            parts.append(f"### {explanation.variant} / {explanation.node} / {explanation.step}\n")
            parts.append("```text\n" + explanation.text() + "\n```\n")
    passes = [e for e in explanations if e.ok]
    if passes:
        parts.append("## Passing steps, in one line each\n")
        parts += [f"- {_cell(e.one_line())}" for e in passes]
    parts.append("\n## Files of this run\n")
    parts.append("- `results.json`, `outcomes.csv`, `transcript.log` (every command and its output)")
    for variant in run.variant_names:
        parts.append(
            f"- `{variant}/sessions/` (exact output of each step), `{variant}/captures/` (pcap, open in "
            f"Wireshark), `{variant}/state/` (hosts files, routes, NAT rules with counters)"
        )
    path = run.path / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
