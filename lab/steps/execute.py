"""Run a variant's steps on the built deployment and judge each result.

One Outcome per step x target: whether the step succeeded by its own rule, what was
expected, and whether that expectation was met.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ..commands import CommandResult, CommandRunner
from ..scenario import model
from .probe import probe_argv


@dataclass(frozen=True)
class Outcome:
    """What one step did on one node, judged against its expectation."""

    variant: str
    node: str
    step: str
    ok: bool
    expected: str
    met: bool
    exit_code: int | None
    duration_s: float
    output: str
    error: str
    argv: tuple[str, ...]
    started_at: float
    attempts: int = 1


def step_argv(step: model.Step) -> list[str]:
    """The program a step runs: its own command, or a built-in probe."""
    action = step.action
    if action.kind == "run":
        return list(action.argv)
    if action.kind == "ping":
        return ["ping", "-c", "1", "-n", "-W", str(max(1, round(step.timeout_s))), action.host]
    return probe_argv(action.kind, action.host, action.port, step.timeout_s)


def judge(step: model.Step, result: CommandResult) -> tuple[bool, str]:
    """Did the step succeed by its rule? Returns (ok, why not)."""
    if result.timed_out:
        return False, f"timed out after {step.timeout_s:g}s"
    rule = step.success
    if rule.exit_code is not None and result.exit_code != rule.exit_code:
        last = result.output.strip().splitlines()[-1:] or [""]
        return False, f"exit {result.exit_code}: {last[0]}".rstrip(": ")
    for text in rule.output_lacks:
        if text in result.output:
            line = next(line for line in result.output.splitlines() if text in line)
            return False, line.strip()
    for text in rule.output_contains:
        if text not in result.output:
            return False, f"output lacks {text!r}"
    for text, times in rule.output_count:
        seen = result.output.count(text)
        if seen < times:
            return False, f"{text!r} appears {seen} time(s), wanted at least {times}"
    return True, ""


def expectation_met(expectation: model.Expectation, ok: bool, output: str) -> bool:
    """Whether what happened is what the scenario expected."""
    if expectation.ok:
        return ok
    return not ok and expectation.contains in output


def run_step(variant: model.Variant, step: model.Step, target: str, runner: CommandRunner) -> Outcome:
    """Run `step` on `target` (repeating while its `until` condition is not yet met)."""
    argv = step_argv(step)
    started_at = time.time()
    started = time.monotonic()
    deadline = started + step.timeout_s
    attempts = 0
    while True:
        attempts += 1
        remaining = max(0.1, deadline - time.monotonic())
        result = runner.run(argv, timeout=remaining, check=False)
        ok, why = judge(step, result)
        if step.until is None:
            break
        if ok and result.output.count(step.until.text) >= step.until.times:
            break
        if time.monotonic() + step.until.interval_s >= deadline:
            ok = False
            seen = result.output.count(step.until.text)
            why = (
                why or f"{step.until.text!r} seen {seen} time(s), wanted {step.until.times}, within {step.timeout_s:g}s"
            )
            break
        time.sleep(step.until.interval_s)
    expectation = variant.expectation(target, step.name)
    return Outcome(
        variant=variant.name,
        node=target,
        step=step.name,
        ok=ok,
        expected=str(expectation),
        met=expectation_met(expectation, ok, result.output),
        exit_code=result.exit_code,
        duration_s=round(time.monotonic() - started, 3),
        output=result.output,
        error=why,
        argv=tuple(argv),
        started_at=round(started_at, 6),
        attempts=attempts,
    )


def run_steps(
    variant: model.Variant, runner_for: Callable[[str], CommandRunner], on_outcome: Callable[[Outcome], None]
) -> list[Outcome]:
    """Run every step on each of its targets, in order; report each outcome as it comes."""
    outcomes = []
    for step in variant.steps:
        for target in step.on:
            outcome = run_step(variant, step, target, runner_for(target))
            outcomes.append(outcome)
            on_outcome(outcome)
    return outcomes
