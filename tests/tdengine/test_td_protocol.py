"""Message encoding and decoding, transport choice."""

import json

import pytest

from lab.tdengine import protocol
from lab.tdengine.protocol import Message, ProtocolError


def test_round_trip_and_header_layout():
    message = Message(protocol.CONNECT, {"user": "root"}, code=0x8000000B, port=6030, seq=7)
    data = protocol.encode(message)
    body = json.dumps({"user": "root"}, separators=(",", ":")).encode()
    assert data[: protocol.HEADER_SIZE] == (
        b"TD\x01\x01"
        + bytes.fromhex("8000000B")
        + (6030).to_bytes(2, "big")
        + (7).to_bytes(4, "big")
        + len(body).to_bytes(4, "big")
    )
    assert data[protocol.HEADER_SIZE :] == body
    assert protocol.decode(data) == message


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"XX\x01\x01" + bytes(14),
        b"TD\x02\x01" + bytes(14),
        b"TD\x01\x00" + bytes(14),
        b"TD\x01\x01" + bytes(10) + (protocol.MAX_BODY + 1).to_bytes(4, "big"),
        b"TD\x01\x01" + bytes(10) + (5).to_bytes(4, "big") + b"{}",
        b"TD\x01\x01" + bytes(10) + (2).to_bytes(4, "big") + b"[]",
        b"TD\x01\x01" + bytes(10) + (2).to_bytes(4, "big") + b"\xff\xfe",
    ],
)
def test_garbage_is_a_protocol_error(data):
    with pytest.raises(ProtocolError):
        protocol.decode(data)


def test_transport_choice():
    assert protocol.choose_transport(protocol.CONNECT, 100) == protocol.UDP
    assert protocol.choose_transport(protocol.HEARTBEAT, 15000) == protocol.UDP
    assert protocol.choose_transport(protocol.CONNECT, 15001) == protocol.TCP
    for msg_type in (protocol.SHOW, protocol.RETRIEVE, protocol.STATUS, protocol.MNODE_SYNC):
        assert protocol.choose_transport(msg_type, 10) == protocol.TCP


def test_reply_keeps_the_sequence_and_answers_with_type_plus_one():
    request = Message(protocol.SHOW, {"what": "dnodes"}, seq=41)
    response = protocol.reply(request, {"show_id": 1}, port=6030)
    assert (response.type, response.seq, response.port) == (protocol.SHOW + 1, 41, 6030)
    assert protocol.is_request(request.type) and not protocol.is_request(response.type)
