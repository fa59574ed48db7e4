"""Wire format of the emulated TDengine RPC (pure: encoding, decoding, transport choice).

Every message is an 18-byte big-endian header followed by a JSON object::

    magic "TD" | version u8 | msg type u8 | code u32 | port u16 | seq u32 | body length u32

``port`` is the sender's own port: a server puts the port of the socket that received the
request there, and a client sends its following UDP packets to an endpoint to that port
(TDengine's RPC header does the same, which is what breaks behind differing port mappings).
A UDP datagram carries exactly one message; on TCP, messages follow each other.
Responses have the request's type + 1; a redirect is a response with code REDIRECT.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

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
CREATE_DB = 17
DROP_DB = 19
USE_DB = 21
CREATE_TABLE = 23
TABLE_META = 25
SUBMIT = 27  # to the dnode holding the vnode
QUERY = 29  # to the dnode holding the vnode

SHELL_REQUESTS = frozenset(
    {CONNECT, HEARTBEAT, SHOW, RETRIEVE, CREATE_DNODE, DROP_DNODE, CREATE_DB, DROP_DB, USE_DB, CREATE_TABLE, TABLE_META}
)
VNODE_REQUESTS = frozenset({SUBMIT, QUERY})
TCP_ONLY = frozenset({SHOW, RETRIEVE, STATUS, MNODE_SYNC, TABLE_META, QUERY})  # as rpcMain.c: query, meta, show

TCP = "tcp"
UDP = "udp"

Header = tuple[int, int, int, int, int]  # (type, code, port, seq, body length)


class ProtocolError(Exception):
    """Bytes that are not a valid message."""


@dataclass(frozen=True)
class Message:
    """One RPC message: type, JSON body, result code, sender port and sequence number."""

    type: int
    body: dict[str, Any] = field(default_factory=dict)
    code: int = 0
    port: int = 0
    seq: int = 0


def is_request(msg_type: int) -> bool:
    """True for request types (odd numbers)."""
    return msg_type % 2 == 1


def choose_transport(msg_type: int, size: int) -> str:
    """TCP for show/retrieve/meta/query/status/sync and anything over 15000 bytes, else UDP."""
    return TCP if msg_type in TCP_ONLY or size > MAX_UDP_SIZE else UDP


def encode(message: Message) -> bytes:
    """Serialise ``message`` to bytes."""
    body = json.dumps(message.body, separators=(",", ":")).encode("utf-8")
    return HEADER.pack(MAGIC, WIRE_VERSION, message.type, message.code, message.port, message.seq, len(body)) + body


def decode_header(data: bytes) -> Header:
    """Check a header; return ``(type, code, port, seq, body length)``."""
    if len(data) != HEADER_SIZE:
        raise ProtocolError("short header")
    magic, version, msg_type, code, port, seq, length = HEADER.unpack(data)
    if magic != MAGIC or version != WIRE_VERSION or msg_type == 0:
        raise ProtocolError("not a TDengine emulator message")
    if length > MAX_BODY:
        raise ProtocolError(f"body of {length} bytes is too large")
    return msg_type, code, port, seq, length


def decode_body(header: Header, body: bytes) -> Message:
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


def decode(data: bytes) -> Message:
    """Decode one whole message (a UDP datagram)."""
    header = decode_header(data[:HEADER_SIZE])
    return decode_body(header, data[HEADER_SIZE:])


def reply(request: Message, body: dict[str, Any] | None = None, code: int = 0, port: int = 0) -> Message:
    """The response to ``request``: same sequence number, type + 1."""
    return Message(request.type + 1, body or {}, code, port, request.seq)
