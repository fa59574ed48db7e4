"""What is kept of a step's output is bounded (issue 13, class 8): clip() as a pure function, and a real
step that prints 20 MB on a real node."""

from __future__ import annotations

import json
import os

import pytest

from lab.steps.execute import KEPT_OUTPUT_BYTES, SESSION_MAX_BYTES, clip

from ..integration.conftest import run_lab


def test_short_text_is_kept_whole():
    assert clip("hello\n", 16) == ("hello\n", 0)
    assert clip("é" * 8, 8) == ("é" * 8, 0)  # 16 bytes: two halves of 8 hold it all


def test_long_text_keeps_both_ends_and_says_how_much_was_cut():
    text = "".join(f"line {n}\n" for n in range(10_000))
    kept, cut = clip(text, 1024)
    assert kept.startswith("line 0\n") and kept.endswith("line 9999\n")
    assert cut == len(text.encode()) - 2 * 1024
    assert f"[lab: {cut} of {len(text.encode())} bytes of output cut here" in kept
    assert len(kept.encode()) < 2 * 1024 + 200


def test_a_character_split_at_an_edge_is_left_out_not_mangled():
    text = "é" * 3000  # 2 bytes each: an odd edge falls inside a character
    kept, cut = clip(text, 1001)
    head, _, tail = kept.partition("\n[lab:")
    assert set(head) == {"é"} and "\ufffd" not in kept
    assert cut == 6000 - len(head.encode()) - len(tail.split("]\n", 1)[1].encode())


SCENARIO = """\
name: loud-step
subnets:
  lan: 10.0.31.0/24
hosts:
  client:
    interfaces: {lan: 10.0.31.5}
steps:
  - name: loud
    on: client
    run: [python3, -c, "import sys; sys.stdout.write('x' * 20_000_000 + '\\\\nthe end\\\\n')"]
    success: {output_contains: "the end"}
    timeout: 60
"""


@pytest.mark.root
def test_a_step_printing_20_mb_is_judged_whole_and_kept_bounded(tmp_path):
    scenario = tmp_path / "loud.yaml"
    scenario.write_text(SCENARIO)
    run = run_lab(scenario, tmp_path / "results")
    assert run.returncode == 0, run.stdout + run.stderr
    (outcome,) = run.results["outcomes"]
    assert outcome["ok"], "the text at the very end was seen: the judgement read all of the output"
    assert outcome["output_bytes"] == 20_000_000 + len("\nthe end\n")
    assert outcome["output_truncated_bytes"] > 0 and "bytes of output cut here" in outcome["output"]
    assert outcome["output"].endswith("the end\n")
    assert os.path.getsize(run.run_dir / "results.json") < 4 * KEPT_OUTPUT_BYTES
    assert os.path.getsize(run.run_dir / "outcomes.csv") < 4 * KEPT_OUTPUT_BYTES
    session = run.run_dir / "default" / "sessions" / "client--loud.txt"
    assert SESSION_MAX_BYTES <= os.path.getsize(session) < SESSION_MAX_BYTES + 1024
    assert "session" not in outcome, "the session text stays in its own file"
    assert json.loads((run.run_dir / "results.json").read_text())["summary"]["all_met"]
