"""lab.analysis.data on real runs: the DataFrames hold what results.json and the captures hold."""

from __future__ import annotations

import subprocess

import pandas as pd
import pytest

from lab.analysis import data
from lab.analysis.explain import WINDOW_SLACK_S
from lab.analysis.packets import capture_name
from lab.analysis.rundir import NotARunDir

OUTCOME_COLUMNS = [
    "run",
    "scenario",
    "variant",
    "node",
    "step",
    "ok",
    "expected",
    "met",
    "exit_code",
    "duration_s",
    "error",
    "started_at",
    "attempts",
    "trial",
]
RUN_COLUMNS = [
    "run",
    "scenario",
    "sha256",
    "complete",
    "started_at",
    "ended_at",
    "lab_version",
    "kernel_version",
    "python_version",
    "docker_version",
    "outcomes",
    "met",
]
PACKET_COLUMNS = [
    "run",
    "variant",
    "time",
    "node",
    "interface",
    "src",
    "dst",
    "protocol",
    "sport",
    "dport",
    "flags",
    "ttl",
    "length",
    "icmp_type",
    "icmp_code",
    "quoted_dst",
    "quoted_dport",
    "payload",
    "endpoints",
    "names",
]


def utc(seconds: float) -> pd.Timestamp:
    return pd.to_datetime(seconds, unit="s", utc=True)


@pytest.fixture(scope="module")
def runs(nat_runs):
    root, _ = nat_runs
    return data.load_runs(root)


@pytest.mark.root
def test_load_runs_finds_every_run_newest_last_and_skips_other_folders(nat_runs, runs):
    _, lab_runs = nat_runs
    assert [run.path for run in runs] == [run.run_dir for run in lab_runs]
    assert runs[0].started_at < runs[1].started_at
    assert runs[0].scenario == "docker-nat-reachability"
    assert data.load_run(lab_runs[0].run_dir).name == lab_runs[0].run_dir.name


def test_load_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    scratch = tmp_path / "scratch"  # a folder without results.json, like results/scratch
    scratch.mkdir()
    with pytest.raises(NotARunDir):
        data.load_run(scratch)


@pytest.mark.root
def test_outcomes_hold_every_outcome_of_results_json(nat_runs, runs):
    _, lab_runs = nat_runs
    frame = data.outcomes(runs)
    assert list(frame.columns) == OUTCOME_COLUMNS
    assert len(frame) == sum(len(run.results["outcomes"]) for run in lab_runs) == 22
    assert str(frame["started_at"].dt.tz) == "UTC"
    for lab_run in lab_runs:
        rows = frame[frame["run"] == lab_run.run_dir.name].to_dict("records")
        recorded = lab_run.results["outcomes"]
        assert len(rows) == len(recorded)
        for row, outcome in zip(rows, recorded, strict=True):
            assert row["scenario"] == "docker-nat-reachability"
            assert {key: row[key] for key in OUTCOME_COLUMNS[2:] if key != "started_at"} == {
                key: outcome[key] for key in OUTCOME_COLUMNS[2:] if key != "started_at"
            }
            assert row["started_at"] == utc(outcome["started_at"])
    unreachable = frame[(frame["node"] == "remote-client") & (frame["step"] == "tcp-container")]
    assert list(unreachable["ok"]) == [False, False] and list(unreachable["exit_code"]) == [1, 1]


@pytest.mark.root
def test_runs_table_has_one_row_per_run(nat_runs, runs):
    _, lab_runs = nat_runs
    table = data.runs_table(runs)
    assert list(table.columns) == RUN_COLUMNS
    assert list(table["run"]) == [run.run_dir.name for run in lab_runs]
    for row, lab_run in zip(table.to_dict("records"), lab_runs, strict=True):
        results = lab_run.results
        assert row["sha256"] == results["scenario"]["sha256"]
        assert row["complete"] is True
        assert (row["outcomes"], row["met"]) == (results["summary"]["outcomes"], results["summary"]["met"]) == (11, 11)
        assert row["started_at"] == pd.Timestamp(results["started_at"]) <= row["ended_at"]
        assert (row["lab_version"], row["kernel_version"], row["python_version"], row["docker_version"]) == tuple(
            results["versions"][key] for key in ("lab", "kernel", "python", "docker")
        )


def tcpdump_count(pcap) -> int:
    """IPv4 packets in a capture, as tcpdump counts them."""
    text = subprocess.run(["tcpdump", "-r", str(pcap), "-n", "ip"], capture_output=True, text=True, check=True).stdout
    return len(text.splitlines())


@pytest.mark.root
def test_packets_hold_every_captured_ipv4_packet(runs):
    run = runs[0]
    frame = data.packets(run)
    assert list(frame.columns) == PACKET_COLUMNS
    assert set(frame["variant"]) == {"default"} and set(frame["run"]) == {run.name}
    assert str(frame["time"].dt.tz) == "UTC" and frame["time"].is_monotonic_increasing
    captures = sorted((run.path / "default" / "captures").glob("*.pcap"))
    nodes = {folder.name for folder in (run.path / "default" / "state").iterdir()}
    assert {(node, interface) for node, interface in frame.groupby(["node", "interface"]).groups} == {
        capture_name(path.stem, nodes) for path in captures
    }
    assert ("server", "br-taosnet") in {capture_name(path.stem, nodes) for path in captures}  # the bridge side too
    for path in captures:
        node, interface = capture_name(path.stem, nodes)
        assert len(frame[(frame["node"] == node) & (frame["interface"] == interface)]) == tcpdump_count(path)
    assert len(data.packets(run, "default")) == len(frame)


@pytest.mark.root
def test_the_unpublished_port_answers_the_remote_clients_syn_with_a_rst(runs):
    frame = data.step_packets(runs[-1], "default", "remote-client", "tcp-unpublished")
    syn = frame[
        (frame["src"] == "10.0.2.61")
        & (frame["dst"] == "10.0.31.2")
        & (frame["dport"] == 6030)
        & (frame["protocol"] == "tcp")
        & (frame["flags"] == "S")
    ]
    assert len(syn) == 1
    rst = frame[
        (frame["src"] == "10.0.31.2")
        & (frame["sport"] == 6030)
        & (frame["dst"] == "10.0.2.61")
        & (frame["dport"] == syn["sport"].iloc[0])
        & frame["flags"].str.contains("R")
    ]
    assert len(rst) == 1 and rst["time"].iloc[0] > syn["time"].iloc[0]


@pytest.mark.root
def test_step_packets_are_the_nodes_packets_while_the_step_ran(runs):
    run = runs[-1]
    every = data.packets(run)
    for outcome in run.outcomes:
        start, end = outcome["started_at"], outcome["started_at"] + outcome["duration_s"]
        frame = data.step_packets(run, outcome["variant"], outcome["node"], outcome["step"])
        expected = every[
            (every["node"] == outcome["node"])
            & (every["time"] >= utc(start))
            & (every["time"] <= utc(end + WINDOW_SLACK_S))
        ]
        assert frame.equals(expected.reset_index(drop=True)), outcome["step"]
    by_step = {
        o["step"]: data.step_packets(run, "default", "remote-client", o["step"])
        for o in run.outcomes
        if o["node"] == "remote-client"
    }
    assert all(len(frame) > 0 for frame in by_step.values())
    to_unpublished = {
        step: bool(((frame["dst"] == "10.0.31.2") & (frame["dport"] == 6030)).any()) for step, frame in by_step.items()
    }
    assert to_unpublished == {step: step in ("tcp-unpublished", "tcp-by-name") for step in by_step}


@pytest.mark.root
def test_step_packets_of_a_cell_the_run_lacks(runs):
    with pytest.raises(KeyError, match="no outcome for variant 'default', node 'win-client', step 'tcp-unpublished'"):
        data.step_packets(runs[0], "default", "win-client", "tcp-unpublished")


@pytest.mark.root
def test_every_run_has_its_report_in_both_languages_and_as_web_pages(nat_runs):
    _, lab_runs = nat_runs
    for lab_run in lab_runs:
        folder = lab_run.run_dir
        for name in ("report.md", "report.zh.md", "report.html", "report.zh.html"):
            assert (folder / name).stat().st_size > 0, name
        assert "## 各客户端的结果" in (folder / "report.zh.md").read_text()
        assert list(folder.glob("sequence-default-remote-client-*.svg"))  # its failing cells, drawn
