"""Endpoints found in the bytes of replies (lab.analysis.handed), on small canned packets."""

from __future__ import annotations

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.packet import Raw
from scapy.utils import wrpcap

from lab.analysis.explain import explain_outcome
from lab.analysis.handed import Mention, Segment, find_handed, mentions, read_segments, segments_of

from .canned import CannedRun, at, icmp_unreachable, tcp_answer, tcp_syn

CLIENT = "10.0.2.61"
SERVER = "10.0.31.2"
T0 = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC


def reply(time: float, data: bytes, sport: int = 21, src: str = SERVER, dst: str = CLIENT) -> Segment:
    return Segment(time, src, sport, dst, 40000, data)


def no_names(name: str) -> str | None:
    return None


def test_six_comma_separated_bytes_are_an_address_and_a_port():
    found = mentions(b"227 Entering Passive Mode (172,19,0,41,117,52).\r\n")
    assert found == (
        Mention("172,19,0,41,117,52", "172.19.0.41", 30004, "227 Entering Passive Mode (172,19,0,41,117,52)."),
    )
    assert found[0].endpoint == "172,19,0,41,117,52 (172.19.0.41:30004)"


def test_host_port_in_text_urls_and_binary_framing():
    assert [(m.host, m.port) for m in mentions(b"-MOVED 8623 172.19.0.42:6379\r\n")] == [("172.19.0.42", 6379)]
    # a protobuf string: the length byte before it is a letter ('\x17' would be too)
    framed = b"\x0a\x17http://172.19.0.43:2379\x12Ahttp://10.0.31.2:32379"
    assert [m.text for m in mentions(framed)] == ["172.19.0.43:2379", "10.0.31.2:32379"]
    assert mentions(framed)[0].context == "http://172.19.0.43:2379"
    listed = b'INFO {"connect_urls":["172.19.0.42:4222","taosnode1:6030"]}'
    assert [(m.host, m.port) for m in mentions(listed)] == [("172.19.0.42", 4222), ("taosnode1", 6030)]
    assert mentions(b"taosnode1:6030")[0].endpoint == "taosnode1:6030"


def test_what_is_not_an_endpoint():
    assert mentions(b"ts 2026-12-02T14:10:15.371Z") == ()  # a time of day
    assert mentions(b"999.1.1.1:80 host:0 host:70000") == ()  # no such address or port
    assert mentions(b"1,2,3,4,5,6,7") == ()  # seven numbers are not six
    assert mentions(b"300,1,1,1,1,1") == ()  # not bytes
    assert mentions(b"\x00\x01\xff") == ()


def test_the_latest_reply_naming_the_attempted_endpoint_is_the_one_handed():
    segments = [
        reply(1.0, b"227 Entering Passive Mode (172,19,0,41,117,50).\r\n"),
        reply(2.0, b"227 Entering Passive Mode (172,19,0,41,117,52).\r\n"),
        reply(2.5, b"227 Entering Passive Mode (172,19,0,41,117,52).\r\n", dst="10.0.31.5"),  # another client
        reply(3.5, b"227 Entering Passive Mode (172,19,0,41,117,52).\r\n"),  # after the attempt
    ]
    handed = find_handed(segments, {CLIENT}, "172.19.0.41", 30004, 3.0, no_names)
    assert handed is not None
    assert handed.segment.time == 2.0 and handed.before_ms == 1000.0
    assert handed.segment.sender == "10.0.31.2:21"
    assert find_handed(segments, {CLIENT}, "172.19.0.41", 30004, 1.5, no_names) is None
    assert find_handed(segments, {CLIENT}, "172.19.0.41", 30005, 3.0, no_names) is None


def test_a_name_leads_where_the_clients_resolver_sends_it():
    segments = [reply(1.0, b"\x00\x10taosnode2:6030\x00", sport=6030)]
    hosts = {"taosnode2": "172.19.0.42"}.get
    assert find_handed(segments, {CLIENT}, "172.19.0.42", 6030, 2.0, hosts) is not None
    assert find_handed(segments, {CLIENT}, "172.19.0.42", 6030, 2.0, no_names) is None
    assert find_handed(segments, {CLIENT}, "10.0.31.2", 6030, 2.0, hosts) is None


def test_segments_are_read_from_a_capture_with_their_payloads(tmp_path):
    packets = [
        IP(src=SERVER, dst=CLIENT)
        / TCP(sport=21, dport=40000, flags="PA")
        / Raw(b"227 Entering Passive Mode (10,0,31,2,117,57).\r\n"),
        IP(src=CLIENT, dst=SERVER) / TCP(sport=40001, dport=30009, flags="S"),  # no payload
        IP(src=SERVER, dst=CLIENT) / UDP(sport=4222, dport=5000) / Raw(b"172.19.0.42:4222"),
        IP(src="10.0.2.1", dst=CLIENT) / ICMP(type=3, code=0),
    ]
    for number, packet in enumerate(packets):
        packet.time = 100.0 + number
    path = tmp_path / "remote-client-any.pcap"
    wrpcap(str(path), packets)
    segments = read_segments(path)
    assert [(s.time, s.sender, s.dport) for s in segments] == [
        (100.0, "10.0.31.2:21", 40000),
        (102.0, "10.0.31.2:4222", 5000),
    ]
    assert segments[0].data.startswith(b"227 ")
    assert segments_of(packets[1:2]) == []


@pytest.fixture
def ftp_like(tmp_path):
    """A hand-made run: a control connection whose reply names a data endpoint, then two steps whose
    second connection fails: one to the named endpoint, one to an endpoint no reply named."""
    canned = CannedRun(tmp_path / "20260101-000000-handed")
    canned.state("remote-client", addresses=f"lo UNKNOWN 127.0.0.1/8 \nremote@if3 UP {CLIENT}/24 \n")
    canned.state("router", addresses="lo UNKNOWN 127.0.0.1/8 \nremote@if2 UP 10.0.2.1/24 \n")
    packets = []
    for step, (sport, reply_text, data_dst) in enumerate(
        [
            (50001, b"227 Entering Passive Mode (172,19,0,41,117,52).\r\n", "172.19.0.41"),
            (50003, b"230 Login successful.\r\n", "172.19.0.42"),
        ]
    ):
        start = T0 + step
        control = tcp_syn(CLIENT, sport, SERVER, 21)
        data = tcp_syn(CLIENT, sport + 1, data_dst, 30004)
        packets += [
            at(start + 0.010, control),
            at(start + 0.0101, tcp_answer(control, "SA")),
            at(start + 0.020, IP(src=SERVER, dst=CLIENT) / TCP(sport=21, dport=sport, flags="PA") / Raw(reply_text)),
            at(start + 0.030, data),
            at(start + 0.0301, icmp_unreachable("10.0.2.1", 0, data)),
        ]
        canned.outcome(
            "remote-client", f"step{step}", start, ["curl", f"ftp://{SERVER}/"], ok=False, expected="ok", error="x"
        )
    canned.capture("remote-client", "any", packets)
    return canned.write()


def test_the_explanation_quotes_the_reply_that_handed_the_endpoint(ftp_like):
    explanation = explain_outcome(ftp_like, ftp_like.outcomes[0])
    control, data = explanation.attempts
    assert control.endpoints == [] and control.succeeded
    assert data.endpoints == ["172,19,0,41,117,52 (172.19.0.41:30004)"]
    assert data.endpoint_sources == [
        f"the reply from {SERVER}:21 on the wire, 10.0 ms before: «227 Entering Passive Mode (172,19,0,41,117,52).»"
    ]
    assert "the handed endpoint(s) 172,19,0,41,117,52 (172.19.0.41:30004) led to 172.19.0.41:30004" in (
        explanation.why()
    )


def test_the_explanation_says_when_no_reply_names_the_endpoint(ftp_like):
    explanation = explain_outcome(ftp_like, ftp_like.outcomes[1])
    _, data = explanation.attempts
    assert data.endpoints == []
    assert data.nat.endswith(
        "no reply captured on remote-client before it names 172.19.0.42:30004 (as host:port or h1,h2,h3,h4,p1,p2): "
        "where the client got it cannot be told from the wire (an encrypted or binary answer, or the client's own choice)"
    )
    assert "no reply captured on remote-client before it names" in explanation.text()
