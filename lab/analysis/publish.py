"""After a run: topology pictures, explanations and report.md in the run folder."""

from __future__ import annotations

from pathlib import Path

from ..results.record import atomic_write, safe_name
from ..scenario import model
from .explain import explain_run, render
from .report import write_report
from .rundir import RunDir
from .topology import render_topology


def publish_run(run_dir: Path, scenario: model.Scenario) -> Path:
    """Write topology-<variant>.svg, explanation.txt and report.md; return the report's path."""
    run = RunDir(run_dir)
    pictures = {}
    for variant in scenario.variants:
        if variant.name in run.variant_names:
            name = f"topology-{safe_name(variant.name)}.svg"
            render_topology(variant, f"{scenario.name} — variant {variant.name}", run.path / name)
            pictures[variant.name] = name
    explanations = explain_run(run)
    atomic_write(run.path / "explanation.txt", render(explanations))
    return write_report(run, scenario, explanations, pictures)
