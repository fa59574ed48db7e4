"""Hand-made run folders: a results.json, node state files and pcaps written with scapy.

They hold what `python -m lab run` writes (results/README.md) in the formats lab.analysis.rundir
reads, for the few fields the analysis uses, so explanations can be checked without a lab machine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPerror, TCPerror, UDPerror  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

from lab.analysis.rundir import RunDir  # noqa: E402
from lab.steps.probe import MODULE as PROBE_MODULE  # noqa: E402


def probe_argv(kind: str, host: str, port: int) -> list[str]:
    """The argv of one of the lab's own probes, as results.json records it."""
    return ["python3", "-m", PROBE_MODULE, kind, host, str(port), "--timeout", "5.0"]


def at(time: float, packet):
    """`packet` on an Ethernet frame, captured at `time` (seconds since the epoch)."""
    frame = Ether() / packet
    frame.time = time
    return frame


def tcp_syn(src: str, sport: int, dst: str, dport: int):
    return IP(src=src, dst=dst, ttl=64) / TCP(sport=sport, dport=dport, flags="S")


def tcp_answer(syn, flags: str):
    """The answer to `syn` from its destination: "SA" accepts, "RA" refuses."""
    return IP(src=syn[IP].dst, dst=syn[IP].src, ttl=64) / TCP(sport=syn[TCP].dport, dport=syn[TCP].sport, flags=flags)


def udp(src: str, sport: int, dst: str, dport: int, payload: bytes = b"ping"):
    return IP(src=src, dst=dst, ttl=64) / UDP(sport=sport, dport=dport) / payload


def icmp_unreachable(sender: str, code: int, quoted):
    """ICMP destination unreachable from `sender`, quoting the IP and TCP/UDP header of `quoted`."""
    inner = quoted[IP]
    if TCP in inner:
        header = TCPerror(sport=inner[TCP].sport, dport=inner[TCP].dport, flags=inner[TCP].flags)
    else:
        header = UDPerror(sport=inner[UDP].sport, dport=inner[UDP].dport)
    quote = IPerror(src=inner.src, dst=inner.dst, ttl=inner.ttl - 1, proto=inner.proto) / header
    return IP(src=sender, dst=inner.src, ttl=64) / ICMP(type=3, code=code) / quote


def echo(src: str, dst: str, reply: bool = False):
    return IP(src=src, dst=dst, ttl=64) / ICMP(type=0 if reply else 8, id=1, seq=1)


@dataclass
class CannedRun:
    """A run folder being written: outcomes, state files and captures of one variant."""

    path: Path
    variant: str = "default"
    outcomes: list[dict] = field(default_factory=list)

    def outcome(
        self,
        node: str,
        step: str,
        started_at: float,
        argv: list[str],
        output: str = "",
        ok: bool = True,
        expected: str = "ok",
        error: str = "",
        duration_s: float = 0.5,
    ) -> None:
        """One outcome row of results.json (met when `ok` matches `expected`)."""
        self.outcomes.append(
            {
                "variant": self.variant,
                "node": node,
                "step": step,
                "ok": ok,
                "expected": expected,
                "met": ok == (expected == "ok"),
                "exit_code": 0 if ok else 1,
                "duration_s": duration_s,
                "output": output,
                "error": error,
                "argv": argv,
                "started_at": started_at,
                "attempts": 1,
            }
        )

    def state(self, node: str, **files: str) -> None:
        """State files of `node`: state(node, hosts=..., iptables=..., docker_networks=...) -> hosts.txt, ..."""
        folder = self.path / self.variant / "state" / node
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (folder / f"{name.replace('_', '-')}.txt").write_text(text)

    def capture(self, node: str, interface: str, packets: list) -> None:
        """`node`'s capture on `interface` (NODE-INTERFACE.pcap)."""
        folder = self.path / self.variant / "captures"
        folder.mkdir(parents=True, exist_ok=True)
        wrpcap(str(folder / f"{node}-{interface}.pcap"), packets)

    def write(self) -> RunDir:
        """Write results.json and open the folder as the analysis does."""
        results = {
            "schema": "lab.results/1",
            "run_id": "canned01",
            "complete": True,
            "variants": [{"name": self.variant, "description": "", "built": True, "error": None}],
            "outcomes": self.outcomes,
        }
        (self.path / "results.json").write_text(json.dumps(results, indent=2))
        return RunDir(self.path)
