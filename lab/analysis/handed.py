"""The endpoint a client was handed, found in the bytes of the replies it received.

Nothing here knows a protocol. A server that sends its client elsewhere writes the address
and port into its reply; this module searches every payload the client received for the
common notations of an endpoint — `host:port` (a dotted IPv4 address or a name, bare or in a
URL) and six comma-separated bytes `h1,h2,h3,h4,p1,p2` (RFC 959's notation) — and takes as
"handed" the latest one, received before the client's attempt, that leads (directly or
through the client's hosts file) to the address and port of that attempt.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .messages import t
from .packets import capture_name
from .rundir import evidence_folder

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import PcapReader  # noqa: E402

if TYPE_CHECKING:
    from .rundir import NodeState, RunDir

IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
NAME = r"[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*"
# a dotted address may follow any byte (a length prefix, a quote); a name must start a word
HOST_PORT_RE = re.compile(rf"(?:(?<![\d.])({IPV4})|(?<![\w.-])({NAME})):(\d{{1,5}})(?!\d)")
SIX_BYTES_RE = re.compile(r"(?<![\d,])(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})(?![\d,])")
CONTEXT_CHARS = 40  # printable characters quoted on each side of a mention
WINDOW_SLACK_S = 0.001  # packet and step times come from the same clock


class Attempt(Protocol):
    """What this module reads and adds to of an explanation's attempt (lab.analysis.explain.Attempt)."""

    protocol: str
    dst: str
    dport: int | None
    local: bool
    endpoints: list[str]
    endpoint_sources: list[str]
    nat: str

    @property
    def lookup(self) -> bool: ...

    @property
    def succeeded(self) -> bool: ...

    @property
    def target(self) -> str: ...


@dataclass(frozen=True)
class Segment:
    """The payload of one TCP segment or UDP datagram seen on a node."""

    time: float
    src: str
    sport: int
    dst: str
    dport: int
    data: bytes

    @property
    def sender(self) -> str:
        return f"{self.src}:{self.sport}"


@dataclass(frozen=True)
class Mention:
    """An endpoint written in a payload."""

    text: str  # as it appeared on the wire
    host: str  # an IPv4 address or a name
    port: int
    context: str  # the printable text around it

    @property
    def endpoint(self) -> str:
        """The mention as written, with the host:port it means when that is written otherwise."""
        plain = f"{self.host}:{self.port}"
        return self.text if self.text == plain else f"{self.text} ({plain})"


@dataclass(frozen=True)
class Handed:
    """The reply that handed the client the endpoint it then tried."""

    mention: Mention
    segment: Segment
    before_ms: float  # how long before the client's first packet to it


def _valid_ipv4(text: str) -> bool:
    return all(int(part) <= 255 for part in text.split("."))


def _context(text: str, start: int, end: int) -> str:
    left = start
    while left > 0 and start - left < CONTEXT_CHARS and text[left - 1].isprintable():
        left -= 1
    right = end
    while right < len(text) and right - end < CONTEXT_CHARS and text[right].isprintable():
        right += 1
    return text[left:right].strip()


@lru_cache(maxsize=4096)
def mentions(data: bytes) -> tuple[Mention, ...]:
    """Every endpoint written in `data`, in order of appearance."""
    text = data.decode("latin-1")
    found: list[tuple[int, Mention]] = []
    for match in HOST_PORT_RE.finditer(text):
        address, name, port = match.groups()
        host = address or name
        if (address and not _valid_ipv4(address)) or not 0 < int(port) < 65536:
            continue
        context = _context(text, match.start(), match.end())
        found.append((match.start(), Mention(match.group(0), host, int(port), context)))
    for match in SIX_BYTES_RE.finditer(text):
        numbers = [int(n) for n in match.groups()]
        if max(numbers) > 255 or numbers[4] * 256 + numbers[5] == 0:
            continue
        host = ".".join(str(n) for n in numbers[:4])
        context = _context(text, match.start(), match.end())
        found.append((match.start(), Mention(match.group(0), host, numbers[4] * 256 + numbers[5], context)))
    return tuple(mention for _, mention in sorted(found, key=lambda item: item[0]))


def segments_of(packets: Iterable) -> list[Segment]:
    """The payload-carrying TCP and UDP packets among scapy packets, as Segments."""
    rows = []
    for packet in packets:
        if IP not in packet:
            continue
        ip = packet[IP]
        layer = ip[TCP] if TCP in ip else ip[UDP] if UDP in ip else None
        if layer is None or Raw not in layer:
            continue
        rows.append(Segment(float(packet.time), ip.src, layer.sport, ip.dst, layer.dport, bytes(layer[Raw].load)))
    return rows


def read_segments(path: Path) -> tuple[Segment, ...]:
    """The payload-carrying segments of one capture file (read once while the file is unchanged)."""
    return _read_segments(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=16)
def _read_segments(path: Path, mtime_ns: int) -> tuple[Segment, ...]:
    with PcapReader(str(path)) as reader:
        return tuple(segments_of(reader))


def find_handed(
    segments: Iterable[Segment],
    own: set[str],
    dst: str,
    dport: int,
    before: float,
    resolve: Callable[[str], str | None],
) -> Handed | None:
    """The latest reply received (addressed to one of `own`) before `before` that names dst:dport.

    `resolve` gives the address a name leads to for this client (None: it does not resolve).
    """
    latest: Handed | None = None
    for segment in segments:
        if segment.dst not in own or segment.time > before:
            continue
        if latest is not None and segment.time < latest.segment.time:
            continue
        for mention in mentions(segment.data):
            if mention.port != dport:
                continue
            address = mention.host if _is_ipv4(mention.host) else resolve(mention.host)
            if address == dst:
                latest = Handed(mention, segment, round((before - segment.time) * 1000, 3))
    return latest


def _is_ipv4(text: str) -> bool:
    try:
        IPv4Address(text)
    except ValueError:
        return False
    return True


def _first_sent(
    run: RunDir, variant: str, node: str, attempt: Attempt, own: set[str], start: float, end: float
) -> float | None:
    times = [
        p.time
        for p in run.packets(variant)
        if p.node == node
        and p.src in own
        and (p.protocol, p.dst, p.dport) == (attempt.protocol, attempt.dst, attempt.dport)
        and start <= p.time <= end + WINDOW_SLACK_S
    ]
    return min(times, default=None)


def annotate(run: RunDir, outcome: dict, client: NodeState, attempts: Sequence[Attempt]) -> None:
    """Add to each attempt the endpoint its client was handed on the wire, or say it cannot be found.

    A failed attempt to an address:port the step's own command did not name, after another
    attempt of the step was answered, is the one a program was sent to: when no reply names
    it (nor any printed output), its explanation says so.
    """
    variant, node = evidence_folder(outcome), outcome["node"]
    nodes = set(run.state(variant))
    paths = [
        p for p in sorted((run.path / variant / "captures").glob("*.pcap")) if capture_name(p.stem, nodes)[0] == node
    ]
    segments = [s for path in paths for s in read_segments(path)]
    own = {str(interface.ip) for interface in client.addresses}
    start, end = outcome["started_at"], outcome["started_at"] + outcome["duration_s"]
    own_text = " ".join(outcome["argv"])
    answered = any(a.succeeded and not a.lookup for a in attempts)

    def resolve(name: str) -> str | None:
        found = client.resolve(name)
        return found[0] if found else None

    for attempt in attempts:
        if attempt.lookup or attempt.local or attempt.dport is None or attempt.target in own_text:
            continue  # a DNS query, a connection to itself, or where the step's own command said to go
        first = _first_sent(run, variant, node, attempt, own, start, end)
        handed = find_handed(segments, own, attempt.dst, attempt.dport, first, resolve) if first is not None else None
        if handed is not None:
            endpoint = handed.mention.endpoint
            if endpoint not in attempt.endpoints:
                attempt.endpoints.insert(0, endpoint)
            attempt.endpoint_sources.insert(  # what the wire shows comes before what programs printed
                0,
                t(
                    "the reply from {sender} on the wire, {ms} ms before: «{context}»",
                    sender=handed.segment.sender,
                    ms=format(handed.before_ms, ".1f"),
                    context=handed.mention.context,
                ),
            )
        elif not attempt.endpoints and not attempt.succeeded and answered and attempt.dst not in own_text:
            unknown = t(
                "no reply captured on {node} before it names {target} (as host:port or h1,h2,h3,h4,p1,p2): "
                "where the client got it cannot be told from the wire (an encrypted or binary answer, "
                "or the client's own choice)",
                node=node,
                target=attempt.target,
            )
            attempt.nat = f"{attempt.nat}\n     {unknown}" if attempt.nat else unknown
