"""Reading a Docker host: its user-defined networks, containers and published ports."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network

from ..errors import Where
from . import model
from .checker import CONTAINER_RE, HOSTNAME_RE, Checker, kind_of
from .source import SourceList, SourceMap

PUBLISH_RE = re.compile(
    r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?P<host>\d+(?:-\d+)?):(?P<cont>\d+(?:-\d+)?)(?:/(?P<proto>[a-z]+))?$"
)
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DOCKER_HOST_KEYS = frozenset({"networks", "containers", "userland_proxy"})
NETWORK_KEYS = {"subnet", "gateway", "bridge"}
CONTAINER_KEYS = {"hostname", "network", "ip", "publish", "environment", "mounts", "command", "files", "ready"}

# The host ports taken on one Docker host: (protocol, host port) -> (host IP or None for all, where, container)
Published = dict[tuple[str, int], tuple[IPv4Address | None, Where, str]]


def expand_publish(text: str) -> list[model.Publish] | str:
    """Expand one `docker run -p` value into single ports, or return why it is wrong."""
    match = PUBLISH_RE.match(text)
    if not match:
        return (
            "write it as docker run -p does, with the host port: "
            "'16030:6030', '16030-16042:6030-6042', '16030:6030/udp' or '10.0.31.2:16030:6030'"
        )
    protocol = match.group("proto") or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        return f"protocol '{protocol}' is not tcp, udp or sctp"

    def span(part: str) -> tuple[int, int]:
        low, _, high = part.partition("-")
        return int(low), int(high or low)

    host_low, host_high = span(match.group("host"))
    cont_low, cont_high = span(match.group("cont"))
    for low, high in ((host_low, host_high), (cont_low, cont_high)):
        if not 1 <= low <= high <= 65535:
            return f"ports must be 1-65535 with the range's start before its end (got {low}-{high})"
    if host_high - host_low != cont_high - cont_low:
        return "the host and container ranges must be equally long"
    host_ip = IPv4Address(match.group("ip")) if match.group("ip") else None
    return [
        model.Publish(host_ip, host_low + offset, cont_low + offset, protocol)
        for offset in range(host_high - host_low + 1)
    ]


def read_docker_networks(
    checker: Checker, spec: SourceMap, context: str, subnets: dict[str, IPv4Network]
) -> tuple[list[model.DockerNetwork], set[str]]:
    """A Docker host's valid user-defined networks (none may overlap a LAN or another network),
    and the names of all it declares."""
    networks: list[model.DockerNetwork] = []
    networks_map = checker.mapping(spec, "networks", context, required=True) or SourceMap(spec.where)
    for net_name, net_spec in networks_map.items():
        net_context = f"{context}.networks.{net_name}"
        checker.name(net_name, networks_map.key_where[net_name], "Docker network", CONTAINER_RE)
        if not isinstance(net_spec, SourceMap):
            checker.fail(networks_map.at(net_name), f"{net_context} must be a mapping with subnet and gateway")
            continue
        checker.keys(net_spec, NETWORK_KEYS, net_context)
        if "subnet" in net_spec:
            subnet = checker.network(net_spec.get("subnet"), net_spec.at("subnet"), f"{net_context}.subnet")
        else:
            checker.fail(net_spec.where, f"{net_context}: 'subnet' is missing; add it, like 172.19.0.0/16")
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
        bridge = checker.string(net_spec, "bridge", net_context, default=f"br-{net_name}"[:15])
        if bridge is not None:
            checker.name(bridge, net_spec.at("bridge"), "bridge")
        if subnet:
            for subnet_name, lan in subnets.items():
                if subnet.overlaps(lan):
                    checker.fail(
                        net_spec.at("subnet"),
                        f"{net_context}.subnet {subnet} overlaps subnet '{subnet_name}' ({lan}); "
                        "pick a range that no LAN uses",
                    )
            for other in networks:
                if subnet.overlaps(other.subnet):
                    checker.fail(
                        net_spec.at("subnet"),
                        f"{net_context}.subnet {subnet} overlaps Docker network '{other.name}' ({other.subnet})",
                    )
        if subnet and gateway and bridge:
            networks.append(model.DockerNetwork(net_name, subnet, gateway, bridge))
    return networks, set(networks_map)


def read_publish(
    checker: Checker, cspec: SourceMap, ccontext: str, cname: str, published: Published
) -> tuple[list[tuple[str, Where]], list[model.Publish]]:
    """A container's `-p` values and the single ports they expand to; a host port may be taken once
    per Docker host (`published` holds those already taken)."""
    publish_texts = checker.string_list(cspec, "publish", ccontext)
    ports = []
    for text, where in publish_texts:
        expanded = expand_publish(text)
        if isinstance(expanded, str):
            checker.fail(where, f"{ccontext}.publish: cannot read {text!r}: {expanded}")
            continue
        for port in expanded:
            key = (port.protocol, port.host_port)
            if key in published:
                other_ip, other_where, other_container = published[key]
                if other_ip is None or port.host_ip is None or other_ip == port.host_ip:
                    checker.fail(
                        where,
                        f"{ccontext}.publish: host port {port.host_port}/{port.protocol} is already published "
                        f"by {other_container} (line {other_where.line}); a host port can be published once",
                    )
                    continue
            published[key] = (port.host_ip, where, cname)
            ports.append(port)
    return publish_texts, ports


def read_container(
    checker: Checker,
    containers_map: SourceMap,
    cname: str,
    context: str,
    host_name: str,
    networks: list[model.DockerNetwork],
    network_names: set[str],
    published: Published,
) -> model.Container | None:
    """One container of a Docker host, or None when it has problems (they are recorded)."""
    cspec = containers_map[cname]
    ccontext = f"{context}.containers.{cname}"
    by_name = {n.name: n for n in networks}
    checker.name(cname, containers_map.key_where[cname], "container", CONTAINER_RE)
    if not isinstance(cspec, SourceMap):
        checker.fail(containers_map.at(cname), f"{ccontext} must be a mapping (network, ip, publish, ...)")
        return None
    checker.keys(cspec, CONTAINER_KEYS, ccontext)
    hostname = checker.string(cspec, "hostname", ccontext, default=cname)
    if "hostname" in cspec and hostname is not None and not HOSTNAME_RE.match(hostname):
        checker.fail(cspec.at("hostname"), f"{ccontext}.hostname {hostname!r} is not a valid host name")
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
    publish_texts, ports = read_publish(checker, cspec, ccontext, cname, published)
    environment = []
    env_map = checker.mapping(cspec, "environment", ccontext) or SourceMap(cspec.where)
    for key, value in env_map.items():
        if not ENV_NAME_RE.match(str(key)):
            checker.fail(env_map.key_where[key], f"{ccontext}.environment: {key!r} is not a variable name")
        elif isinstance(value, (SourceMap, SourceList)):
            checker.fail(env_map.at(key), f"{ccontext}.environment.{key} must be a single value")
        else:
            environment.append((str(key), "" if value is None else str(value)))
    mounts = []
    for text, where in checker.string_list(cspec, "mounts", ccontext):
        parts = text.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] not in ("ro", "rw")):
            checker.fail(where, f"{ccontext}.mounts: {text!r} must be 'SOURCE:TARGET' or 'SOURCE:TARGET:ro'")
            continue
        source = checker.local_path(parts[0], where, f"{ccontext}.mounts source")
        if not parts[1].startswith("/") or ".." in parts[1].split("/"):
            checker.fail(where, f"{ccontext}.mounts: target {parts[1]!r} must be an absolute path without '..'")
            continue
        if source is not None:
            mounts.append(model.Mount(str(source), parts[1], len(parts) == 3 and parts[2] == "ro"))
    command = checker.argv(cspec, "command", ccontext) if "command" in cspec else ()
    files = checker.files(cspec, ccontext)
    ready = None
    if "ready" in cspec:
        match = re.fullmatch(r"tcp:(\d{1,5})", str(cspec["ready"]))
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
    networks, network_names = read_docker_networks(checker, spec, context, subnets)
    containers = []
    published: Published = {}
    containers_map = checker.mapping(spec, "containers", context) or SourceMap(spec.where)
    for cname in containers_map:
        container = read_container(
            checker, containers_map, cname, context, node_fields["name"], networks, network_names, published
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
