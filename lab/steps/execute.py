"""Run a variant's steps on the built deployment and judge each result.

One Outcome per step x target: whether the step succeeded by its own rule, what was
expected, and whether that expectation was met.

What a step printed is judged whole, as captured; what is kept of it is bounded: results.json
and outcomes.csv keep the first and last KEPT_OUTPUT_BYTES (`Outcome.output`), the session file
the first and last SESSION_MAX_BYTES / 2 (`Outcome.session`), each with a marker line where
bytes were cut and the count in `output_truncated_bytes` / `session_truncated_bytes`.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..commands import CommandResult, CommandRunner
from ..scenario import model
from .probe import probe_argv

KEPT_OUTPUT_BYTES = 64 << 10  # of a step's output, the first and the last 64 KiB go into results.json and outcomes.csv
SESSION_MAX_BYTES = 16 << 20  # a session file (sessions/<node>--<step>.txt) holds at most 16 MiB: first and last 8 MiB
ERROR_MAX_CHARS = 500  # why a step failed, as results.json and the terminal show it


def cut_marker(total: int, cut: int, kept: int) -> str:
    """The line that stands where `cut` of `total` bytes of output were left out."""
    return (
        f"\n[lab: {cut} of {total} bytes of output cut here; the first and last {kept >> 10} KiB are kept"
        " (the step was judged on all of it)]\n"
    )


def clip(text: str, keep: int) -> tuple[str, int]:
    """`text` with at most `keep` bytes (UTF-8) from its start and `keep` from its end, and a marker
    between them; also how many bytes were cut (0: `text` itself)."""
    if len(text) <= keep:  # at most 4 bytes a character: short texts need no encoding
        return text, 0
    data = text.encode(errors="surrogateescape")
    if len(data) <= 2 * keep:
        return text, 0
    head = data[:keep].decode(errors="ignore")  # a character split at the edge is left out
    tail = data[-keep:].decode(errors="ignore")
    cut = len(data) - len(head.encode()) - len(tail.encode())
    return head + cut_marker(len(data), cut, keep) + tail, cut


def _short(text: str) -> str:
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"


@dataclass(frozen=True)
class Outcome:
    """What one step did on one node, judged against its expectation.

    `output` is what results.json and outcomes.csv keep (clipped to KEPT_OUTPUT_BYTES at each end,
    `output_truncated_bytes` cut); `session` the text of the session file (clipped to
    SESSION_MAX_BYTES, `session_truncated_bytes` cut), not part of results.json; `output_bytes`
    how much the step printed, all of which its judgement saw.
    """

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
    output_bytes: int = 0
    output_truncated_bytes: int = 0
    session_truncated_bytes: int = 0
    session: str = field(default="", repr=False, compare=False)

    def without_session(self) -> Outcome:
        """This outcome without its session text (once that is written, keep only the bounded rest)."""
        return dataclasses.replace(self, session="")


def step_argv(step: model.Step) -> list[str]:
    """The program a step runs: its own command, or a built-in probe."""
    action = step.action
    if action.kind == "run":
        return list(action.argv)
    if action.kind == "python":  # the interpreter running the lab: the packages it installs are importable
        return [sys.executable, *action.argv]
    if action.kind == "ping":
        return ["ping", "-c", "1", "-n", "-W", str(max(1, round(step.timeout_s))), action.host]
    return probe_argv(action.kind, action.host, action.port, step.timeout_s)


def judge(step: model.Step, result: CommandResult) -> tuple[bool, str]:
    """Did the step succeed by its rule? Returns (ok, why not)."""
    if result.timed_out:
        return False, f"timed out after {step.timeout_s:g}s"
    rule = step.success
    if rule.exit_code is not None and result.exit_code != rule.exit_code:
        last = (result.output.strip()[-4 * ERROR_MAX_CHARS :].splitlines() or [""])[-1]  # the last line, or its end
        return False, _short(f"exit {result.exit_code}: {last}".rstrip(": "))
    for text in rule.output_lacks:
        if text in result.output:
            line = next(line for line in result.output.splitlines() if text in line)
            return False, _short(line.strip())
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
            why = why or _short(
                f"{step.until.text!r} seen {seen} time(s), wanted {step.until.times}, within {step.timeout_s:g}s"
            )
            break
        time.sleep(step.until.interval_s)
    expectation = variant.expectation(target, step.name)
    output = result.output
    kept, output_cut = clip(output, KEPT_OUTPUT_BYTES)
    session, session_cut = clip(output, SESSION_MAX_BYTES // 2)
    output_bytes = len(output.encode(errors="surrogateescape"))
    return Outcome(
        variant=variant.name,
        node=target,
        step=step.name,
        ok=ok,
        expected=str(expectation),
        met=expectation_met(expectation, ok, output),  # judged on all of it
        exit_code=result.exit_code,
        duration_s=round(time.monotonic() - started, 3),
        output=kept,
        error=why,
        argv=tuple(argv),
        started_at=round(started_at, 6),
        attempts=attempts,
        output_bytes=output_bytes,
        output_truncated_bytes=output_cut,
        session_truncated_bytes=session_cut,
        session=session,
    )


def run_steps(
    variant: model.Variant, runner_for: Callable[[str], CommandRunner], on_outcome: Callable[[Outcome], None]
) -> list[Outcome]:
    """Run every step on each of its targets, in order; report each outcome as it comes."""
    outcomes = []
    for step in variant.steps:
        for target in step.on:
            outcome = run_step(variant, step, target, runner_for(target))
            on_outcome(outcome)
            outcomes.append(outcome.without_session())
    return outcomes
