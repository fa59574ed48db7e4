"""Packets of a run's captures as plain rows, read with scapy."""

from __future__ import annotations

import logging
import re
from collections.abc import Collection
from dataclasses import asdict, dataclass
from pathlib import Path

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.dns import DNSQR  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror  # noqa: E402
from scapy.layers.l2 import ARP  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import PcapReader  # noqa: E402

ICMP_UNREACHABLE = 3
DNS_PORT = 53
# "name:port" written in a payload (an endpoint a server hands out, as text)
PAYLOAD_ENDPOINT_RE = re.compile(rb"(?<![\w.-])([A-Za-z][A-Za-z0-9.-]*:\d{1,5})(?!\d)")
# a host name written in a payload, as text or in a binary field (an endpoint set with its ports apart)
PAYLOAD_NAME_RE = re.compile(
    rb"(?<![A-Za-z0-9.-])([A-Za-z][A-Za-z0-9-]{1,62}(?:\.[A-Za-z0-9-]{1,63})*)(?![A-Za-z0-9.-])"
)
PAYLOAD_NAMES_KEPT = 32  # per packet: enough for the names a server hands out, little for bulk data


@dataclass(frozen=True)
class Packet:
    """One IPv4 packet seen on one node's interface."""

    time: float
    node: str
    interface: str
    src: str
    dst: str
    protocol: str
    sport: int | None
    dport: int | None
    flags: str
    ttl: int
    length: int
    icmp_type: int | None = None
    icmp_code: int | None = None
    quoted_dst: str | None = None
    quoted_dport: int | None = None
    dns_query: str | None = None  # the name a DNS query (to port 53) asks for
    payload: int = 0  # bytes of TCP or UDP payload
    endpoints: tuple[str, ...] = ()  # "name:port" strings written in the payload, in order, once each
    names: tuple[str, ...] = ()  # words of the payload that could be host names, in order, once each (the first 32)

    def as_dict(self) -> dict:
        """The packet as a dict (one row of a table)."""
        return asdict(self)


def _payload(layer) -> dict:
    data = bytes(layer[Raw].load) if Raw in layer else b""
    found = dict.fromkeys(m.decode() for m in PAYLOAD_ENDPOINT_RE.findall(data))
    names = dict.fromkeys(m.decode() for m in PAYLOAD_NAME_RE.findall(data))
    return {"payload": len(data), "endpoints": tuple(found), "names": tuple(names)[:PAYLOAD_NAMES_KEPT]}


def _row(packet, node: str, interface: str) -> Packet | None:
    if IP not in packet:
        return None
    ip = packet[IP]
    common = dict(
        time=float(packet.time), node=node, interface=interface, src=ip.src, dst=ip.dst, ttl=ip.ttl, length=ip.len
    )
    if TCP in ip:
        return Packet(
            **common,
            protocol="tcp",
            sport=ip[TCP].sport,
            dport=ip[TCP].dport,
            flags=str(ip[TCP].flags),
            **_payload(ip[TCP]),
        )
    if UDP in ip and IPerror not in ip:
        query = None
        if ip[UDP].dport == DNS_PORT and DNSQR in ip:
            query = ip[DNSQR].qname.decode(errors="replace").rstrip(".")
        return Packet(
            **common,
            protocol="udp",
            sport=ip[UDP].sport,
            dport=ip[UDP].dport,
            flags="",
            dns_query=query,
            **_payload(ip[UDP]),
        )
    if ICMP in ip:
        icmp = ip[ICMP]
        quoted_dst = quoted_dport = None
        if IPerror in icmp:
            quoted_dst = icmp[IPerror].dst
            inner = icmp[IPerror]
            if TCPerror in inner:
                quoted_dport = inner[TCPerror].dport
            elif UDPerror in inner:
                quoted_dport = inner[UDPerror].dport
        return Packet(
            **common,
            protocol="icmp",
            sport=None,
            dport=None,
            flags="",
            icmp_type=icmp.type,
            icmp_code=icmp.code,
            quoted_dst=quoted_dst,
            quoted_dport=quoted_dport,
        )
    return Packet(**common, protocol=str(ip.proto), sport=None, dport=None, flags="")


def capture_name(stem: str, nodes: set[str]) -> tuple[str, str]:
    """(node, interface) of a capture file named NODE-INTERFACE.pcap; either may hold '-'
    (remote-client-any, server-br-taosnet): the longest known node name wins."""
    known = [n for n in nodes if stem.startswith(f"{n}-")]
    if known:
        node = max(known, key=len)
        return node, stem[len(node) + 1 :]
    node, _, interface = stem.rpartition("-")
    return node, interface


def read_capture(path: Path, nodes: Collection[str] = ()) -> list[Packet]:
    """All IPv4 packets of one capture file named NODE-INTERFACE.pcap (`nodes`: the run's node names)."""
    node, interface = capture_name(path.stem, set(nodes))
    rows = []
    with PcapReader(str(path)) as reader:
        for packet in reader:
            row = _row(packet, node, interface)
            if row is not None:
                rows.append(row)
    return rows


@dataclass(frozen=True)
class ArpRequest:
    """An ARP request (who-has) a node sent, and whether an answer (is-at) came back on that capture."""

    time: float
    node: str
    sender: str  # the asking address
    asked: str  # the address asked for
    answered: bool


ARP_WHO_HAS, ARP_IS_AT = 1, 2


def read_arp_requests(variant_dir: Path) -> list[ArpRequest]:
    """The ARP requests of a variant's captures, in time order (IPv4 rows leave ARP out: it says who
    was asked for a link-layer address when no IP packet of a step left a node)."""
    nodes, paths = _variant_captures(variant_dir)
    requests = []
    for path in paths:
        node, _ = capture_name(path.stem, nodes)
        asked: list[tuple[float, str, str]] = []
        answered: set[str] = set()
        with PcapReader(str(path)) as reader:
            for packet in reader:
                if ARP in packet and packet[ARP].op == ARP_WHO_HAS:
                    asked.append((float(packet.time), packet[ARP].psrc, packet[ARP].pdst))
                elif ARP in packet and packet[ARP].op == ARP_IS_AT:
                    answered.add(packet[ARP].psrc)
        requests += [ArpRequest(time, node, sender, target, target in answered) for time, sender, target in asked]
    return sorted(requests, key=lambda request: request.time)


def _variant_captures(variant_dir: Path) -> tuple[set[str], list[Path]]:
    """The variant's node names (which name its capture files) and its capture files, in order."""
    nodes = {d.name for d in (variant_dir / "state").glob("*") if d.is_dir()}
    return nodes, sorted((variant_dir / "captures").glob("*.pcap"))


def read_variant_captures(variant_dir: Path) -> list[Packet]:
    """Every packet of a variant's captures, in time order."""
    nodes, paths = _variant_captures(variant_dir)
    rows = [row for path in paths for row in read_capture(path, nodes)]
    return sorted(rows, key=lambda row: row.time)
