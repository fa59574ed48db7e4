"""Sequence diagrams from captures: the recorded incident runs (runs/tdengine-incident, a real run
of scenarios/tdengine-docker-cross-subnet.yaml with the emulated TDengine, its captures on the
clients, the server's LAN side and its bridge side; runs/tdengine-incident-real, the same with the real
TDengine 2.0.20.0) and canned captures for the folding rules."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from lab.analysis.messages import language
from lab.analysis.publish import run_scenario
from lab.analysis.rundir import RunDir
from lab.analysis.sequence import REFUSAL, Diagram, build_diagram, mermaid, worth_drawing
from lab.analysis.sequence_draw import draw

from .canned import CannedRun, at, icmp_unreachable, tcp_syn, udp

INCIDENT = Path(__file__).with_name("runs") / "tdengine-incident"
REAL = INCIDENT.with_name("tdengine-incident-real")  # the same scenario with the real TDengine 2.0.20.0
CONTAINERS = {"172.19.0.41": "taosnode1", "172.19.0.42": "taosnode2", "172.19.0.43": "taosnode3"}
CLIENT_HOSTS = "127.0.0.1 localhost\n10.0.2.61 client\n"


@pytest.fixture(scope="module")
def incident() -> RunDir:
    return RunDir(INCIDENT)


def diagram_of(run: RunDir, variant: str, node: str, step: str) -> Diagram:
    outcome = next(o for o in run.outcomes if (o["variant"], o["node"], o["step"]) == (variant, node, step))
    return build_diagram(run, outcome, CONTAINERS)


def hops(diagram: Diagram) -> list[tuple[str, str, str, str, str]]:
    return [
        (a.src, a.dst, a.protocol, a.target if a.kind == "request" else a.source, a.summary) for a in diagram.arrows
    ]


def test_the_failing_cell_and_its_passing_counterpart_are_drawn(incident):
    cells = [(o["variant"], o["node"], o["step"], o["ok"]) for o in worth_drawing(incident)]
    assert cells == [
        ("original", "remote-client", "show-dnodes", False),
        ("fixed", "remote-client", "show-dnodes", True),
    ]


def test_with_trials_each_cell_is_drawn_once_from_its_first_failing_trial():
    def row(variant: str, step: str, trial: int, ok: bool) -> dict:
        return {"variant": variant, "node": "client", "step": step, "trial": trial, "ok": ok}

    trials = SimpleNamespace(
        outcomes=[
            row("a", "show", 1, False),
            row("a", "show", 2, False),
            row("b", "show", 1, True),
            row("b", "show", 2, True),
            row("a", "insert", 1, True),
            row("a", "insert", 2, True),
            row("b", "insert", 1, True),
            row("b", "insert", 2, False),  # flaky: drawn failing, never as a counterpart
        ]
    )
    drawn = [(o["variant"], o["step"], o["trial"], o["ok"]) for o in worth_drawing(trials)]
    assert drawn == [
        ("a", "show", 1, False),
        ("b", "show", 1, True),
        ("b", "insert", 2, False),
        ("a", "insert", 1, True),
    ]


def test_original_show_dnodes_is_translated_then_handed_endpoints_meet_rst(incident):
    diagram = diagram_of(incident, "original", "remote-client", "show-dnodes")
    assert [(lifeline.key, lifeline.role) for lifeline in diagram.lifelines] == [
        ("remote-client", "client"),
        ("router", "router"),
        ("server", "docker_host"),
        ("taosnode1", "container"),
    ]
    server = next(lifeline for lifeline in diagram.lifelines if lifeline.key == "server")
    assert "NAT: udp 10.0.31.2:16030 -> 172.19.0.41:6030" in server.lines
    endpoints = "3 endpoint(s) taosnode1:6030, taosnode2:6030, taosnode3:6030"
    assert hops(diagram) == [
        ("remote-client", "server", "udp", "10.0.31.2:16030", "request (51 bytes)"),
        ("server", "taosnode1", "udp", "172.19.0.41:6030", "request (51 bytes)"),
        ("taosnode1", "server", "udp", "172.19.0.41:6030", f"reply: {endpoints}"),
        ("server", "remote-client", "udp", "10.0.31.2:16030", f"reply: {endpoints}"),
        *[
            hop
            for _ in range(3)
            for hop in (
                ("remote-client", "server", "tcp", "10.0.31.2:6030", "SYN"),
                ("server", "remote-client", "tcp", "10.0.31.2:6030", "RST"),
            )
        ],
    ]
    assert all(a.count == 1 for a in diagram.arrows)  # three connections, not one retransmitted
    notes = [note.text for note in diagram.notes]
    assert "NAT: udp 10.0.31.2:16030 -> 172.19.0.41:6030" in notes
    assert "taosnode1:6030, taosnode2:6030, taosnode3:6030 -> 10.0.31.2:6030 (/etc/hosts line(s) 4, 5, 6)" in notes
    assert "no NAT rule for tcp 6030: server answers itself" in notes
    assert any(note.startswith("forwards to 10.0.31.2 (TTL 64 -> 63)") for note in notes)
    path, broke = diagram.path_and_break() or ([], "")
    assert path == ["remote-client", "router", "server"]
    assert broke == "no NAT rule for tcp 6030: server answers itself: tcp 10.0.31.2:6030 RST"


def test_fixed_show_dnodes_is_translated_and_tcp_completes(incident):
    diagram = diagram_of(incident, "fixed", "remote-client", "show-dnodes")
    arrows = hops(diagram)
    assert arrows[:2] == [
        ("remote-client", "server", "udp", "10.0.31.2:6030", "request (51 bytes)"),
        ("server", "taosnode1", "udp", "172.19.0.41:6030", "request (51 bytes)"),
    ]
    tcp = [arrow for arrow in arrows if arrow[2] == "tcp"]
    assert tcp[:4] == [
        ("remote-client", "server", "tcp", "10.0.31.2:6030", "SYN"),
        ("server", "taosnode1", "tcp", "172.19.0.41:6030", "SYN"),
        ("taosnode1", "server", "tcp", "172.19.0.41:6030", "SYN-ACK"),
        ("server", "remote-client", "tcp", "10.0.31.2:6030", "SYN-ACK"),
    ]
    summaries = [summary for *_, summary in tcp]
    assert "RST" not in summaries and summaries.count("FIN") == 8  # two connections closed both ways, both hops
    assert any(s.startswith("reply: 3 endpoint(s) taosnode1:6030, taosnode2:7030, taosnode3:8030") for s in summaries)
    server = next(lifeline for lifeline in diagram.lifelines if lifeline.key == "server")
    assert "NAT: tcp 10.0.31.2:6030 -> 172.19.0.41:6030" in server.lines
    assert diagram.path_and_break() is None


def test_mermaid_and_svg_come_from_the_same_model(incident, tmp_path):
    diagram = diagram_of(incident, "original", "remote-client", "show-dnodes")
    text = mermaid(diagram)
    assert text.startswith("sequenceDiagram\n")
    assert "    p_remote_client->>p_server: udp 10.0.31.2:16030 request (51 bytes)\n" in text
    assert text.count("    p_server--xp_remote_client: tcp 10.0.31.2:6030 RST\n") == 3
    svg, png = draw(diagram, tmp_path / "sequence")
    assert png.read_bytes().startswith(b"\x89PNG")
    texts = ["".join(element.itertext()) for element in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert [a.label for a in diagram.arrows] == [
        text for text in texts if text.startswith(("udp ", "tcp "))
    ]  # every arrow drawn, in order
    assert texts.count("tcp 10.0.31.2:6030 SYN") == 3 and texts.count("tcp 10.0.31.2:6030 RST") == 3
    assert "NAT: udp 10.0.31.2:16030 -> 172.19.0.41:6030" in texts
    assert "udp 172.19.0.41:6030 request (51 bytes)" in texts


def test_the_chinese_diagram_uses_the_communitys_terms(incident, tmp_path):
    with language("zh"):
        diagram = diagram_of(incident, "original", "remote-client", "show-dnodes")
        svg, _ = draw(diagram, tmp_path / "sequence.zh")
    texts = {"".join(e.itertext()) for e in ET.parse(svg).iter("{http://www.w3.org/2000/svg}text")}
    assert "NAT：udp 10.0.31.2:16030 -> 172.19.0.41:6030" in texts
    assert "udp 10.0.31.2:16030 回复：3 个 EndPoint taosnode1:6030, taosnode2:6030, taosnode3:6030" in texts
    assert any("FQDN" in text and "/etc/hosts" in text for text in texts)
    assert any(text.startswith("跨网段转发到 10.0.31.2") for text in texts)
    assert "没有 tcp 6030 的 NAT 规则（未做端口映射）：由宿主机 server 自己应答" in texts


def test_retransmissions_fold_with_a_count_and_icmp_errors_are_refusals(tmp_path):
    canned = CannedRun(tmp_path)
    canned.outcome("client", "probe", 100.0, ["probe"], ok=False, expected="ok", error="timed out", duration_s=5)
    canned.state("client", hosts=CLIENT_HOSTS, addresses="lo UNKNOWN 127.0.0.1/8\nlan UP 10.0.2.61/24\n")
    canned.state("server", addresses="lan UP 10.0.2.2/24\n")
    canned.state("router", addresses="lan UP 10.0.2.1/24\n")
    syn = tcp_syn("10.0.2.61", 40000, "10.0.2.2", 7000)
    probe = udp("10.0.2.61", 40001, "10.0.2.2", 9000)
    beyond = tcp_syn("10.0.2.61", 40002, "172.19.0.41", 6030)
    canned.capture(
        "client",
        "any",
        [
            at(100.1, syn),
            at(101.1, syn),
            at(103.1, syn),
            at(104.0, probe),
            at(104.001, icmp_unreachable("10.0.2.2", 3, probe)),
            at(104.5, beyond),
            at(104.501, icmp_unreachable("10.0.2.1", 0, beyond)),
        ],
    )
    diagram = build_diagram(canned.write(), canned.outcomes[0], {"172.19.0.41": "taosnode1"})
    assert [(a.src, a.dst, a.summary, a.count, a.kind) for a in diagram.arrows] == [
        ("client", "server", "SYN", 3, "request"),
        ("client", "server", "request (4 bytes)", 1, "request"),
        ("server", "client", "ICMP port unreachable", 1, REFUSAL),
        ("client", "router", "SYN", 1, "request"),  # it got as far as the router, which had no route
        ("router", "client", "ICMP network unreachable", 1, REFUSAL),
    ]
    assert diagram.arrows[0].label == "tcp 10.0.2.2:7000 SYN (×3)"
    assert diagram.arrows[4].label == "ICMP network unreachable (10.0.2.1)"


def test_lab_report_regenerates_every_report_of_a_run_folder(tmp_path):
    from lab.cli import main

    folder = tmp_path / "run"
    shutil.copytree(INCIDENT, folder)
    assert main(["report", str(folder)]) == 0
    for name in (
        "report.md",
        "report.zh.md",
        "report.html",
        "report.zh.html",
        "explanation.txt",
        "sequence-original-remote-client-show-dnodes.svg",
        "sequence-original-remote-client-show-dnodes.png",
        "sequence-original-remote-client-show-dnodes.zh.svg",
        "sequence-fixed-remote-client-show-dnodes.svg",
        "path-original-remote-client-show-dnodes.svg",
        "path-original-remote-client-show-dnodes.zh.svg",
    ):
        assert (folder / name).stat().st_size > 0, name
    english, chinese = (folder / "report.md").read_text(), (folder / "report.zh.md").read_text()
    headings = [line.split(" ", 1)[0] for line in english.splitlines() if line.startswith("#")]
    assert headings == [line.split(" ", 1)[0] for line in chinese.splitlines() if line.startswith("#")]
    assert english.count("```mermaid\nsequenceDiagram") == chinese.count("```mermaid\nsequenceDiagram") == 2
    for term in ("端口映射", "EndPoint", "FQDN", "跨网段", "宿主机"):
        assert term in chinese, term
    assert "![sequence diagram of original / remote-client / show-dnodes]" in english
    assert "no NAT rule for tcp 6030: server answers itself" in english
    page = (folder / "report.html").read_text()
    assert '<img src="data:image/svg+xml;base64,' in page and 'src="sequence-' not in page  # pictures inline
    assert "<table>" in page and "&lt;br&gt;" not in page
    assert '<html lang="zh">' in (folder / "report.zh.html").read_text()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_the_recorded_run_reads_with_its_own_scenario():
    scenario = run_scenario(INCIDENT)
    assert [v.name for v in scenario.variants] == ["original", "fixed"]


def test_the_real_tdengine_client_is_drawn_the_same_way_from_its_packets():
    run = RunDir(REAL)
    assert run.results["variants"][0]["software"]["tdengine"]["mode"] == "home"
    original = diagram_of(run, "original", "remote-client", "show-dnodes")
    names = "taosnode1, taosnode2, taosnode3"
    arrows = hops(original)
    assert [arrow[:4] for arrow in arrows[:4]] == [
        ("remote-client", "server", "udp", "10.0.31.2:16030"),
        ("server", "taosnode1", "udp", "172.19.0.41:6030"),
        ("taosnode1", "server", "udp", "172.19.0.41:6030"),
        ("server", "remote-client", "udp", "10.0.31.2:16030"),
    ]
    assert arrows[3][4].endswith(f"naming {names}")  # the binary endpoint set of the connect reply
    assert f"{names} -> 10.0.31.2 (/etc/hosts line(s) 4, 5, 6)" in [note.text for note in original.notes]
    assert arrows[4:] == [
        hop
        for _ in range(3)
        for hop in (
            ("remote-client", "server", "tcp", "10.0.31.2:6030", "SYN"),
            ("server", "remote-client", "tcp", "10.0.31.2:6030", "RST"),
        )
    ]
    fixed = hops(diagram_of(run, "fixed", "remote-client", "show-dnodes"))
    tcp = [arrow for arrow in fixed if arrow[2] == "tcp"]
    assert tcp[:4] == [
        ("remote-client", "server", "tcp", "10.0.31.2:6030", "SYN"),
        ("server", "taosnode1", "tcp", "172.19.0.41:6030", "SYN"),
        ("taosnode1", "server", "tcp", "172.19.0.41:6030", "SYN-ACK"),
        ("server", "remote-client", "tcp", "10.0.31.2:6030", "SYN-ACK"),
    ]
    assert "RST" not in [summary for *_, summary in tcp]
