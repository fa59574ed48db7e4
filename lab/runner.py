"""Replay a scenario: for each variant build a fresh deployment, run the steps, record, tear down."""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from .commands import Transcript
from .deploy.deployment import Deployment
from .deploy.journal import Journal, remove_folder
from .deploy.signals import deferred_signals
from .errors import BuildError
from .results.record import RunRecord, create_unique_dir, trial_label
from .scenario import model
from .software import software_versions
from .steps.execute import Outcome, run_steps


def new_run_dir(results_root: Path, scenario: model.Scenario) -> Path:
    """Create results/<timestamp>-<scenario>, unique even for two runs started in the same second."""
    return create_unique_dir(results_root, f"{time.strftime('%Y%m%d-%H%M%S')}-{scenario.name}")


def run_scenario(
    scenario: model.Scenario,
    results_root: Path,
    progress: Callable[[str], None],
    on_outcome: Callable[[Outcome, int], None],
    variants: list[str] | None = None,
    repeat: int = 1,
    jobs: int = 1,
    running_now: Callable[[dict[str, str]], None] | None = None,
) -> RunRecord:
    """Run the chosen variants (all by default), each `repeat` times, up to `jobs` at once (each in
    a worker process of its own, lab/sweep.py, which tells `running_now` what each running variant
    does), and return the finished record."""
    run_id = uuid.uuid4().hex[:8]
    record = RunRecord(scenario, new_run_dir(results_root, scenario), run_id, repeat)
    transcript = Transcript(record.directory / "transcript.log")
    journal = Journal.open(run_id, record.directory)
    # /tmp and short names inside: dockerd's and containerd's unix sockets live below this
    # folder, and a socket path may not exceed 107 bytes
    workdir = Path(tempfile.mkdtemp(prefix=f"lab-{run_id}-", dir="/tmp"))
    journal.folder(workdir)
    try:
        chosen = [(n, v) for n, v in enumerate(scenario.variants, 1) if not variants or v.name in variants]
        if jobs > 1 and len(chosen) * repeat > 1:
            from .sweep import run_parallel

            run_parallel([v for _, v in chosen], record, jobs, progress, on_outcome, running_now)
        else:
            for number, variant in chosen:
                for trial in range(1, repeat + 1):
                    where = workdir / (f"v{number}" if repeat == 1 else f"v{number}t{trial}")
                    _run_variant(variant, record, transcript, where, run_id, journal, progress, on_outcome, trial)
        record.finish()
        _publish(record, scenario, progress)
    finally:
        finish_work(workdir, transcript, journal, run_id, progress)
    return record


def finish_work(
    workdir: Path,
    transcript: Transcript,
    journal: Journal,
    run_id: str,
    progress: Callable[[str], None],
) -> None:
    """The last of the undoing, which a signal waits for: remove the work folder, close the
    transcript and the journal, and say through `progress` what teardown left behind."""
    with deferred_signals(progress):
        for line in remove_folder(str(workdir)):
            transcript.write(line)
        transcript.close()
        left = journal.close()
        if left:
            progress(
                f"teardown left {len(left)} object(s) behind: {'; '.join(left)}; "
                f"`python -m lab clean --run {run_id}` removes them"
            )


def _publish(record: RunRecord, scenario: model.Scenario, progress: Callable[[str], None]) -> None:
    from .analysis.publish import publish_run  # scapy and graphviz: only once the run is over

    started = time.monotonic()
    progress("report: topology, explanations, report.md ...")
    try:
        published = publish_run(record.directory, scenario)
    except Exception as exc:  # the run's own records are complete; say what is missing and why
        progress(f"report: could not be written ({type(exc).__name__}: {exc}); results.json and captures are complete")
        return
    record.reasons = published.reasons
    progress(f"report: {published.report} in {time.monotonic() - started:.1f}s")


def _run_variant(variant, record, transcript, workdir, run_id, journal, progress, on_outcome, trial=1) -> None:
    label = trial_label(variant.name, trial, record.repeat)

    def say(text: str) -> None:
        progress(f"[{label}] {text}")

    transcript.write(f"=== variant {label} ===")
    phases: dict[str, float] = {}
    started = time.monotonic()
    started_at = time.time()
    error = None
    deployment = None
    try:
        deployment = Deployment(
            variant, workdir, record.variant_dir(variant.name, trial), transcript, run_id, journal, say
        )
        with deployment:
            phases["build"] = round(time.monotonic() - started, 3)
            record.versions.update(deployment.versions)
            step_started = time.monotonic()

            def report(outcome: Outcome) -> None:
                record.add_outcome(outcome, trial)
                on_outcome(outcome, trial)

            run_steps(variant, deployment.runner_for, report)
            phases["steps"] = round(time.monotonic() - step_started, 3)
            state_started = time.monotonic()
            deployment.save_state()
            phases["save_state"] = round(time.monotonic() - state_started, 3)
            teardown_started = time.monotonic()
        phases["teardown"] = round(time.monotonic() - teardown_started, 3)
    except BuildError as exc:
        error = str(exc)
        say(f"failed: {error}")
        transcript.write(f"variant {label} failed: {error}")
    if deployment is not None:
        phases.update(deployment.phases)
    phases["total"] = round(time.monotonic() - started, 3)
    record.add_variant(
        variant.name,
        variant.description,
        error,
        phases,
        software_versions(variant.deployment.software),
        trial,
        started_at=started_at,
    )
