"""Reading a finished run's folder: results.json, per-node state files, captures."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

from ..errors import InvalidInput
from ..results.record import SCHEMA
from .packets import ArpRequest, Packet, capture_name, read_arp_requests, read_variant_captures

DNAT_RULE_RE = re.compile(
    r"^\[(?P<packets>\d+):(?P<bytes>\d+)\] (?P<rule>-A \S+ .*?-p (?P<proto>tcp|udp) .*?--dport (?P<dport>\d+) "
    r".*?-j DNAT --to-destination (?P<to>[\d.]+:\d+))$"
)


def evidence_folder(outcome: dict) -> str:
    """The folder of the run holding an outcome row's evidence (its trial's, with run --repeat)."""
    return outcome.get("folder", outcome["variant"])


class NotARunDir(InvalidInput):
    """The folder is not a lab run's results folder."""


@dataclass(frozen=True)
class DnatRule:
    """A DNAT rule of a node's nat table with its packet counter."""

    protocol: str
    dport: int
    to: str
    packets: int
    rule: str


@dataclass(frozen=True)
class DockerNetworkState:
    """A Docker network as its engine reported it after the steps."""

    name: str
    subnet: IPv4Network
    bridge: str


@dataclass
class NodeState:
    """What a node looked like after a variant's steps."""

    name: str
    hosts: list[tuple[int, str, list[str]]] = field(default_factory=list)  # (line, address, names)
    addresses: list[IPv4Interface] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)
    dnat: list[DnatRule] = field(default_factory=list)
    runs_docker: bool = False
    docker_networks: list[DockerNetworkState] = field(default_factory=list)

    def names_for(self, address: str) -> list[tuple[str, int]]:
        """Host names that this node's hosts file maps to `address`, with their line numbers."""
        return [(name, line) for line, addr, names in self.hosts if addr == address for name in names]

    def resolve(self, name: str) -> tuple[str, int] | None:
        """The address this node's hosts file gives `name` (first match, as the resolver does)."""
        for line, addr, names in self.hosts:
            if name in names:
                return addr, line
        return None


def read_node_state(directory: Path) -> NodeState:
    """Parse a node's state folder written by the runner."""
    state = NodeState(directory.name)
    hosts = directory / "hosts.txt"
    if hosts.exists():
        for number, line in enumerate(hosts.read_text().splitlines(), 1):
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2:
                state.hosts.append((number, fields[0], fields[1:]))
    addresses = directory / "addresses.txt"
    if addresses.exists():
        for line in addresses.read_text().splitlines():
            for item in line.split()[2:]:
                try:
                    state.addresses.append(IPv4Interface(item))
                except ValueError:
                    pass
    routes = directory / "routes.txt"
    if routes.exists():
        state.routes = [line for line in routes.read_text().splitlines() if line.strip()]
    iptables = directory / "iptables.txt"
    if iptables.exists():
        state.runs_docker = True
        for line in iptables.read_text().splitlines():
            match = DNAT_RULE_RE.match(line.strip())
            if match:
                state.dnat.append(
                    DnatRule(match["proto"], int(match["dport"]), match["to"], int(match["packets"]), match["rule"])
                )
    networks = directory / "docker-networks.txt"
    if networks.exists():
        for line in networks.read_text().splitlines():
            fields = line.split("\t")
            if len(fields) == 3:
                try:
                    state.docker_networks.append(DockerNetworkState(fields[0], IPv4Network(fields[1]), fields[2]))
                except ValueError:
                    continue
    return state


OUTCOME_KEYS = "variant node step ok expected met error output argv started_at duration_s".split()


def read_results(path: Path) -> dict:
    """A run's results.json, checked to be one this lab wrote; NotARunDir (exit 2) saying what is wrong."""
    try:
        results = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise NotARunDir(
            f"{path}: not readable as JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "the file is cut short or damaged: run the scenario again"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NotARunDir(f"{path}: cannot be read ({exc})") from None
    schema = results.get("schema") if isinstance(results, dict) else None
    if schema != SCHEMA:
        raise NotARunDir(
            f"{path}: not a lab results file (its schema is {schema!r}, this lab reads {SCHEMA!r}); "
            "give a folder printed as 'results: ...' by `python -m lab run`"
        )
    rows = results.get("outcomes")
    variants = results.get("variants")
    if not isinstance(rows, list) or not isinstance(variants, list):
        raise NotARunDir(f"{path}: has no list of 'outcomes' and 'variants'; the file is damaged")
    for number, row in enumerate(rows, 1):
        missing = [key for key in OUTCOME_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise NotARunDir(f"{path}: outcome {number} lacks {', '.join(missing)}; the file is damaged")
    for number, variant in enumerate(variants, 1):
        if not isinstance(variant, dict) or not isinstance(variant.get("name"), str):
            raise NotARunDir(f"{path}: variant {number} has no name; the file is damaged")
    return results


class RunDir:
    """A results folder of one run."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / "results.json").is_file():
            raise NotARunDir(
                f"{self.path} is not a lab results folder (it has no results.json); "
                "give a folder printed as 'results: ...' by `python -m lab run`"
            )
        self.results = read_results(self.path / "results.json")
        self._states: dict[str, dict[str, NodeState]] = {}
        self._packets: dict[str, list[Packet]] = {}
        self._arp: dict[str, list[ArpRequest]] = {}

    @property
    def outcomes(self) -> list[dict]:
        """The outcome rows of results.json."""
        return self.results["outcomes"]

    @property
    def repeat(self) -> int:
        """How many times each variant was replayed (`run --repeat`)."""
        repeat = self.results.get("repeat", 1)
        return repeat if isinstance(repeat, int) and repeat > 0 else 1

    @property
    def variant_names(self) -> list[str]:
        """Variants in the order they ran."""
        return [v["name"] for v in self.results["variants"]]

    def state(self, variant: str) -> dict[str, NodeState]:
        """Each node's state after the variant's steps."""
        if variant not in self._states:
            self._states[variant] = {
                d.name: read_node_state(d) for d in sorted((self.path / variant / "state").glob("*")) if d.is_dir()
            }
        return self._states[variant]

    def packets(self, variant: str) -> list[Packet]:
        """All captured packets of a variant."""
        if variant not in self._packets:
            self._packets[variant] = read_variant_captures(self.path / variant)
        return self._packets[variant]

    def arp_requests(self, variant: str) -> list[ArpRequest]:
        """The ARP requests the variant's captures saw (read when asked: only where no IP packet explains a step)."""
        if variant not in self._arp:
            self._arp[variant] = read_arp_requests(self.path / variant)
        return self._arp[variant]

    def captured_nodes(self, variant: str) -> set[str]:
        """Nodes with a capture in this variant."""
        nodes = set(self.state(variant))
        return {capture_name(p.stem, nodes)[0] for p in (self.path / variant / "captures").glob("*.pcap")}
