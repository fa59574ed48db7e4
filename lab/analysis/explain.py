"""Explain each outcome from what was observed: packets, hosts files, NAT rules and counters.

Nothing here is written in advance for a scenario: for every cell it finds, in the
client's capture during the step, each address and port the client tried and what came
back; which endpoint strings handed out during the run (any step's output) lead there
through the client's hosts file; and what the Docker host's NAT rules did with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from ..results.record import trial_label
from ..steps.probe import MODULE as PROBE_MODULE
from . import handed
from .messages import N_, joiner, t, width
from .packets import DNS_PORT, ICMP_UNREACHABLE, Packet
from .rundir import DnatRule, NodeState, RunDir, evidence_folder

ENDPOINT_RE = re.compile(r"(?<![\w.-])([A-Za-z0-9][A-Za-z0-9.-]*):(\d{1,5})(?!\d)")
WINDOW_SLACK_S = 0.001  # packet and step times come from the same clock
ICMP_UNREACHABLE_CODES: dict[int | None, str] = {  # looked up with a packet's icmp_code, maybe None
    0: N_("network unreachable"),
    1: N_("host unreachable"),
    3: N_("port unreachable"),
    13: N_("administratively prohibited"),
}


@dataclass
class Attempt:
    """Everything the client sent to one address:port over one transport during a step."""

    protocol: str
    dst: str
    dport: int | None
    sent: int = 0
    answers: list[str] = field(default_factory=list)
    answer_after_ms: float | None = None
    names: list[tuple[str, int]] = field(default_factory=list)
    endpoints: list[str] = field(default_factory=list)
    endpoint_sources: list[str] = field(default_factory=list)
    nat: str = ""
    nat_rule: DnatRule | None = None
    local: bool = False  # to the node itself (loopback or its own address): never left it
    queries: list[str] = field(default_factory=list)  # names asked for, when it is a DNS query
    answered: bool = False  # something came back that works: a SYN-ACK, a UDP reply, an echo reply

    @property
    def lookup(self) -> bool:
        """A DNS query (port 53): a resolver event, not a connection to a server."""
        return self.protocol == "udp" and self.dport == DNS_PORT

    @property
    def target(self) -> str:
        return f"{self.dst}:{self.dport}" if self.dport is not None else self.dst

    @property
    def answer(self) -> str:
        """What came back, in words (several when the attempts were answered differently)."""
        return t("; ").join(dict.fromkeys(self.answers)) or t("silence (no answer captured)")

    @property
    def succeeded(self) -> bool:
        return self.answered

    def lookup_text(self, node: str) -> str:
        """A DNS query in words: which name, through which server, and what came of it."""
        names = joiner().join(self.queries) or t("a name")
        where = t("DNS at {address}", address=self.dst) + (t(" (on {node} itself)", node=node) if self.local else "")
        result = t("answered") if self.succeeded else (t("no server") if self.answers else t("no answer"))
        return t("name {names} looked up through {where}: {result}", names=names, where=where, result=result)


@dataclass
class Explanation:
    """The chain of events behind one outcome."""

    variant: str
    node: str
    step: str
    ok: bool
    met: bool
    expected: str
    error: str
    attempts: list[Attempt]
    note: str = ""
    trial: int = 1  # which replay of the variant
    repeat: int = 1  # of how many (run --repeat)
    unanswered_arp: tuple[str, ...] = ()  # with no IP packet: the addresses the client asked for in vain (ARP)

    @property
    def cell(self) -> str:
        """`variant / node / step`, the variant with its trial (`#2`) in a repeated run."""
        return f"{trial_label(self.variant, self.trial, self.repeat)} / {self.node} / {self.step}"

    def one_line(self) -> str:
        """The chain in one line (for passing cells)."""
        chains = []
        for attempt in self.attempts:
            if attempt.lookup:
                chains.append(attempt.lookup_text(self.node))
                continue
            start = ", ".join(attempt.endpoints[:1]) + " -> " if attempt.endpoints else ""
            via = f" -> {attempt.nat_rule.to}" if attempt.nat_rule else ""
            chains.append(f"{start}{attempt.protocol} {attempt.target}{via}: {attempt.answer}")
        status = t("ok") if self.ok else t("failed ({error})", error=self.error)
        if self.unanswered_arp:
            chains.append(t("ARP for {addresses} unanswered", addresses=", ".join(self.unanswered_arp)))
        return f"{self.cell}: {status} — " + (" | ".join(chains) or self.note or t("no packets captured"))

    def text(self) -> str:
        """The whole chain, one attempt per paragraph, and why it ends as it does."""
        verdict = t("ok") if self.ok else t("FAILED")
        met = t("met") if self.met else t("NOT met")
        lines = [
            f"{self.cell}: "
            + t("{verdict} (expected {expected}: {met})", verdict=verdict, expected=self.expected, met=met)
        ]
        if self.error:
            lines.append("  " + t("the client reported: {error}", error=self.error))
        if self.note:
            lines.append(f"  {self.note}")
        for number, attempt in enumerate(self.attempts, 1):
            if attempt.lookup:
                lines.append(
                    f"  {number}. {attempt.lookup_text(self.node)} "
                    + t("({count} packet(s): {answer})", count=attempt.sent, answer=attempt.answer)
                )
                continue
            sent = (
                t("{count} connection attempt(s)", count=attempt.sent)
                if attempt.protocol == "tcp"
                else t("{count} packet(s)", count=attempt.sent)
            )
            after = (
                t(" after {ms} ms", ms=format(attempt.answer_after_ms, ".1f"))
                if attempt.answer_after_ms is not None
                else ""
            )
            lines.append(f"  {number}. {attempt.protocol} {attempt.target} ({sent}): {attempt.answer}{after}")
            if attempt.endpoints:
                sources = attempt.endpoint_sources
                listed = joiner().join(sources[:2]) + (
                    t(" and {count} more", count=len(sources) - 2) if len(sources) > 2 else ""
                )
                lines.append(
                    "     "
                    + t(
                        "handed endpoint(s): {endpoints} (printed earlier by {sources})",
                        endpoints=", ".join(attempt.endpoints),
                        sources=listed,
                    )
                )
            if attempt.names:
                mapped = joiner().join(
                    t("{name} -> {address} (line {line})", name=name, address=attempt.dst, line=line)
                    for name, line in attempt.names
                )
                lines.append("     " + t("{node}'s /etc/hosts maps {mapped}", node=self.node, mapped=mapped))
            if attempt.nat:
                lines.append(f"     {attempt.nat}")
        lines.append("  " + t("why: {reason}", reason=self.why()))
        return "\n".join(lines)

    def why(self) -> str:
        """The conclusion drawn from the attempts."""
        if self.note:
            return t("the network's part cannot be told without a capture on the client")
        if not self.attempts and self.unanswered_arp and not self.ok:
            return t(
                "the client asked who has {addresses} (ARP) and nobody answered: no host on its subnet has "
                "that address, so no IP packet left the client",
                addresses=", ".join(self.unanswered_arp),
            )
        if not self.attempts:
            return (
                t("no packet of this step was captured on the client; it failed before using the network")
                if not self.ok
                else t("no packet of this step was captured on the client; it needed no network")
            )
        failed = [a for a in self.attempts if not a.succeeded]
        if self.ok:
            return (
                t("every address the client needed answered")
                if not failed
                else t(
                    "the client got what it needed despite {failures}",
                    failures=joiner().join(f"{a.target} ({a.answer})" for a in failed),
                )
            )
        if not failed:
            return t("the network answered every attempt, yet the program reported: {error}", error=self.error)
        reasons = []
        for attempt in failed:
            if attempt.lookup:
                reasons.append(attempt.lookup_text(self.node))
                continue
            reason = t(
                "{protocol} {target} gave {answer}",
                protocol=attempt.protocol,
                target=attempt.target,
                answer=attempt.answer,
            )
            if attempt.endpoints:
                reason = t(
                    "the handed endpoint(s) {endpoints} led to {target}, which gave {answer}",
                    endpoints=", ".join(attempt.endpoints),
                    target=attempt.target,
                    answer=attempt.answer,
                )
            reasons.append(reason)
        worked = [a.target for a in self.attempts if a.succeeded]
        prefix = t("{targets} answered, but ", targets=joiner().join(worked)) if worked else ""
        return prefix + t("{reasons}; so the step failed: {error}", reasons=t("; ").join(reasons), error=self.error)


def port_ranges(ports: set[tuple[int, str]]) -> str:
    """'16030-16042/tcp+udp, 26030/tcp' from a set of (port, protocol)."""
    by_port: dict[int, set[str]] = {}
    for port, protocol in ports:
        by_port.setdefault(port, set()).add(protocol)
    runs: list[list] = []
    for port in sorted(by_port):
        protocols = "+".join(sorted(by_port[port]))
        if runs and runs[-1][1] == port - 1 and runs[-1][2] == protocols:
            runs[-1][1] = port
        else:
            runs.append([port, port, protocols])
    return ", ".join(
        f"{low}-{high}/{protocols}" if low != high else f"{low}/{protocols}" for low, high, protocols in runs
    )


def _client_addresses(state: NodeState) -> set[str]:
    return {str(interface.ip) for interface in state.addresses}


def _owner(states: dict[str, NodeState], address: str) -> str | None:
    for name, state in states.items():
        if address in _client_addresses(state):
            return name
    return None


def _answer(packet: Packet, sent: Packet, states) -> tuple[str, bool]:
    """What `packet` says in answer to `sent`, and whether it is an answer that worked."""
    source = f"{packet.src}:{packet.sport}"
    if packet.protocol == "tcp":
        if "R" in packet.flags:
            return t("refused (RST from {source})", source=source), False
        return t("accepted (SYN-ACK from {source})", source=source), True
    if packet.protocol == "udp":
        if packet.sport == sent.dport:
            return t("reply from {source}", source=source), True
        return t(
            "reply from {source}, from another port than it was sent to ({port})", source=source, port=sent.dport
        ), True
    if packet.protocol == "icmp" and packet.icmp_type == 0:
        return t("echo reply from {source}", source=packet.src), True
    kind = ICMP_UNREACHABLE_CODES.get(packet.icmp_code)
    kind_text = t(kind) if kind else t("code {code}", code=packet.icmp_code)
    owner = _owner(states, packet.src)
    by = f"{owner} ({packet.src})" if owner else packet.src
    return t("ICMP {kind} from {sender}", kind=kind_text, sender=by), False


def _attempts(packets: list[Packet], node: str, own: set[str], start: float, end: float, states) -> list[Attempt]:
    window = [p for p in packets if p.node == node and start <= p.time <= end + WINDOW_SLACK_S]
    attempts: dict[tuple, Attempt] = {}
    sent_packets: dict[tuple, Packet] = {}
    attempt: Attempt | None
    flow: tuple[str, int | None, str, int | None] | None
    for packet in window:
        is_answer = packet.dst in own and (
            (packet.protocol == "tcp" and ("R" in packet.flags or packet.flags == "SA"))
            or (packet.protocol == "udp" and ("udp", packet.src, packet.sport) in attempts)
            or (packet.protocol == "icmp" and packet.icmp_type in (0, ICMP_UNREACHABLE))
        )
        if not is_answer and packet.src in own and not IPv4Address(packet.dst).is_multicast:
            if packet.protocol == "tcp" and packet.flags == "S":
                key = ("tcp", packet.dst, packet.dport)
            elif packet.protocol == "udp":
                key = ("udp", packet.dst, packet.dport)
            elif packet.protocol == "icmp" and packet.icmp_type == 8:
                key = ("icmp", packet.dst, None)
            else:
                continue
            attempt = attempts.setdefault(key, Attempt(key[0], key[1], key[2]))
            attempt.local = packet.dst in own or IPv4Address(packet.dst).is_loopback
            attempt.sent += 1
            if packet.dns_query and packet.dns_query not in attempt.queries:
                attempt.queries.append(packet.dns_query)
            flow = (packet.protocol, packet.sport, packet.dst, packet.dport)
            sent_packets.setdefault(flow, packet)
            continue
        if packet.dst not in own:
            continue
        if packet.protocol in ("tcp", "udp"):
            flow = (packet.protocol, packet.dport, packet.src, packet.sport)
            if packet.protocol == "tcp" and not ("R" in packet.flags or packet.flags == "SA"):
                continue
            key = (packet.protocol, packet.src, packet.sport)
        elif packet.protocol == "icmp" and packet.icmp_type == 0:
            flow, key = None, ("icmp", packet.src, None)
        elif packet.protocol == "icmp" and packet.icmp_type == ICMP_UNREACHABLE and packet.quoted_dst:
            protocol = next((k[0] for k in attempts if k[1:] == (packet.quoted_dst, packet.quoted_dport)), "tcp")
            key = (protocol, packet.quoted_dst, packet.quoted_dport)
            flow = None
        else:
            continue
        attempt = attempts.get(key)
        if attempt is None:
            continue
        sent = (
            sent_packets.get(flow)
            if flow
            else next((p for f, p in sent_packets.items() if (f[0], f[2], f[3]) == key), None)
        )
        answer, worked = _answer(packet, sent or packet, states)
        attempt.answered = attempt.answered or worked
        if answer not in attempt.answers:
            attempt.answers.append(answer)
        if attempt.answer_after_ms is None and sent is not None:
            attempt.answer_after_ms = round((packet.time - sent.time) * 1000, 3)
    return list(attempts.values())


def _nat(attempt: Attempt, states: dict[str, NodeState]) -> None:
    if attempt.local:  # it never left the client: no other node's rules apply
        return
    for name, state in states.items():
        if not state.runs_docker:
            continue
        if attempt.dst in _client_addresses(state):
            rules = [r for r in state.dnat if r.protocol == attempt.protocol and r.dport == attempt.dport]
            if rules:
                rule = rules[0]
                attempt.nat_rule = rule
                attempt.nat = t(
                    "on {host}: NAT rule '{rule}' forwards it to {to} (counter: {count} packet(s) this variant)",
                    host=name,
                    rule=rule.rule,
                    to=rule.to,
                    count=rule.packets,
                )
            elif attempt.protocol in ("tcp", "udp"):
                published = port_ranges({(r.dport, r.protocol) for r in state.dnat}) or t("none")
                attempt.nat = t(
                    "on {host}: no NAT rule for {protocol} port {port} — nothing is published at {target} "
                    "(published: {published}), so {host} itself answered",
                    host=name,
                    protocol=attempt.protocol,
                    port=attempt.dport,
                    target=attempt.target,
                    published=published,
                )
            return
        for network in state.docker_networks:
            if IPv4Address(attempt.dst) in network.subnet:
                attempt.nat = t(
                    "{address} is inside {host}'s Docker network {network} ({subnet}, bridge {bridge}; "
                    "reached only by routing through {host}, no NAT)",
                    address=attempt.dst,
                    host=name,
                    network=network.name,
                    subnet=network.subnet,
                    bridge=network.bridge,
                )
                return


def _endpoints(attempt: Attempt, client: NodeState, outputs: list[tuple[str, str, str]], own_text: str) -> None:
    for output, step, node in outputs if attempt.dport is not None else ():
        for host, port in ENDPOINT_RE.findall(output):
            if int(port) != attempt.dport:
                continue
            resolved = host if host == attempt.dst else (client.resolve(host) or (None,))[0]
            if resolved != attempt.dst:
                continue
            endpoint = f"{host}:{port}"
            if endpoint not in attempt.endpoints:
                attempt.endpoints.append(endpoint)
            source = t("step {step} on {node}", step=step, node=node)
            if source not in attempt.endpoint_sources:
                attempt.endpoint_sources.append(source)
    attempt.names = [
        (name, line)
        for name, line in client.names_for(attempt.dst)
        if any(e.startswith(f"{name}:") for e in attempt.endpoints)
        or re.search(rf"(?<![\w.-]){re.escape(name)}(?![\w.-])", own_text)
    ]


def explain_outcome(run: RunDir, outcome: dict) -> Explanation:
    """The chain of events behind one outcome row of results.json."""
    variant, node = outcome["variant"], outcome["node"]
    folder = evidence_folder(outcome)
    states = run.state(folder)
    explanation = Explanation(
        variant, node, outcome["step"], outcome["ok"], outcome["met"], outcome["expected"], outcome["error"], []
    )
    explanation.trial, explanation.repeat = outcome.get("trial", 1), run.repeat
    client = states.get(node)
    if client is None:
        explanation.note = t("{node} is a container: the lab captures on nodes only", node=node)
        return explanation
    if node not in run.captured_nodes(folder):
        explanation.note = t("no capture on {node}; add it under 'captures' to see its packets", node=node)
        return explanation
    start = outcome["started_at"]
    attempts = _attempts(
        run.packets(folder), node, _client_addresses(client), start, start + outcome["duration_s"], states
    )
    # endpoints are "handed" when a program printed them earlier in this variant (the lab's own probes excepted)
    earlier = [
        (o["output"], o["step"], o["node"])
        for o in run.outcomes
        if evidence_folder(o) == folder and o["started_at"] + o["duration_s"] <= start and PROBE_MODULE not in o["argv"]
    ]
    own_text = " ".join(outcome["argv"]) + "\n" + outcome["output"]
    for attempt in attempts:
        _nat(attempt, states)
        _endpoints(attempt, client, earlier, own_text)
    handed.annotate(run, outcome, client, attempts)  # endpoints written in the replies' bytes
    explanation.attempts = attempts
    if not attempts and not outcome["ok"]:  # nothing left over IP: was the next hop asked for in vain?
        end, own = start + outcome["duration_s"], _client_addresses(client)
        requests = [
            r
            for r in run.arp_requests(folder)
            if r.node == node and r.sender in own and start - WINDOW_SLACK_S <= r.time <= end + WINDOW_SLACK_S
        ]
        explanation.unanswered_arp = tuple(sorted({r.asked for r in requests if not r.answered}))
    return explanation


def explain_run(run: RunDir) -> list[Explanation]:
    """Explanations of every outcome of a run, in order."""
    return [explain_outcome(run, outcome) for outcome in run.outcomes]


def render(explanations: list[Explanation]) -> str:
    """Failures in full, passing cells one line each."""
    failures = [e.text() for e in explanations if not e.ok]
    passes = [e.one_line() for e in explanations if e.ok]
    parts = []
    for title, texts, gap in ((t("Failed steps"), failures, "\n\n"), (t("Passing steps"), passes, "\n")):
        if texts:
            parts.append(f"{title}\n{'=' * width(title)}\n\n" + gap.join(texts))
    return "\n\n".join(parts) + "\n"
