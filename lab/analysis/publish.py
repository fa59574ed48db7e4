"""After a run (and for `lab report RUN_DIR`): the pictures, explanation.txt, and the report in
every language (report.md, report.zh.md) and as web pages (report.html, report.zh.html)."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from ..errors import InvalidInput
from ..results.record import atomic_write, safe_name
from ..scenario import model
from ..scenario.loader import load_scenario
from .explain import explain_run, render
from .html import write_page
from .messages import LANGUAGES, SOURCE_LANGUAGE, language, t
from .report import Pictures, failure_reasons, write_report
from .rundir import NotARunDir, RunDir, evidence_folder
from .sequence import Diagram, build_diagram, diagram_name, worth_drawing
from .sequence_draw import draw
from .topology import path_graph, render_topology

PICTURES_PER_WORKER = 8  # fewer pictures per worker, and starting the pool costs more than it saves


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


@dataclass(frozen=True)
class _Picture:
    """One picture to draw: a variant's topology, or the sequence diagram (and failing path) of one cell."""

    lang: str
    variant: model.Variant
    outcome: dict | None = None  # None: the variant's topology picture


@dataclass(frozen=True)
class _Drawn:
    picture: _Picture
    file: str  # the topology picture, or the sequence diagram's SVG
    diagram: Diagram | None = None
    png: str = ""
    path: str = ""  # the failing path on the map, if the diagram shows where it broke


_worker_run: RunDir | None = None  # in a worker of the pool: the run it draws from (inherited by fork)


def _start_worker(run: RunDir) -> None:
    global _worker_run
    _worker_run = run


def _draw_in_worker(scenario_name: str, picture: _Picture) -> _Drawn:
    assert _worker_run is not None
    return _draw(_worker_run, scenario_name, picture)


def _draw(run: RunDir, scenario_name: str, picture: _Picture) -> _Drawn:
    """Draw `picture` into the run's folder (in this process or in a worker of the pool)."""
    variant, suffix = picture.variant, _suffix(picture.lang)
    with language(picture.lang):
        if picture.outcome is None:
            name = f"topology-{safe_name(variant.name)}{suffix}.svg"
            title = t("{scenario} — variant {variant}", scenario=scenario_name, variant=variant.name)
            render_topology(variant, title, run.path / name)
            return _Drawn(picture, name)
        containers = {str(c.ip): c.name for c in variant.deployment.containers}
        diagram = build_diagram(run, picture.outcome, containers)
        stem = diagram_name(diagram) + suffix
        svg, png = draw(diagram, run.path / stem)
        path = ""
        broke = diagram.path_and_break()
        if broke is not None:
            path = f"path-{stem.removeprefix('sequence-')}.svg"
            title = t("{cell}: the path of the client's packets", cell=" / ".join(diagram_key(diagram)))
            render_topology(variant, title, run.path / path, path_graph(variant, title, *broke))
        return _Drawn(picture, svg.name, diagram, png.name, path)


def diagram_key(diagram: Diagram) -> tuple[str, str, str]:
    """The cell a diagram shows: (variant, node, step)."""
    return diagram.variant, diagram.node, diagram.step


def _draw_all(run: RunDir, scenario_name: str, pictures: list[_Picture]) -> list[_Drawn]:
    """Every picture, in order; in a pool of processes when there are enough to pay for starting it."""
    workers = min(len(os.sched_getaffinity(0)), len(pictures) // PICTURES_PER_WORKER)
    if workers < 2:
        return [_draw(run, scenario_name, picture) for picture in pictures]
    for folder in {evidence_folder(p.outcome) for p in pictures if p.outcome is not None}:
        run.packets(folder), run.state(folder)  # read here once, not again in every worker
    # forked: the workers are this process's own children, reaped when the pool shuts down (a
    # forkserver's would outlive the lab as zombies), and they start with matplotlib imported and
    # `run` with all it has read (a forked worker's initargs are inherited, not pickled)
    with ProcessPoolExecutor(
        workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker, initargs=(run,)
    ) as pool:
        return list(pool.map(partial(_draw_in_worker, scenario_name), pictures))


@dataclass(frozen=True)
class Published:
    """What publishing a run wrote, and what the terminal shows of it."""

    report: Path  # report.md
    reasons: dict[tuple[str, str, str], str]  # each failing cell's one-line reason (report.failure_reasons)


def publish_run(run_dir: Path, scenario: model.Scenario) -> Published:
    """Write every picture, explanation.txt and each language's report."""
    run = RunDir(run_dir)
    variants = {variant.name: variant for variant in scenario.variants if variant.name in run.variant_names}
    drawn_cells = [o for o in worth_drawing(run) if o["variant"] in variants]
    pictures = [
        picture
        for lang in LANGUAGES
        for picture in (
            *(_Picture(lang, variant) for variant in variants.values()),
            *(_Picture(lang, variants[o["variant"]], o) for o in drawn_cells),
        )
    ]
    drawn = _draw_all(run, scenario.name, pictures)
    reports, reasons = {}, {}
    for lang in LANGUAGES:
        mine = [d for d in drawn if d.picture.lang == lang]
        topology = {d.picture.variant.name: d.file for d in mine if d.diagram is None}
        sequences = {diagram_key(d.diagram): (d.diagram, d.file, d.png) for d in mine if d.diagram is not None}
        paths = {diagram_key(d.diagram): d.path for d in mine if d.diagram is not None and d.path}
        with language(lang):
            explanations = explain_run(run)
            if lang == SOURCE_LANGUAGE:
                atomic_write(run.path / "explanation.txt", render(explanations))
                reasons = failure_reasons(explanations)
            report = write_report(run, scenario, explanations, Pictures(topology, sequences, paths))
            write_page(report, lang, scenario.name)
            reports[lang] = report
    return Published(reports[SOURCE_LANGUAGE], reasons)
