"""The scenario as plain typed data: what a loaded, validated scenario file says.

Nothing here touches the machine; the deployment layer (lab/deploy) consumes these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network


@dataclass(frozen=True)
class Subnet:
    """A LAN segment: one Linux bridge joining the nodes that have an address on it."""

    name: str
    network: IPv4Network


@dataclass(frozen=True)
class Interface:
    """A node's attachment to a subnet with one address."""

    subnet: str
    address: IPv4Interface


@dataclass(frozen=True)
class Route:
    """A static route: `destination` reached through the gateway `via`."""

    destination: IPv4Network
    via: IPv4Address


@dataclass(frozen=True)
class FileSpec:
    """A file the lab writes into a node or container before anything runs there."""

    path: str
    content: str
    mode: int = 0o644
    source: str = ""  # for `from:` files, the file it was read from, relative to the scenario's folder


@dataclass(frozen=True)
class Node:
    """A machine on the emulated network: a host, a router or a Docker host.

    `os` is `linux` or `windows`; the windows profile changes what shows on the wire
    (initial TTL 128, 2 SYN retransmissions).
    """

    name: str
    kind: str
    interfaces: tuple[Interface, ...]
    gateway: IPv4Address | None = None
    routes: tuple[Route, ...] = ()
    os: str = "linux"
    hosts: tuple[tuple[str, IPv4Address], ...] = ()
    dns: tuple[IPv4Address, ...] = ()
    files: tuple[FileSpec, ...] = ()


@dataclass(frozen=True)
class DockerNetwork:
    """A user-defined Docker bridge network on a Docker host."""

    name: str
    subnet: IPv4Network
    gateway: IPv4Address
    bridge: str


@dataclass(frozen=True)
class Publish:
    """One published port, as one item of a `docker run -p` range expands to."""

    host_ip: IPv4Address | None
    host_port: int
    container_port: int
    protocol: str


@dataclass(frozen=True)
class Mount:
    """A bind mount into a container."""

    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Container:
    """A container on a Docker host; `publish` keeps the user's `-p` strings for the CLI."""

    name: str
    docker_host: str
    hostname: str
    network: str
    ip: IPv4Address
    publish: tuple[str, ...] = ()
    ports: tuple[Publish, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    mounts: tuple[Mount, ...] = ()
    command: tuple[str, ...] = ()
    files: tuple[FileSpec, ...] = ()
    ready: tuple[str, int] | None = None  # (protocol, port) that accepts once the service is up


@dataclass(frozen=True)
class DockerHost(Node):
    """A node that runs its own Docker Engine, with its networks and containers.

    `userland_proxy` is dockerd's --userland-proxy (Docker's default: on, one docker-proxy
    process per published port, protocol and address family; off: iptables NAT only).
    """

    networks: tuple[DockerNetwork, ...] = ()
    containers: tuple[Container, ...] = ()
    userland_proxy: bool = True


@dataclass(frozen=True)
class SoftwareChoice:
    """Which build of a software (lab/software) the nodes and containers use; `home` is the
    folder of the `home` mode (an absolute path on the lab machine)."""

    name: str
    mode: str
    home: str = ""


@dataclass(frozen=True)
class Deployment:
    """Everything that is built before the steps run."""

    subnets: tuple[Subnet, ...]
    nodes: tuple[Node, ...]
    software: tuple[SoftwareChoice, ...] = ()

    def node(self, name: str) -> Node:
        """The node called `name`."""
        return next(node for node in self.nodes if node.name == name)

    @property
    def docker_hosts(self) -> tuple[DockerHost, ...]:
        """The nodes that run a Docker Engine."""
        return tuple(node for node in self.nodes if isinstance(node, DockerHost))

    @property
    def containers(self) -> tuple[Container, ...]:
        """All containers of all Docker hosts."""
        return tuple(c for host in self.docker_hosts for c in host.containers)


@dataclass(frozen=True)
class Action:
    """What a step does: `run` a command (argv), `python` a program with the lab's own interpreter (argv:
    the interpreter's arguments, e.g. a script and its arguments), or a built-in probe (`ping`, `tcp`, `udp`)."""

    kind: str
    argv: tuple[str, ...] = ()
    host: str = ""
    port: int = 0


@dataclass(frozen=True)
class SuccessRule:
    """How a step's success is judged from what it printed and its exit status."""

    exit_code: int | None = 0
    output_contains: tuple[str, ...] = ()
    output_lacks: tuple[str, ...] = ()
    output_count: tuple[tuple[str, int], ...] = ()  # (text, at least how many times)


@dataclass(frozen=True)
class Until:
    """Repeat a step until its output holds `text` at least `times` times (or timeout)."""

    text: str
    times: int = 1
    interval_s: float = 0.5


@dataclass(frozen=True)
class Step:
    """An action run on each of the nodes (or containers) in `on`, in order."""

    name: str
    on: tuple[str, ...]
    action: Action
    timeout_s: float = 10.0
    success: SuccessRule = field(default_factory=SuccessRule)
    until: Until | None = None
    description: str = ""


@dataclass(frozen=True)
class Expectation:
    """What should happen: success, or failure with a text the output must contain."""

    ok: bool = True
    contains: str = ""

    def __str__(self) -> str:
        if self.ok:
            return "ok"
        return f"fail: {self.contains}" if self.contains else "fail"


@dataclass(frozen=True)
class Capture:
    """A packet capture on one interface of a node (tcpdump in that node)."""

    node: str
    interface: str = "any"


@dataclass(frozen=True)
class Axis:
    """One axis of a scenario's matrix: its name and its values' names, in the file's order."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Variant:
    """One named configuration: its own deployment, steps and expectations.

    A variant of a matrix has its `coordinates` (axis, value), one per axis, and is named after them.
    """

    name: str
    description: str
    deployment: Deployment
    steps: tuple[Step, ...]
    expectations: tuple[tuple[str, str, Expectation], ...]
    captures: tuple[Capture, ...] = ()
    coordinates: tuple[tuple[str, str], ...] = ()

    def expectation(self, node: str, step: str) -> Expectation:
        """The expectation for `step` on `node`; success where nothing is said."""
        for exp_node, exp_step, expectation in self.expectations:
            if exp_node == node and exp_step == step:
                return expectation
        return Expectation()


@dataclass(frozen=True)
class Scenario:
    """A validated scenario file: its identity and one entry per variant."""

    name: str
    description: str
    path: str
    sha256: str
    variants: tuple[Variant, ...]
    axes: tuple[Axis, ...] = ()  # the matrix's axes; () for a scenario without a matrix
