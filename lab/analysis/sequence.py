"""The conversation behind one step as a sequence diagram, derived from the captures.

One model (`Diagram`: lifelines, arrows and notes in time order) is built from the
packets every capture of the variant saw during the step: the client's own capture, the
Docker host's LAN side and its bridge side (where the translated packets show). It is
rendered as a Mermaid ``sequenceDiagram`` (report.md) and drawn as SVG and PNG
(lab.analysis.sequence_draw), so the three never disagree.

Lifelines: the client, the router its route to the server goes through, the Docker host
(with the NAT translations seen, e.g. ``udp 10.0.31.2:16030 -> 172.19.0.41:6030``), and each
container reached. Arrows: one per packet that carries meaning (SYN, SYN-ACK, RST, data,
replies, ICMP errors, FIN), pure ACKs left out, a packet repeated on the same flow folded
into the previous arrow with a count.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from ipaddress import IPv4Address, IPv4Network

from ..results.record import safe_name, trial_label
from .explain import ICMP_UNREACHABLE_CODES, WINDOW_SLACK_S
from .messages import t
from .packets import ICMP_UNREACHABLE, Packet
from .rundir import NodeState, RunDir, evidence_folder

MATCH_WINDOW_S = 1.0  # how long after the client sent it a packet may show on the Docker host's side

REQUEST, REPLY, REFUSAL = "request", "reply", "refusal"


@dataclass(frozen=True)
class Lifeline:
    """One party of the conversation."""

    key: str  # node or container name, or an address nobody in the lab owns
    role: str  # client | router | docker_host | container | other
    title: str
    lines: tuple[str, ...] = ()  # addresses, NAT translations seen


@dataclass(frozen=True)
class Arrow:
    """One packet (or several folded) from one lifeline to another."""

    time: float
    src: str
    dst: str
    protocol: str
    source: str  # address:port as sent
    target: str
    summary: str
    kind: str = REQUEST  # request | reply | refusal
    count: int = 1
    endpoints: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The arrow's text: transport, destination, summary and the folded count."""
        folded = t(" (×{count})", count=self.count) if self.count > 1 else ""
        if self.protocol == "icmp" and self.kind != REQUEST:
            return f"{self.summary} ({self.source}){folded}"
        server_side = self.target if self.kind == REQUEST else self.source
        return f"{self.protocol} {server_side} {self.summary}{folded}"


@dataclass(frozen=True)
class Note:
    """A remark over one or more lifelines at a point in time."""

    time: float
    over: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Diagram:
    """The conversation of one step of one variant, as the captures saw it."""

    variant: str
    node: str
    step: str
    ok: bool
    error: str
    lifelines: tuple[Lifeline, ...]
    events: tuple[Arrow | Note, ...]
    trial: int = 1  # which replay of the variant the captures are of
    repeat: int = 1  # of how many (run --repeat)

    @property
    def arrows(self) -> list[Arrow]:
        return [e for e in self.events if isinstance(e, Arrow)]

    @property
    def notes(self) -> list[Note]:
        return [e for e in self.events if isinstance(e, Note)]

    def path_and_break(self) -> tuple[list[str], str] | None:
        """Where the client's packets went before the first refusal, and what happened there:
        (lifeline keys from the client on, a sentence), or None when nothing was refused."""
        refusal = next((a for a in self.arrows if a.kind == REFUSAL), None)
        if refusal is None:
            return None
        roles = {lifeline.key: lifeline.role for lifeline in self.lifelines}
        path = [self.node] + [k for k, role in roles.items() if role == "router"]
        index = self.events.index(refusal)
        hops = [
            e.dst
            for e in self.events[:index]
            if isinstance(e, Arrow) and e.kind == REQUEST and e.target == refusal.source and e.dst not in path
        ]
        path += list(dict.fromkeys([*hops, refusal.src]))
        said = [e.text for e in self.events[:index] if isinstance(e, Note) and refusal.src in e.over]
        where = said[-1] + ": " if said else ""
        return path, where + refusal.label

    @property
    def title(self) -> str:
        status = t("ok") if self.ok else t("failed: {error}", error=self.error)
        return f"{trial_label(self.variant, self.trial, self.repeat)} / {self.node} / {self.step}: {status}"


def _own(state: NodeState) -> set[str]:
    return {str(i.ip) for i in state.addresses}


def _gateway(state: NodeState, address: str) -> str | None:
    """The next hop of `state`'s routing table towards `address` (None: on a link of its own)."""
    best: tuple[int, str | None] | None = None
    for route in state.routes:
        fields = route.split()
        if not fields:
            continue
        try:
            network = IPv4Network("0.0.0.0/0" if fields[0] == "default" else fields[0], strict=False)
        except ValueError:
            continue
        if IPv4Address(address) not in network:
            continue
        via = fields[fields.index("via") + 1] if "via" in fields else None
        if best is None or network.prefixlen > best[0]:
            best = (network.prefixlen, via)
    return best[1] if best else None


def _ep(address: str, port: int | None) -> str:
    return f"{address}:{port}" if port is not None else address


def _summary(packet: Packet, outbound: bool, known: list[str]) -> tuple[str, str] | None:
    """(summary, kind) of a packet, or None for one that adds nothing (a pure ACK)."""
    if packet.protocol == "tcp":
        flags = packet.flags
        if "R" in flags:
            return "RST", REFUSAL
        if "S" in flags:
            return ("SYN-ACK", REPLY) if "A" in flags else ("SYN", REQUEST)
        if "F" in flags:
            return "FIN", REQUEST if outbound else REPLY
        if packet.payload:
            return _data(packet, outbound, known)
        return None
    if packet.protocol == "udp":
        return _data(packet, outbound, known)
    if packet.protocol == "icmp":
        if packet.icmp_type == 8:
            return t("echo request"), REQUEST
        if packet.icmp_type == 0:
            return t("echo reply"), REPLY
        if packet.icmp_type == ICMP_UNREACHABLE:
            kind = ICMP_UNREACHABLE_CODES.get(packet.icmp_code)
            return t("ICMP {kind}", kind=t(kind) if kind else t("code {code}", code=packet.icmp_code)), REFUSAL
    return None


def _data(packet: Packet, outbound: bool, known: list[str]) -> tuple[str, str]:
    """A request or reply in words; a reply with the endpoints, or else the host names `known`
    to the client (its hosts file), that it carries."""
    if packet.endpoints and not outbound:
        return (
            t(
                "reply: {count} endpoint(s) {endpoints}",
                count=len(packet.endpoints),
                endpoints=", ".join(packet.endpoints),
            ),
            REPLY,
        )
    if outbound:
        return t("request ({bytes} bytes)", bytes=packet.payload), REQUEST
    if known:
        return t("reply ({bytes} bytes) naming {names}", bytes=packet.payload, names=", ".join(known)), REPLY
    return t("reply ({bytes} bytes)", bytes=packet.payload), REPLY


@dataclass
class _Builder:
    run: RunDir
    variant: str
    client: str
    containers: Mapping[str, str]  # container address -> container name
    states: dict[str, NodeState] = field(default_factory=dict)
    lifelines: dict[str, Lifeline] = field(default_factory=dict)
    events: list[Arrow | Note] = field(default_factory=list)
    translations: dict[str, list[str]] = field(default_factory=dict)  # Docker host -> translations seen
    noted: set[str] = field(default_factory=set)

    def owner(self, address: str) -> str | None:
        """The lifeline key of whoever owns `address` (a node, a container), or None."""
        if address in self.containers:
            return self.containers[address]
        for name, state in self.states.items():
            if address in _own(state):
                return name
        return None

    def lifeline(self, key: str) -> str:
        if key in self.lifelines:
            return key
        state = self.states.get(key)
        if key in self.containers.values():
            address = next(a for a, n in self.containers.items() if n == key)
            self.lifelines[key] = Lifeline(key, "container", key, (address,))
        elif state is None:
            self.lifelines[key] = Lifeline(key, "other", key)
        else:
            role = "client" if key == self.client else "docker_host" if state.runs_docker else "router"
            addresses = tuple(str(i.ip) for i in state.addresses if not i.ip.is_loopback)
            self.lifelines[key] = Lifeline(key, role, key, addresses)
        return key

    def note(self, time: float, over: tuple[str, ...], text: str) -> None:
        if text not in self.noted:
            self.noted.add(text)
            self.events.append(Note(time, over, text))


def _host_side(packets: list[Packet], host: str, addresses: set[str], used: set[int], sent: Packet, outbound: bool):
    """The packet the Docker host's bridge side saw for `sent` (the client's), translated; None if none."""
    for index, packet in enumerate(packets):
        if index in used or packet.node != host or packet.protocol != sent.protocol or packet.flags != sent.flags:
            continue
        if outbound:
            same = packet.src == sent.src and packet.sport == sent.sport and packet.dst not in addresses
            same = same and packet.time >= sent.time
        else:
            same = packet.dst == sent.dst and packet.dport == sent.dport and packet.src not in addresses
            same = same and packet.time <= sent.time + MATCH_WINDOW_S
        if same:
            used.add(index)
            return packet
    return None


def build_diagram(run: RunDir, outcome: dict, containers: Mapping[str, str]) -> Diagram:
    """The sequence diagram of one outcome row of results.json.

    `containers` maps container addresses to names (from the scenario) so that a
    translated packet's destination is named.
    """
    variant, client = outcome["variant"], outcome["node"]
    folder = evidence_folder(outcome)
    builder = _Builder(run, variant, client, containers, run.state(folder))
    start, end = outcome["started_at"], outcome["started_at"] + outcome["duration_s"] + WINDOW_SLACK_S
    window = [p for p in run.packets(folder) if start <= p.time <= end + MATCH_WINDOW_S]
    client_state = builder.states.get(client)
    own = _own(client_state) if client_state else set()
    mine = [
        p
        for p in window
        if p.node == client
        and p.time <= end
        and (p.src in own) != (p.dst in own)
        and not IPv4Address(p.src if p.dst in own else p.dst).is_multicast
    ]
    others = [p for p in window if p.node != client]
    used: set[int] = set()
    builder.lifeline(client)
    last: dict[tuple, tuple[str, list[int]]] = {}
    handed: list[str] = []  # "name:port" endpoints the replies carried
    handed_names: list[str] = []  # host names (known to the client) the replies carried without a port
    routers_noted: set[str] = set()
    # a packet answered by an ICMP error got as far as whoever sent the error (a router without a route)
    stopped = {
        (p.quoted_dst, p.quoted_dport): p.src
        for p in mine
        if p.protocol == "icmp" and p.icmp_type == ICMP_UNREACHABLE and p.quoted_dst
    }
    for packet in mine:
        outbound = packet.src in own
        remote, remote_port = (packet.dst, packet.dport) if outbound else (packet.src, packet.sport)
        local_port = packet.sport if outbound else packet.dport
        if packet.protocol == "icmp" and packet.icmp_type == ICMP_UNREACHABLE and packet.quoted_dst:
            flow: tuple = ("icmp-error", packet.quoted_dst, packet.quoted_dport)
        else:
            flow = (packet.protocol, local_port, remote, remote_port)
        known = [
            name
            for name in packet.names
            if not outbound
            and client_state is not None
            and client_state.resolve(name)
            and not any(e.startswith(f"{name}:") for e in packet.endpoints)
        ]
        described = _summary(packet, outbound, known)
        if described is None:
            continue
        summary, kind = described
        folded = last.get(flow)
        if folded and folded[0] == (("out" if outbound else "in") + summary):
            for index in folded[1]:
                arrow = builder.events[index]
                assert isinstance(arrow, Arrow)
                builder.events[index] = replace(arrow, count=arrow.count + 1)
            continue
        owner = builder.owner(remote)
        if outbound and (remote, remote_port) in stopped:
            owner = builder.owner(stopped[(remote, remote_port)]) or owner
        peer = builder.lifeline(owner or remote)
        peer_state = builder.states.get(owner or "")
        indices: list[int] = []
        if outbound:
            gateway = _gateway(client_state, remote) if client_state else None
            router = builder.owner(gateway) if gateway else None
            if router and router != owner and router not in routers_noted:
                routers_noted.add(router)
                builder.lifeline(router)
                seen = next((p for p in others if p.node == owner and p.src == packet.src and p.dst == remote), None)
                ttl = t(" (TTL {sent} -> {seen})", sent=packet.ttl, seen=seen.ttl) if seen else ""
                builder.note(packet.time, (router,), t("forwards to {address}{ttl}", address=remote, ttl=ttl))
            if packet.protocol in ("tcp", "udp") and remote_port is not None and client_state is not None:
                leads = [
                    (endpoint, resolved[1])
                    for endpoint in handed
                    if endpoint.rpartition(":")[2] == str(remote_port)
                    and (resolved := client_state.resolve(endpoint.rpartition(":")[0]))
                    and resolved[0] == remote
                ]
                names = [
                    (name, resolved[1])
                    for name in handed_names
                    if (resolved := client_state.resolve(name))
                    and resolved[0] == remote
                    and not any(e.startswith(f"{name}:") for e, _ in leads)
                ]
                if names:
                    builder.note(
                        packet.time,
                        (client,),
                        t(
                            "{names} -> {address} ({file} line(s) {lines})",
                            names=", ".join(name for name, _ in names),
                            address=remote,
                            file="/etc/hosts",
                            lines=", ".join(str(line) for _, line in names),
                        ),
                    )
                if leads:
                    builder.note(
                        packet.time,
                        (client,),
                        t(
                            "{endpoints} -> {target} ({file} line(s) {lines})",
                            endpoints=", ".join(e for e, _ in leads),
                            target=_ep(remote, remote_port),
                            file="/etc/hosts",
                            lines=", ".join(str(line) for _, line in leads),
                        ),
                    )
            builder.events.append(
                Arrow(
                    packet.time,
                    client,
                    peer,
                    packet.protocol,
                    _ep(packet.src, packet.sport),
                    _ep(remote, remote_port),
                    summary,
                    kind,
                )
            )
            indices.append(len(builder.events) - 1)
            if peer_state is not None and peer_state.runs_docker and owner:
                inside = _host_side(others, owner, _own(peer_state), used, packet, True)
                if inside is not None:
                    translated = _ep(inside.dst, inside.dport)
                    target = builder.lifeline(builder.owner(inside.dst) or inside.dst)
                    text = t(
                        "NAT: {protocol} {original} -> {translated}",
                        protocol=packet.protocol,
                        original=_ep(remote, remote_port),
                        translated=translated,
                    )
                    if text not in builder.translations.setdefault(owner, []):
                        builder.translations[owner].append(text)
                    builder.note(packet.time, (owner,), text)
                    builder.events.append(
                        Arrow(
                            inside.time,
                            owner,
                            target,
                            packet.protocol,
                            _ep(inside.src, inside.sport),
                            translated,
                            summary,
                            kind,
                        )
                    )
                    indices.append(len(builder.events) - 1)
        else:
            inside = None
            if peer_state is not None and peer_state.runs_docker and owner:
                inside = _host_side(others, owner, _own(peer_state), used, packet, False)
            if inside is not None:
                source = builder.lifeline(builder.owner(inside.src) or inside.src)
                builder.events.append(
                    Arrow(
                        inside.time,
                        source,
                        owner or peer,
                        packet.protocol,
                        _ep(inside.src, inside.sport),
                        _ep(packet.dst, packet.dport),
                        summary,
                        kind,
                        endpoints=packet.endpoints,
                    )
                )
                indices.append(len(builder.events) - 1)
            elif peer_state is not None and peer_state.runs_docker and packet.protocol in ("tcp", "udp"):
                rules = [r for r in peer_state.dnat if r.protocol == packet.protocol and r.dport == remote_port]
                if not rules:
                    builder.note(
                        packet.time,
                        (peer,),
                        t(
                            "no NAT rule for {protocol} {port}: {host} answers itself",
                            protocol=packet.protocol,
                            port=remote_port,
                            host=peer,
                        ),
                    )
            handed.extend(e for e in packet.endpoints if e not in handed)
            handed_names.extend(n for n in known if n not in handed_names)
            builder.events.append(
                Arrow(
                    packet.time,
                    peer,
                    client,
                    packet.protocol,
                    _ep(packet.src, packet.sport),
                    _ep(packet.dst, packet.dport),
                    summary,
                    kind,
                    endpoints=packet.endpoints,
                )
            )
            indices.append(len(builder.events) - 1)
        last[flow] = (("out" if outbound else "in") + summary, indices)
    order = {"client": 0, "router": 1, "docker_host": 2, "container": 3, "other": 4}
    lifelines = sorted(builder.lifelines.values(), key=lambda lifeline: order[lifeline.role])
    lifelines = [
        replace(lifeline, lines=lifeline.lines + tuple(builder.translations.get(lifeline.key, ())))
        for lifeline in lifelines
    ]
    return Diagram(
        variant,
        client,
        outcome["step"],
        outcome["ok"],
        outcome["error"],
        tuple(lifelines),
        tuple(builder.events),
        outcome.get("trial", 1),
        run.repeat,
    )


def worth_drawing(run: RunDir) -> list[dict]:
    """The outcomes to draw: every failing step, and for each one passing counterpart (the same
    node and step in another variant, else the same step on another node of its variant).

    One outcome per cell (variant, node, step), as the report shows one picture per cell and
    names its files after the cell: with run --repeat, a cell that failed in any trial is drawn
    from its first failing trial, a counterpart from its first passing one."""

    def cell(outcome: dict) -> tuple[str, str, str]:
        return outcome["variant"], outcome["node"], outcome["step"]

    failing: dict[tuple[str, str, str], dict] = {}
    for outcome in run.outcomes:
        if not outcome["ok"]:
            failing.setdefault(cell(outcome), outcome)
    chosen: dict[tuple[str, str, str], dict] = {}
    for outcome in failing.values():
        chosen.setdefault(cell(outcome), outcome)
        candidates = [
            o
            for o in run.outcomes
            if o["ok"]
            and o["step"] == outcome["step"]
            and o["node"] == outcome["node"]
            and o["variant"] != outcome["variant"]
        ] or [
            o
            for o in run.outcomes
            if o["ok"]
            and o["step"] == outcome["step"]
            and o["variant"] == outcome["variant"]
            and o["node"] != outcome["node"]
        ]
        counterpart = next((o for o in candidates if cell(o) not in failing), None)
        if counterpart is not None:
            chosen.setdefault(cell(counterpart), counterpart)
    return list(chosen.values())


def _mermaid_id(key: str) -> str:
    return "p_" + "".join(c if c.isalnum() else "_" for c in key)


MERMAID_ESCAPES = str.maketrans({"#": "#35;", ";": "#59;", "\n": "<br/>"})  # in one pass: '#' makes ';' too


def _mermaid_text(text: str) -> str:
    return text.translate(MERMAID_ESCAPES)


def mermaid(diagram: Diagram) -> str:
    """The diagram as a Mermaid sequenceDiagram (the body of a ```mermaid block)."""
    lines = ["sequenceDiagram", f"    title {_mermaid_text(diagram.title)}"]
    for lifeline in diagram.lifelines:
        label = "<br/>".join([lifeline.title, *lifeline.lines])
        lines.append(f"    participant {_mermaid_id(lifeline.key)} as {_mermaid_text(label)}")
    arrows = {REQUEST: "->>", REPLY: "-->>", REFUSAL: "--x"}
    for event in diagram.events:
        if isinstance(event, Note):
            over = ",".join(_mermaid_id(k) for k in event.over)
            lines.append(f"    Note over {over}: {_mermaid_text(event.text)}")
        else:
            lines.append(
                f"    {_mermaid_id(event.src)}{arrows[event.kind]}{_mermaid_id(event.dst)}: {_mermaid_text(event.label)}"
            )
    return "\n".join(lines) + "\n"


def diagram_name(diagram: Diagram) -> str:
    """The file stem of a diagram's pictures in the run folder."""
    return "sequence-" + "-".join(safe_name(part) for part in (diagram.variant, diagram.node, diagram.step))
