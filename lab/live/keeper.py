"""The keeper of a live lab: a detached process (`python -m lab.live.keeper SPEC`) that builds one
variant, journals it, optionally runs its setup steps, then holds it until SIGTERM (`lab down`)
and tears it down as a run does. It belongs to no terminal: its output goes to its log."""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

from ..commands import Transcript
from ..deploy.deployment import Deployment
from ..deploy.journal import Journal
from ..runner import finish_work
from ..scenario.loader import load_scenario
from ..software import with_homes
from .record import open_record, run_named_steps, setup_steps


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def keep(spec: dict) -> int:
    """Build, hold and tear down the lab `spec` describes (name, scenario, variant, results, log, homes, steps)."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    run_id = uuid.uuid4().hex[:8]
    results = Path(spec["results"])
    journal = Journal.open(run_id, results)
    journal.record(
        "lab",
        name=spec["name"],
        scenario=spec["scenario"],
        variant=spec["variant"],
        results=spec["results"],
        log=spec["log"],
        homes=spec["homes"],
        steps=spec["steps"],
    )
    workdir = Path(tempfile.mkdtemp(prefix=f"lab-{run_id}-", dir="/tmp"))
    journal.folder(workdir)
    transcript = Transcript(results / "transcript.log")

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        scenario = with_homes(load_scenario(spec["scenario"]), spec["homes"])
        variant = next(v for v in scenario.variants if v.name == spec["variant"])
        record = open_record(scenario, results, run_id)
        with Deployment(
            variant, workdir / "v", record.variant_dir(variant.name), transcript, run_id, journal, say
        ) as d:
            record.versions.update(d.versions)
            journal.record(
                "lab-up",
                containers=d.container_host,
                engines={host: dict(engine.cli.env or {}) for host, engine in d.engines.items()},
            )
            record.add_variant(variant.name, variant.description, None, dict(d.phases), started_at=None)
            if spec["steps"]:
                names = setup_steps(variant)
                say(f"setup steps: {', '.join(names) or 'none'}")

                def told(outcome) -> None:
                    verdict = "ok" if outcome.ok else f"failed ({outcome.error})"
                    say(f"{outcome.node} {outcome.step}: {verdict}")

                run_named_steps(record, variant, names, d.runner_for, told)
                d.save_state()
            record.finish()
            journal.record("lab-ready")
            say("lab is up")
            while True:
                signal.pause()
    except KeyboardInterrupt:
        say("stopping: the lab was torn down")
    except Exception as exc:
        journal.record("lab-failed", error=f"{type(exc).__name__}: {exc}")
        say(f"failed: {type(exc).__name__}: {exc}\n{traceback.format_exc()}")
        return 1
    finally:
        finish_work(workdir, transcript, journal, run_id, say)
    return 0


if __name__ == "__main__":
    sys.exit(keep(json.loads(sys.argv[1])))
