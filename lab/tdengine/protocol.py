"""Wire format of the emulated TDengine RPC (pure: encoding, decoding, transport choice).

Every message is an 18-byte big-endian header followed by a JSON object::

    magic "TD" | version u8 | msg type u8 | code u32 | port u16 | seq u32 | body length u32

``port`` is the sender's own port: a server puts the port of the socket that received the
request there, and a client sends its following UDP packets to an endpoint to that port
(TDengine's RPC header does the same, which is what breaks behind differing port mappings).
A UDP datagram carries exactly one message; on TCP, messages follow each other.
Responses have the request's type + 1; a redirect is a response with code REDIRECT.
"""

import json
import struct
from dataclasses import dataclass, field

MAGIC = b"TD"
WIRE_VERSION = 1
HEADER = struct.Struct(">2sBBIHII")
HEADER_SIZE = HEADER.size
MAX_BODY = 1 << 20
MAX_UDP_SIZE = 15000  # larger messages go over TCP, as tsRpcMaxUdpSize

# Requests (odd); the response type is the request type + 1.
CONNECT = 1
HEARTBEAT = 3
SHOW = 5
RETRIEVE = 7
CREATE_DNODE = 9
DROP_DNODE = 11
STATUS = 13
MNODE_SYNC = 15

SHELL_REQUESTS = frozenset({CONNECT, HEARTBEAT, SHOW, RETRIEVE, CREATE_DNODE, DROP_DNODE})
TCP_ONLY = frozenset({SHOW, RETRIEVE, STATUS, MNODE_SYNC})

TCP = "tcp"
UDP = "udp"


class ProtocolError(Exception):
    """Bytes that are not a valid message."""


@dataclass(frozen=True)
class Message:
    """One RPC message: type, JSON body, result code, sender port and sequence number."""

    type: int
    body: dict = field(default_factory=dict)
    code: int = 0
    port: int = 0
    seq: int = 0


def is_request(msg_type):
    """True for request types (odd numbers)."""
    return msg_type % 2 == 1


def choose_transport(msg_type, size):
    """TCP for show/retrieve/status/sync and anything over 15000 bytes, else UDP."""
    return TCP if msg_type in TCP_ONLY or size > MAX_UDP_SIZE else UDP


def encode(message):
    """Serialise ``message`` to bytes."""
    body = json.dumps(message.body, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(MAGIC, WIRE_VERSION, message.type, message.code, message.port, message.seq, len(body)) + body


def decode_header(data):
    """Check a header; return ``(type, code, port, seq, body length)``."""
    if len(data) != HEADER_SIZE:
        raise ProtocolError("short header")
    magic, version, msg_type, code, port, seq, length = HEADER.unpack(data)
    if magic != MAGIC or version != WIRE_VERSION or msg_type == 0:
        raise ProtocolError("not a TDengine emulator message")
    if length > MAX_BODY:
        raise ProtocolError(f"body of {length} bytes is too large")
    return msg_type, code, port, seq, length


def decode_body(header, body):
    """Build a :class:`Message` from a decoded header and its body bytes."""
    msg_type, code, port, seq, length = header
    if len(body) != length:
        raise ProtocolError("truncated body")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("body is not JSON") from None
    if not isinstance(payload, dict):
        raise ProtocolError("body is not a JSON object")
    return Message(msg_type, payload, code, port, seq)


def decode(data):
    """Decode one whole message (a UDP datagram)."""
    header = decode_header(data[:HEADER_SIZE])
    return decode_body(header, data[HEADER_SIZE:])


def reply(request, body=None, code=0, port=0):
    """The response to ``request``: same sequence number, type + 1."""
    return Message(request.type + 1, body or {}, code, port, request.seq)
