"""After a run (and for `lab report RUN_DIR`): the pictures, explanation.txt, and the report in
every language (report.md, report.zh.md) and as web pages (report.html, report.zh.html)."""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..results.record import atomic_write, safe_name
from ..scenario import model
from ..scenario.loader import load_scenario
from .explain import explain_run, render
from .html import write_page
from .messages import LANGUAGES, SOURCE_LANGUAGE, language, t
from .report import Pictures, write_report
from .rundir import NotARunDir, RunDir
from .sequence import build_diagram, diagram_name, worth_drawing
from .sequence_draw import draw
from .topology import path_graph, render_topology


def _suffix(lang: str) -> str:
    return "" if lang == SOURCE_LANGUAGE else f".{lang}"


def run_scenario(run_dir: Path) -> model.Scenario:
    """The scenario a run folder was made from (its copy, scenario.yaml)."""
    path = Path(run_dir) / "scenario.yaml"
    if not path.is_file():
        raise NotARunDir(f"{run_dir} has no scenario.yaml; give a folder printed as 'results: ...' by `lab run`")
    try:
        return load_scenario(path)
    except InvalidInput as error:
        raise NotARunDir(f"{path}: the scenario of this run no longer reads with this lab:\n{error}") from None


def publish_run(run_dir: Path, scenario: model.Scenario) -> Path:
    """Write every picture, explanation.txt and each language's report; return report.md's path."""
    run = RunDir(run_dir)
    variants = {variant.name: variant for variant in scenario.variants if variant.name in run.variant_names}
    reports = {}
    for lang in LANGUAGES:
        with language(lang):
            topology = {}
            for name, variant in variants.items():
                picture = f"topology-{safe_name(name)}{_suffix(lang)}.svg"
                render_topology(
                    variant,
                    t("{scenario} — variant {variant}", scenario=scenario.name, variant=name),
                    run.path / picture,
                )
                topology[name] = picture
            sequences, paths = {}, {}
            for outcome in worth_drawing(run):
                variant = variants.get(outcome["variant"])
                if variant is None:
                    continue
                containers = {str(c.ip): c.name for c in variant.deployment.containers}
                diagram = build_diagram(run, outcome, containers)
                stem = diagram_name(diagram) + _suffix(lang)
                svg, png = draw(diagram, run.path / stem)
                key = (diagram.variant, diagram.node, diagram.step)
                sequences[key] = (diagram, svg.name, png.name)
                broke = diagram.path_and_break()
                if broke is not None:
                    name = f"path-{stem.removeprefix('sequence-')}.svg"
                    title = t("{cell}: the path of the client's packets", cell=" / ".join(key))
                    render_topology(variant, title, run.path / name, path_graph(variant, title, *broke))
                    paths[key] = name
            explanations = explain_run(run)
            if lang == SOURCE_LANGUAGE:
                atomic_write(run.path / "explanation.txt", render(explanations))
            report = write_report(run, scenario, explanations, Pictures(topology, sequences, paths))
            write_page(report, lang, scenario.name)
            reports[lang] = report
    return reports[SOURCE_LANGUAGE]
