"""report.md and report.zh.md: a self-contained write-up of a run, fit for a blog post.

Both come from one function run once per language (lab.analysis.messages): the same
structure and facts, every sentence from the catalogue. Pictures are files beside the
report; a sequence diagram is also written out as a Mermaid block, which code hosts draw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import kinds
from ..results.matrix import outcome_matrix
from ..results.record import atomic_write, trial_label
from ..scenario import model
from .explain import Explanation
from .messages import current, t
from .rundir import RunDir
from .sequence import Diagram, mermaid

MARK = {True: "✅", False: "❌"}
REPORT_NAMES = {"en": "report.md", "zh": "report.zh.md"}


@dataclass(frozen=True)
class Pictures:
    """The pictures of one language's report, as file names in the run folder."""

    topology: Mapping[str, str]  # variant -> topology picture
    sequences: Mapping[tuple[str, str, str], tuple[Diagram, str, str]]  # cell -> (diagram, svg, png)
    paths: Mapping[tuple[str, str, str], str]  # failing cell -> topology with the path drawn over it


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
                cells.append(t("(absent)"))
                continue
            parts = ["**" + t("published") + f"** `{' '.join(container.publish) or '-'}`"]
            parts += [
                f"**{f.path}**<br>`" + "`<br>`".join(f.content.strip().splitlines()) + "`" for f in container.files
            ]
            cells.append("<br>".join(parts))
        rows.append(
            "| "
            + t("container")
            + f" **{name}** | "
            + " | ".join(_cell(c) if "<br>" not in c else c.replace("|", "\\|") for c in cells)
            + " |"
        )
    for node in variants[0].deployment.nodes:
        if not kinds.kind(node.kind).client:
            continue
        cells = []
        for variant in variants:
            current_node = variant.deployment.node(node.name)
            parts = [
                f"**{f.path}**<br>`" + "`<br>`".join(f.content.strip().splitlines()) + "`" for f in current_node.files
            ]
            parts += [f"hosts: `{name} -> {address}`" for name, address in current_node.hosts]
            cells.append("<br>".join(parts).replace("|", "\\|") or "-")
        rows.append("| " + t("client") + f" **{node.name}** | " + " | ".join(cells) + " |")
    return header + "\n".join(rows) + "\n"


def outcome_markdown(run: RunDir) -> str:
    """Rows node x step, columns variants; each cell the result and whether it was expected."""
    matrix = outcome_matrix(run.outcomes, run.variant_names)
    lines = [
        "| " + t("node") + " | " + t("step") + " | " + " | ".join(matrix.variants) + " |",
        "|---|---|" + "---|" * len(matrix.variants),
    ]
    for node, step, cells in matrix.rows:
        texts = []
        for cell in cells:
            if cell is None:
                texts.append("—")
                continue
            result = t("ok") if cell.ok else t("failed: {error}", error=cell.error)
            expectation = (
                t("as expected") if cell.met else t("**NOT as expected** ({expected})", expected=cell.expected)
            )
            count = f"{cell.count} " if matrix.repeated else ""  # run --repeat: trials as expected, flaky
            texts.append(_cell(f"{MARK[cell.ok]} {count}{result} — {expectation}"))
        lines.append(f"| {node} | {step} | " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"


def _conversation(key: tuple[str, str, str], pictures: Pictures) -> list[str]:
    if key not in pictures.sequences:
        return []
    diagram, svg, png = pictures.sequences[key]
    return [
        "#### " + t("The conversation, from the captures") + "\n",
        "![" + t("sequence diagram of {cell}", cell=" / ".join(key)) + f"]({svg})\n",
        "```mermaid\n" + mermaid(diagram) + "```\n",
        t("The same picture as PNG: [{png}]({png}).", png=png) + "\n",
    ]


def report_markdown(run: RunDir, scenario: model.Scenario, explanations: list[Explanation], pictures: Pictures) -> str:
    """The report in the current language (lab.analysis.messages.language)."""
    results = run.results
    summary = results["summary"]
    versions = results["versions"]
    other = {"en": ("report.zh.md", "中文"), "zh": ("report.md", "English")}[current()]
    parts = [
        f"# {scenario.name}\n",
        f"[{other[1]}]({other[0]}) · [HTML]({'report.html' if current() == 'en' else 'report.zh.html'})\n",
        scenario.description.strip() + "\n" if scenario.description else "",
        t(
            "Run {started} – {ended}; lab {lab}, kernel {kernel}, Docker {docker}; scenario sha256 `{sha}`. "
            "Expectations met: **{met}/{total}**.",
            started=results["started_at"],
            ended=results["ended_at"] or t("(incomplete)"),
            lab=versions.get("lab"),
            kernel=versions.get("kernel"),
            docker=versions.get("docker", "-"),
            sha=scenario.sha256[:12],
            met=summary["met"],
            total=summary["outcomes"],
        )
        + "\n",
        "## " + t("Topology") + "\n",
    ]
    for variant, picture in pictures.topology.items():
        parts.append("![" + t("topology of {variant}", variant=variant) + f"]({picture})\n")
    if len(scenario.variants) > 1 or scenario.variants[0].deployment.containers:
        parts += ["## " + t("Configurations side by side") + "\n", configurations_table(scenario)]
    for variant in scenario.variants:
        if variant.description:
            parts.append(f"- `{variant.name}`: {variant.description}")
    parts += ["\n## " + t("What each client saw") + "\n", outcome_markdown(run)]
    if scenario.axes:  # a matrix: its pivot, one table per client and step (lab/results/pivot.py)
        parts += ["## " + t("The matrix") + "\n", pivot_section(run, scenario, explanations)]
    failures = [e for e in explanations if not e.ok]
    if failures:
        parts.append("## " + t("Why the failures happened") + "\n")
        parts.append(
            t(
                "Derived from the packet captures, the clients' hosts files and the Docker host's NAT rules and "
                "counters recorded during the run."
            )
            + "\n"
        )
        for explanation in failures:
            key = (explanation.variant, explanation.node, explanation.step)
            shown = trial_label(explanation.variant, explanation.trial, explanation.repeat)
            parts.append(f"### {' / '.join((shown, *key[1:]))}\n")
            parts.append("```text\n" + explanation.text() + "\n```\n")
            drawn = pictures.sequences.get(key)
            if drawn is None or drawn[0].trial != explanation.trial:
                continue  # a cell is drawn once, from its first failing trial (sequence.worth_drawing)
            parts += _conversation(key, pictures)
            if key in pictures.paths:
                parts.append("#### " + t("The failing path on the map") + "\n")
                parts.append("![" + t("failing path of {cell}", cell=" / ".join(key)) + f"]({pictures.paths[key]})\n")
    counterparts = [key for key, (diagram, _, _) in pictures.sequences.items() if diagram.ok]
    if counterparts:
        parts.append("## " + t("Passing counterparts") + "\n")
        parts.append(t("The same step where it worked, drawn the same way from its captures.") + "\n")
        for key in counterparts:
            parts.append(f"### {' / '.join(key)}\n")
            parts += _conversation(key, pictures)
    passes = [e for e in explanations if e.ok]
    if passes:
        parts.append("## " + t("Passing steps, in one line each") + "\n")
        parts += [f"- {_cell(e.one_line())}" for e in passes]
    parts.append("\n## " + t("Files of this run") + "\n")
    parts.append("- " + t("`results.json`, `outcomes.csv`, `transcript.log` (every command and its output)"))
    for variant in run.variant_names:
        parts.append(
            "- "
            + t(
                "`{variant}/sessions/` (exact output of each step), `{variant}/captures/` (pcap, open in "
                "Wireshark), `{variant}/state/` (hosts files, routes, NAT rules with counters)",
                variant=variant,
            )
        )
    return "\n".join(parts) + "\n"


def pivot_section(run: RunDir, scenario: model.Scenario, explanations: list[Explanation]) -> str:
    """The matrix's pivot tables (their SVGs written beside the report); a failing cell's reason is the
    last link of its explanation's chain."""
    from ..results.pivot import write_pivot

    clients = [n.name for n in scenario.variants[0].deployment.nodes if kinds.kind(n.kind).client]
    return write_pivot(run.path, scenario.axes, run.outcomes, clients, failure_reasons(explanations))


def failure_reasons(explanations: list[Explanation]) -> dict[tuple[str, str, str], str]:
    """Each failing cell's reason in one line: the last link of its explanation's chain, where it
    broke (e.g. `taosnode2:6030 -> udp 10.0.31.2:6030: ICMP port unreachable`)."""
    return {
        (e.variant, e.node, e.step): e.one_line().split(" — ")[-1].split(" | ")[-1] for e in explanations if not e.ok
    }


def write_report(run: RunDir, scenario: model.Scenario, explanations: list[Explanation], pictures: Pictures) -> Path:
    """Write the current language's report into the run folder and return its path."""
    path = run.path / REPORT_NAMES[current()]
    atomic_write(path, report_markdown(run, scenario, explanations, pictures))
    return path
