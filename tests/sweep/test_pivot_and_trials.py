"""Repeated trials and the matrix's pivot, from outcome rows (pure: nothing is built)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

from lab.analysis.explain import explain_run
from lab.analysis.rundir import RunDir
from lab.results.matrix import outcome_matrix
from lab.results.pivot import pivot_markdown, pivot_svg, pivot_tables
from lab.results.record import RunRecord, safe_name
from lab.scenario.loader import load_scenario
from lab.steps.execute import Outcome

from ..conftest import REPO

SMALL = REPO / "tests" / "integration" / "scenarios" / "sweep-small.yaml"
AXES = [("route", ["gateway", "none"]), ("port", ["low", "high"])]


def row(variant: str, ok: bool, met: bool = True, error: str = "", step: str = "probe", node: str = "client") -> dict:
    return {
        "variant": variant,
        "node": node,
        "step": step,
        "ok": ok,
        "met": met,
        "error": error,
        "expected": "ok",
        "duration_s": 1.0,
    }


def test_a_cell_counts_its_trials_and_says_when_they_disagree():
    rows = [row("a", True), row("a", True), row("a", False, False, "timed out"), row("b", True), row("b", True)]
    ((_, _, (flaky, steady)),) = outcome_matrix(rows).rows
    assert (flaky.count, flaky.flaky, flaky.ok, flaky.error) == ("2/3 flaky", True, False, "timed out")
    assert (steady.count, steady.flaky, steady.ok) == ("2/2", False, True)
    failing = outcome_matrix([row("c", False, True, "refused")] * 3).rows[0][2][0]
    assert (failing.count, failing.flaky) == ("3/3", False)  # failed every time, as expected


def test_pivot_puts_the_last_axis_in_columns_and_gives_each_failure_its_reason():
    rows = [
        row("route=gateway,port=low", True),
        row("route=gateway,port=high", False, True, "refused"),
        row("route=none,port=low", False, False, "exit 1: unreachable\nmore text"),
        row("route=none,port=high", True),
        row("route=none,port=high", False, False, "timed out"),
    ]
    reasons = {("route=gateway,port=high", "client", "probe"): "tcp 10.0.31.2:2222: RST from 10.0.31.2"}
    (table,) = pivot_tables(AXES, rows, ["client"], reasons)
    assert (table.title, table.row_axes, table.column_axis, table.columns) == (
        "client / probe",
        ("route",),
        "port",
        ("low", "high"),
    )
    cells = {values: [c.text if c else None for c in cells] for values, cells in table.rows}
    assert cells == {
        ("gateway",): ["ok 1/1", "FAILED 1/1: tcp 10.0.31.2:2222: RST from 10.0.31.2"],
        ("none",): ["FAILED 0/1 NOT AS EXPECTED: exit 1: unreachable", "flaky 1/2 NOT AS EXPECTED: timed out"],
    }
    markdown = pivot_markdown([table], {"client / probe": "pivot.svg"})
    assert "| route \\ port | low | high |" in markdown and "![client / probe](pivot.svg)" in markdown
    svg = ElementTree.fromstring(pivot_svg(table))  # well-formed, one rectangle per cell
    assert len([e for e in svg.iter() if e.tag.endswith("rect")]) == 4
    assert pivot_tables([], rows) == [] and pivot_tables(AXES, rows, ["server"]) == []


def test_pivot_of_three_axes_has_combinations_as_rows():
    axes = [("a", ["x", "y"]), ("b", ["p", "q"]), ("c", ["1", "2"])]
    rows = [row(f"a={a},b={b},c={c}", True) for a in "xy" for b in "pq" for c in "12" if (a, b) != ("x", "q")]
    (table,) = pivot_tables(axes, rows)
    assert [values for values, _ in table.rows] == [("x", "p"), ("y", "p"), ("y", "q")]  # (x, q) was excluded


def outcome(variant: str, ok: bool, trial: int) -> Outcome:
    return Outcome(variant, "client", "ping-server", ok, "ok", ok, 0, 0.5, f"trial {trial}", "", ("ping",), 1.0 + trial)


def test_each_trial_is_recorded_apart_and_cells_read_as_counts(tmp_path):
    scenario = load_scenario(SMALL)
    variant = scenario.variants[0].name
    record = RunRecord(scenario, tmp_path, "abcd1234", repeat=2)
    for trial, ok in ((2, False), (1, True)):  # parallel workers report in any order
        record.add_outcome(outcome(variant, ok, trial), trial)
        record.add_variant(variant, "", None, {}, None, trial)
    record.finish()
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["repeat"] == 2 and results["axes"] == {"route": ["gateway", "none"], "port": ["low", "high"]}
    assert [(o["trial"], o["cell"], o["folder"]) for o in results["outcomes"]] == [
        (1, "1/2 flaky", f"{variant}/trial-1"),
        (2, "1/2 flaky", f"{variant}/trial-2"),
    ]
    assert [(v["trial"], v["coordinates"]) for v in results["variants"]] == [
        (1, {"route": "gateway", "port": "low"}),
        (2, {"route": "gateway", "port": "low"}),
    ]
    assert results["cells"] == [{"variant": variant, "node": "client", "step": "ping-server", "result": "1/2 flaky"}]
    with open(tmp_path / "outcomes.csv", newline="") as file:
        assert [(r["trial"], r["cell"]) for r in csv.DictReader(file)] == [("1", "1/2 flaky"), ("2", "1/2 flaky")]
    sessions = [(tmp_path / variant / f"trial-{n}" / "sessions" / "client--ping-server.txt") for n in (1, 2)]
    assert all(path.is_file() for path in sessions)  # no trial overwrote another's
    headers = [e.text().splitlines()[0] for e in explain_run(RunDir(tmp_path))]
    assert headers[0].startswith(f"{variant} #1 / client / ping-server: ok")
    assert headers[1].startswith(f"{variant} #2 / client / ping-server: FAILED")


def test_a_matrix_variant_names_its_folder_as_it_is():
    assert safe_name("server_ports=distinct,publishing=shifted") == "server_ports=distinct,publishing=shifted"
    assert safe_name("a b/c") == "a_b_c"


def test_repeat_and_jobs_must_be_whole_numbers_in_range(tmp_path):
    for option, value, why in (("--repeat", "0", "not between 1 and 100"), ("--jobs", "two", "not a whole number")):
        result = subprocess.run(
            [sys.executable, "-m", "lab", "run", str(SMALL), "--results", str(tmp_path / "r"), option, value],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and why in result.stderr and "Traceback" not in result.stderr
        assert not (tmp_path / "r").exists()
