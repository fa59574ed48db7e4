"""Reading a Docker host: its user-defined networks, containers and published ports."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from ipaddress import AddressValueError, IPv4Address, IPv4Network

from ..errors import Where
from . import model
from .checker import (
    CONTAINER_RE,
    MOUNT_SEPARATORS,
    Checker,
    NetworkIndex,
    kind_of,
    network_index,
    under,
    valid_hostname,
)
from .source import SourceList, SourceMap

# used with fullmatch (`$` would match before a trailing newline); [0-9], as \d also matches other scripts' digits
PUBLISH_RE = re.compile(
    r"(?:(?P<ip>[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+):)?(?P<host>[0-9]+(?:-[0-9]+)?):(?P<cont>[0-9]+(?:-[0-9]+)?)(?:/(?P<proto>[a-z]+))?"
)
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Docker's own networks, which `docker network create` cannot make again
DOCKER_NETWORKS = frozenset({"bridge", "host", "none"})
# Docker's container names: at least two characters ([a-zA-Z0-9][a-zA-Z0-9_.-]+)
DOCKER_CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,62}")
# single ports a variant's Docker hosts publish in all, ranges expanded (each is NAT rules and a proxy process),
# counted before a range is expanded (Checker.published_ports)
MAX_PUBLISHED_PORTS = 8192
LOOPBACK = IPv4Network("127.0.0.0/8")
ANY = IPv4Address("0.0.0.0")
DOCKER_HOST_KEYS = frozenset({"networks", "containers", "userland_proxy"})
NETWORK_KEYS = {"subnet", "gateway", "bridge"}
CONTAINER_KEYS = {"hostname", "network", "ip", "publish", "environment", "mounts", "command", "files", "ready"}


@dataclass
class HostPorts:
    """What the `-p` values of one Docker host's containers took, so far.

    `taken`: (protocol, host port) -> (host IP or None for all, where, container); `addresses`: the
    Docker host's own addresses, where a port can be published.
    """

    addresses: frozenset[IPv4Address]
    taken: dict[tuple[str, int], tuple[IPv4Address | None, Where, str]] = field(default_factory=dict)


def expand_publish(text: str, limit: int = MAX_PUBLISHED_PORTS) -> list[model.Publish] | str:
    """Expand one `docker run -p` value into single ports (at most `limit`), or return why it is wrong."""
    match = PUBLISH_RE.fullmatch(text)
    if not match:
        return (
            "write it as docker run -p does, with the host port: "
            "'16030:6030', '16030-16042:6030-6042', '16030:6030/udp' or '10.0.31.2:16030:6030'"
        )
    protocol = match.group("proto") or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        return f"protocol '{protocol}' is not tcp, udp or sctp"

    def number(digits: str) -> int:
        return int(digits) if len(digits) <= 6 else 999999  # longer is out of range (and int() has a limit)

    def span(part: str) -> tuple[int, int]:
        low, _, high = part.partition("-")
        return number(low), number(high or low)

    host_low, host_high = span(match.group("host"))
    cont_low, cont_high = span(match.group("cont"))
    for low, high in ((host_low, host_high), (cont_low, cont_high)):
        if not 1 <= low <= high <= 65535:
            return f"ports must be 1-65535 with the range's start before its end (got {low}-{high})"
    if host_high - host_low != cont_high - cont_low:
        return "the host and container ranges must be equally long"
    if host_high - host_low + 1 > limit:
        return (
            f"the Docker hosts of a variant publish at most {MAX_PUBLISHED_PORTS} ports in all (each is NAT "
            "rules and a proxy process); publish fewer"
        )
    try:
        host_ip = IPv4Address(match.group("ip")) if match.group("ip") else None
    except AddressValueError as exc:
        return f"{match.group('ip')} is not an IPv4 address ({exc}); write it like 10.0.31.2"
    return [
        model.Publish(host_ip, host_low + offset, cont_low + offset, protocol)
        for offset in range(host_high - host_low + 1)
    ]


def read_docker_networks(
    checker: Checker,
    spec: SourceMap,
    context: str,
    subnets: dict[str, IPv4Network],
    node_fields: dict,
) -> tuple[list[model.DockerNetwork], set[str]]:
    """A Docker host's valid user-defined networks (none may overlap a LAN or another network),
    and the names of all it declares."""
    networks: list[model.DockerNetwork] = []
    networks_map = checker.mapping(spec, "networks", context, required=True) or SourceMap(spec.where)
    interface_names = {i.subnet for i in node_fields["interfaces"]}
    routes: tuple[model.Route, ...] = node_fields["routes"]
    bridges: dict[str, str] = {}
    lans = network_index(subnets)
    own = NetworkIndex()  # this host's valid networks so far
    for net_name, net_spec in networks_map.items():
        net_context = f"{context}.networks.{net_name}"
        checker.name(net_name, networks_map.key_where[net_name], "Docker network", CONTAINER_RE, DOCKER_NETWORKS)
        if not isinstance(net_spec, SourceMap):
            checker.fail(networks_map.at(net_name), f"{net_context} must be a mapping with subnet and gateway")
            continue
        checker.keys(net_spec, NETWORK_KEYS, net_context)
        if "subnet" in net_spec:
            subnet = checker.network(net_spec.get("subnet"), net_spec.at("subnet"), f"{net_context}.subnet")
        else:
            checker.fail(net_spec.where, f"{net_context}: 'subnet' is missing; add it, like 172.19.0.0/16")
            subnet = None
        if subnet is not None and subnet.prefixlen > 30:
            checker.fail(
                net_spec.at("subnet"),
                f"{net_context}.subnet {subnet} is too small for a gateway and a container; use /30 or larger, "
                "like 172.19.0.0/24",
            )
            subnet = None
        gateway = (
            checker.address(net_spec["gateway"], net_spec.at("gateway"), f"{net_context}.gateway")
            if "gateway" in net_spec
            else (subnet[1] if subnet else None)
        )
        if subnet and gateway and gateway not in subnet:
            checker.fail(
                net_spec.at("gateway"), f"{net_context}.gateway {gateway} is not in {subnet}; use e.g. {subnet[1]}"
            )
        elif subnet and gateway in (subnet.network_address, subnet.broadcast_address):
            checker.fail(
                net_spec.at("gateway"),
                f"{net_context}.gateway {gateway} is the network's own (network or broadcast) address; "
                f"use e.g. {subnet[1]}",
            )
            gateway = None
        bridge = checker.string(net_spec, "bridge", net_context, default=f"br-{net_name}"[:15])
        if bridge is not None:
            bridge = checker.name(bridge, net_spec.at("bridge"), "bridge")
        if bridge is not None:
            if bridge in interface_names:
                checker.fail(
                    net_spec.at("bridge"),
                    f"{net_context}: bridge {bridge!r} has the name of this host's interface on subnet "
                    f"{bridge}; give the network another 'bridge' name",
                )
                bridge = None
            elif bridge in bridges:
                checker.fail(
                    net_spec.at("bridge"),
                    f"{net_context}: bridge {bridge!r} is also the bridge of Docker network "
                    f"'{bridges[bridge]}' (names are cut to 15 characters); give one of them a 'bridge' name",
                )
                bridge = None
            else:
                bridges[bridge] = str(net_name)
        if subnet:
            for subnet_name, lan in lans.overlapping(subnet):
                checker.fail(
                    net_spec.at("subnet"),
                    f"{net_context}.subnet {subnet} overlaps subnet '{subnet_name}' ({lan}); "
                    "pick a range that no LAN uses",
                )
            for other_name, other_subnet in own.overlapping(subnet):
                checker.fail(
                    net_spec.at("subnet"),
                    f"{net_context}.subnet {subnet} overlaps Docker network '{other_name}' ({other_subnet})",
                )
            for route in routes:
                if route.destination.prefixlen and route.destination.subnet_of(subnet):
                    checker.fail(
                        net_spec.at("subnet"),
                        f"{net_context}.subnet {subnet} holds {route.destination}, which this host routes via "
                        f"{route.via}: its containers would be unreachable; remove the route or pick another range",
                    )
        if subnet and gateway and bridge:
            networks.append(model.DockerNetwork(net_name, subnet, gateway, bridge))
            own.add(net_name, subnet)
    return networks, set(networks_map)


def read_publish(
    checker: Checker, cspec: SourceMap, ccontext: str, cname: str, ports_of_host: HostPorts
) -> tuple[list[tuple[str, Where]], list[model.Publish]]:
    """A container's `-p` values and the single ports they expand to; a host port may be taken once
    per Docker host, on an address the host has (`ports_of_host` holds those already taken)."""
    publish_texts = checker.string_list(cspec, "publish", ccontext)
    ports = []
    taken = ports_of_host.taken
    for text, where in publish_texts:
        expanded = expand_publish(text, MAX_PUBLISHED_PORTS - checker.published_ports)
        if isinstance(expanded, str):
            checker.fail(where, f"{ccontext}.publish: cannot read {text!r}: {expanded}")
            continue
        checker.published_ports += len(expanded)  # refused ones too: the bound is on the work done
        host_ip = expanded[0].host_ip
        if (
            host_ip is not None
            and host_ip != ANY
            and host_ip not in LOOPBACK
            and host_ip not in ports_of_host.addresses
        ):
            checker.fail(
                where,
                f"{ccontext}.publish: {text!r} publishes on {host_ip}, which this Docker host does not have; use "
                f"one of its addresses ({', '.join(str(a) for a in sorted(ports_of_host.addresses)) or 'none'}), "
                "0.0.0.0 for all, or leave the address out",
            )
            continue
        for port in expanded:
            key = (port.protocol, port.host_port)
            here = None if port.host_ip == ANY else port.host_ip
            if key in taken:
                other_ip, other_where, other_container = taken[key]
                if other_ip is None or here is None or other_ip == here:
                    checker.fail(
                        where,
                        f"{ccontext}.publish: host port {port.host_port}/{port.protocol} is already published "
                        f"by {other_container} (line {other_where.line}); a host port can be published once",
                    )
                    continue
            taken[key] = (here, where, cname)
            ports.append(port)
    return publish_texts, ports


def read_mounts(checker: Checker, cspec: SourceMap, ccontext: str) -> list[tuple[model.Mount, str]]:
    """A container's bind mounts, each with its source as written: sources inside the scenario's
    folder, targets where a container may have them."""
    mounts: list[tuple[model.Mount, str]] = []
    targets: dict[str, Where] = {}
    for text, where in checker.string_list(cspec, "mounts", ccontext):
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            checker.fail(where, f"{ccontext}.mounts: {text!r} must be 'SOURCE:TARGET' or 'SOURCE:TARGET:ro'")
            continue
        source = checker.local_path(parts[0], where, f"{ccontext}.mounts source")
        if source is not None and set(str(source)) & set(MOUNT_SEPARATORS):
            checker.fail(
                where,
                f"{ccontext}.mounts: source {str(source)!r} has one of {MOUNT_SEPARATORS!r} in its path, which "
                "docker's --mount option reads as a separator; rename the folder",
            )
            source = None
        target = checker.container_path(parts[1], where, f"{ccontext}.mounts: target")
        if target is not None and set(target) & set(MOUNT_SEPARATORS):
            checker.fail(
                where,
                f"{ccontext}.mounts: target {target!r} has one of {MOUNT_SEPARATORS!r}, which docker's --mount "
                "option reads as a separator; rename it",
            )
            target = None
        if target is not None and target in targets:
            checker.fail(
                where,
                f"{ccontext}.mounts: target {target} is already mounted (line {targets[target].line}); "
                "mount one folder at each target",
            )
            target = None
        if source is not None and target is not None:
            targets[target] = where
            mounts.append((model.Mount(str(source), target, len(parts) == 3 and parts[2] == "ro"), parts[0]))
    return mounts


def read_container(
    checker: Checker,
    containers_map: SourceMap,
    cname: str,
    context: str,
    host_name: str,
    networks: list[model.DockerNetwork],
    network_names: set[str],
    ports_of_host: HostPorts,
) -> model.Container | None:
    """One container of a Docker host, or None when it has problems (they are recorded)."""
    cspec = containers_map[cname]
    ccontext = f"{context}.containers.{cname}"
    by_name = {n.name: n for n in networks}
    if checker.name(cname, containers_map.key_where[cname], "container", CONTAINER_RE) is not None:
        if not DOCKER_CONTAINER_RE.fullmatch(cname):
            checker.fail(
                containers_map.key_where[cname],
                f"container name {cname!r} is too short: Docker wants at least 2 characters",
            )
    if not isinstance(cspec, SourceMap):
        checker.fail(containers_map.at(cname), f"{ccontext} must be a mapping (network, ip, publish, ...)")
        return None
    checker.keys(cspec, CONTAINER_KEYS, ccontext)
    hostname = checker.string(cspec, "hostname", ccontext, default=cname)
    if "hostname" in cspec and hostname is not None and not valid_hostname(hostname):
        checker.fail(
            cspec.at("hostname"),
            f"{ccontext}.hostname {hostname!r} is not a valid host name (letters, digits, '-' and '.', "
            "at most 63 characters between dots and 253 in all)",
        )
    net_name = checker.string(cspec, "network", ccontext, required=True)
    network = by_name.get(net_name) if net_name is not None else None
    if net_name is not None and network is None and net_name in network_names:
        return None  # the network itself is broken and already reported
    if net_name is not None and network is None:
        checker.fail(
            cspec.at("network"),
            f"{ccontext}.network: no Docker network '{net_name}' on {host_name}; "
            f"networks are: {', '.join(by_name) or 'none'}",
        )
        return None
    if "ip" in cspec:
        ip = checker.address(cspec["ip"], cspec.at("ip"), f"{ccontext}.ip")
    else:
        checker.fail(
            cspec.where,
            f"{ccontext}: 'ip' is missing; give the container a static address in {network.subnet if network else 'its network'}",
        )
        ip = None
    if ip is not None and network is not None:
        if ip not in network.subnet:
            checker.fail(cspec.at("ip"), f"{ccontext}.ip {ip} is not in network {network.name} ({network.subnet})")
        elif ip == network.gateway:
            checker.fail(cspec.at("ip"), f"{ccontext}.ip {ip} is the network's gateway; use another address")
        elif ip in (network.subnet.network_address, network.subnet.broadcast_address):
            which = "network" if ip == network.subnet.network_address else "broadcast"
            checker.fail(
                cspec.at("ip"),
                f"{ccontext}.ip {ip} is the {which} address of {network.name} ({network.subnet}); "
                "use an address between them",
            )
    publish_texts, ports = read_publish(checker, cspec, ccontext, cname, ports_of_host)
    environment = []
    env_map = checker.mapping(cspec, "environment", ccontext) or SourceMap(cspec.where)
    for key, value in env_map.items():
        if not ENV_NAME_RE.fullmatch(str(key)):
            checker.fail(env_map.key_where[key], f"{ccontext}.environment: {key!r} is not a variable name")
        elif isinstance(value, (SourceMap, SourceList)):
            checker.fail(env_map.at(key), f"{ccontext}.environment.{key} must be a single value")
        else:
            environment.append((str(key), "" if value is None else str(value)))
    mounts_read = read_mounts(checker, cspec, ccontext)
    mounts = [mount for mount, _ in mounts_read]
    command = checker.argv(cspec, "command", ccontext) if "command" in cspec else ()
    files = checker.files(cspec, ccontext, "container")
    for file in files:
        mounted = next(((m, text) for m, text in mounts_read if under(file.path, m.target)), None)
        if mounted is not None:
            checker.fail(
                cspec["files"].key_where[file.path],
                f"{ccontext}.files: {file.path} is inside the mount at {mounted[0].target}, so it would be written "
                f"into {mounted[1]!r} beside the scenario on the lab machine; put the file in that folder, or "
                "outside the mount",
            )
    ready = None
    if "ready" in cspec:
        match = re.fullmatch(r"tcp:([0-9]{1,5})", str(cspec["ready"]))
        if not match or not 1 <= int(match.group(1)) <= 65535:
            checker.fail(
                cspec.at("ready"),
                f"{ccontext}.ready {cspec['ready']!r} must be 'tcp:PORT', the container "
                "port that accepts connections once its service is up, like tcp:6030",
            )
        else:
            ready = ("tcp", int(match.group(1)))
    if hostname is None or network is None or ip is None or command is None:
        return None
    return model.Container(
        name=cname,
        docker_host=host_name,
        hostname=hostname,
        network=network.name,
        ip=ip,
        publish=tuple(text for text, _ in publish_texts),
        ports=tuple(ports),
        environment=tuple(environment),
        mounts=tuple(mounts),
        command=command,
        files=files,
        ready=ready,
    )


def read_docker_host(
    checker: Checker, spec: SourceMap, context: str, subnets: dict[str, IPv4Network], node_fields: dict
) -> model.DockerHost:
    """A Docker host node: the shared node fields plus its networks, containers and dockerd options."""
    networks, network_names = read_docker_networks(checker, spec, context, subnets, node_fields)
    containers = []
    ports_of_host = HostPorts(frozenset(i.address.ip for i in node_fields["interfaces"]))
    containers_map = checker.mapping(spec, "containers", context) or SourceMap(spec.where)
    for cname in containers_map:
        container = read_container(
            checker, containers_map, cname, context, node_fields["name"], networks, network_names, ports_of_host
        )
        if container is not None:
            containers.append(container)
    userland_proxy = spec.get("userland_proxy", True)
    if not isinstance(userland_proxy, bool):
        checker.fail(
            spec.at("userland_proxy"),
            f"{context}.userland_proxy must be true or false (dockerd's "
            f"--userland-proxy; Docker's default is true), not {kind_of(userland_proxy)}",
        )
        userland_proxy = True
    return model.DockerHost(
        **node_fields, networks=tuple(networks), containers=tuple(containers), userland_proxy=userland_proxy
    )
