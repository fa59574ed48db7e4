"""Reading the network part of a scenario: subnets, nodes (interfaces, gateway, routes,
hosts entries, DNS, files), unique addresses and captures."""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

from ..errors import Where
from . import model
from .checker import Checker, Subnets, closest, valid_hostname
from .source import SourceList, SourceMap

# used with fullmatch (`$` would match before a trailing newline)
WINDOWS_ROUTE_RE = re.compile(
    r"route\s+(?:-p\s+)?add\s+(\S+)\s+mask\s+(\S+)\s+(\S+)(?:\s+metric\s+[0-9]+)?", re.IGNORECASE
)
LINUX_ROUTE_RE = re.compile(r"(\S+)\s+via\s+(\S+)")
OS_PROFILES = ("linux", "windows")
NODE_KEYS = frozenset({"interfaces", "gateway", "routes", "os", "hosts", "dns", "files"})


def read_subnets(checker: Checker, document: SourceMap) -> dict[str, IPv4Network]:
    """The scenario's subnets by name; none may overlap another."""
    subnets = Subnets()
    subnet_where: dict[str, Where] = {}
    subnets_map = checker.mapping(document, "subnets", "scenario", required=True) or SourceMap(document.where)
    for subnet_name, value in subnets_map.items():
        where = subnets_map.at(subnet_name)
        if checker.name(subnet_name, subnets_map.key_where[subnet_name], "subnet") is None:
            continue
        if isinstance(value, SourceMap):
            checker.keys(value, {"cidr"}, f"subnets.{subnet_name}")
            where, value = value.at("cidr"), value.get("cidr")
        network = checker.network(value, where, f"subnets.{subnet_name}")
        if network is None:
            continue
        for other, other_net in subnets.index.overlapping(network):
            checker.fail(
                where,
                f"subnets.{subnet_name} ({network}) overlaps subnet '{other}' ({other_net}) "
                f"at line {subnet_where[other].line}; subnets must not overlap",
            )
        subnets.add(subnet_name, network)
        subnet_where[subnet_name] = where
    return subnets


def read_interfaces(
    checker: Checker, spec: SourceMap, context: str, subnets: dict[str, IPv4Network]
) -> tuple[model.Interface, ...]:
    """A node's addresses, one per subnet it is on."""
    interfaces = checker.mapping(spec, "interfaces", context, required=True)
    result = []
    for subnet_name, value in (interfaces or {}).items():
        assert interfaces is not None  # (interfaces or {}) has items only when it is the mapping
        where = interfaces.at(subnet_name)
        if subnet_name not in subnets:
            hint = closest(subnet_name, subnets)
            checker.fail(
                interfaces.key_where[subnet_name],
                f"{context}.interfaces: no subnet '{subnet_name}'"
                + (f"; did you mean '{hint}'?" if hint else f"; subnets are: {', '.join(subnets) or 'none'}"),
            )
            continue
        network = subnets[subnet_name]
        text = str(value)
        if "/" in text:
            try:
                interface = IPv4Interface(text)
            except ValueError:
                checker.fail(
                    where,
                    f"{context}.interfaces.{subnet_name}: {text!r} is not an IPv4 address; write it like {network[5]}",
                )
                continue
            if interface.network != network:
                checker.fail(
                    where,
                    f"{context}.interfaces.{subnet_name}: {text} is not in subnet {subnet_name} ({network}); "
                    f"use an address like {network[5]}/{network.prefixlen}",
                )
                continue
        else:
            address = checker.address(text, where, f"{context}.interfaces.{subnet_name}")
            if address is None:
                continue
            interface = IPv4Interface(f"{address}/{network.prefixlen}")
            if address not in network:
                checker.fail(
                    where,
                    f"{context}.interfaces.{subnet_name}: {address} is not in subnet {subnet_name} ({network}); "
                    f"use an address like {network[5]}",
                )
                continue
        if network.prefixlen < 31 and interface.ip in (network.network_address, network.broadcast_address):
            checker.fail(
                where,
                f"{context}.interfaces.{subnet_name}: {interface.ip} is the subnet's network or broadcast address",
            )
            continue
        result.append(model.Interface(subnet_name, interface))
    if interfaces is not None and not interfaces and "interfaces" in spec:
        checker.fail(spec.at("interfaces"), f"{context}.interfaces is empty; give at least one 'subnet: address'")
    return tuple(result)


def read_routes(checker: Checker, spec: SourceMap, context: str, os_profile: str) -> list[tuple[model.Route, Where]]:
    """The node's routes, each with where it was written."""
    if "routes" not in spec or spec["routes"] is None:
        return []
    routes_value = spec["routes"]
    if not isinstance(routes_value, SourceList):
        checker.fail(spec.at("routes"), f"{context}.routes must be a list of routes like '172.19.0.0/16 via 10.0.31.2'")
        return []
    result = []
    for index, item in enumerate(routes_value):
        where = routes_value.at(index)
        if isinstance(item, SourceMap):
            checker.keys(item, {"to", "via"}, f"{context}.routes[{index}]")
            destination = checker.network(item.get("to"), item.at("to"), f"{context}.routes[{index}].to")
            via = checker.address(item.get("via"), item.at("via"), f"{context}.routes[{index}].via")
        elif isinstance(item, str) and (match := LINUX_ROUTE_RE.fullmatch(item.strip())):
            destination = checker.network(match.group(1), where, f"{context}.routes[{index}] destination")
            via = checker.address(match.group(2), where, f"{context}.routes[{index}] gateway")
        elif isinstance(item, str) and (match := WINDOWS_ROUTE_RE.fullmatch(item.strip())):
            if os_profile != "windows":
                checker.fail(
                    where,
                    f"{context}.routes[{index}]: Windows route syntax needs 'os: windows'; "
                    f"on Linux write '{match.group(1)}/<prefix> via {match.group(3)}'",
                )
                continue
            try:
                destination = IPv4Network(f"{match.group(1)}/{match.group(2)}", strict=True)
            except ValueError as exc:
                checker.fail(
                    where,
                    f"{context}.routes[{index}]: destination {match.group(1)} mask {match.group(2)} is not a subnet ({exc})",
                )
                continue
            via = checker.address(match.group(3), where, f"{context}.routes[{index}] gateway")
        else:
            example = (
                "route add 172.19.0.0 mask 255.255.0.0 10.0.31.2"
                if os_profile == "windows"
                else "172.19.0.0/16 via 10.0.31.2"
            )
            checker.fail(where, f"{context}.routes[{index}]: cannot read route {item!r}; write it like '{example}'")
            continue
        if destination is not None and via is not None:
            result.append((model.Route(destination, via), where))
    return result


def read_node_fields(
    checker: Checker, spec: SourceMap, name: str, kind: str, context: str, subnets: dict[str, IPv4Network]
) -> dict:
    """The fields every node kind shares (model.Node's), read from its mapping."""
    os_profile = checker.string(spec, "os", context, default="linux")
    if os_profile not in OS_PROFILES:
        checker.fail(
            spec.at("os"), f"{context}.os {os_profile!r} is not a profile; use one of: {', '.join(OS_PROFILES)}"
        )
        os_profile = "linux"
    interfaces = read_interfaces(checker, spec, context, subnets)
    own = {i.address.ip for i in interfaces}
    connected = {i.address.network for i in interfaces}
    gateway = None
    if spec.get("gateway") is not None:
        gateway = checker.address(spec["gateway"], spec.at("gateway"), f"{context}.gateway")
        if gateway is not None and interfaces and not any(gateway in i.address.network for i in interfaces):
            checker.fail(
                spec.at("gateway"),
                f"{context}.gateway {gateway} is not on any of this node's subnets "
                f"({', '.join(str(i.address.network) for i in interfaces)})",
            )
        elif gateway is not None and gateway in own:
            checker.fail(
                spec.at("gateway"),
                f"{context}.gateway {gateway} is this node's own address; the gateway is a neighbour "
                "(a router's address on the same subnet)",
            )
            gateway = None
    routes = read_routes(checker, spec, context, os_profile)
    destinations: dict[IPv4Network, Where] = {}
    for route, where in routes:
        if interfaces and not any(route.via in i.address.network for i in interfaces):
            checker.fail(
                where,
                f"{context}.routes: gateway {route.via} of {route.destination} is not on any of this "
                "node's subnets; a route's gateway must be a neighbour",
            )
        elif route.via in own:
            checker.fail(
                where,
                f"{context}.routes: gateway {route.via} of {route.destination} is this node's own address; "
                "a route's gateway must be a neighbour",
            )
        elif route.destination in destinations:
            checker.fail(
                where,
                f"{context}.routes: {route.destination} already has a route (line "
                f"{destinations[route.destination].line}); give each destination one route",
            )
        elif route.destination.prefixlen == 0 and spec.get("gateway") is not None:
            checker.fail(
                where,
                f"{context}.routes: {route.destination} is the default route, which 'gateway' already "
                "sets; keep one of them",
            )
        elif route.destination in connected:
            checker.fail(
                where,
                f"{context}.routes: {route.destination} is this node's own subnet, reached directly; remove the route",
            )
        destinations.setdefault(route.destination, where)
    hosts = []
    hosts_map = checker.mapping(spec, "hosts", context) or SourceMap(spec.where)
    for host_name, address in hosts_map.items():
        if not valid_hostname(host_name):
            checker.fail(
                hosts_map.key_where[host_name],
                f"{context}.hosts: {host_name!r} is not a valid host name (letters, digits, '-' and '.', "
                "at most 63 characters between dots and 253 in all)",
            )
            continue
        parsed = checker.address(address, hosts_map.at(host_name), f"{context}.hosts.{host_name}")
        if parsed is not None:
            hosts.append((host_name, parsed))
    dns = []
    for text, where in checker.string_list(spec, "dns", context):
        parsed = checker.address(text, where, f"{context}.dns")
        if parsed is not None:
            dns.append(parsed)
    files = checker.files(spec, context, "node")
    return dict(
        name=name,
        kind=kind,
        interfaces=interfaces,
        gateway=gateway,
        routes=tuple(r for r, _ in routes),
        os=os_profile,
        hosts=tuple(hosts),
        dns=tuple(dns),
        files=files,
    )


def check_unique_addresses(checker: Checker, specs: dict[str, SourceMap], nodes: list[model.Node]) -> None:
    """Every address (interfaces, containers, Docker gateways) belongs to one owner; `specs` are the nodes' mappings."""
    owners: dict[IPv4Address, str] = {}

    def claim(address: IPv4Address, owner: str, where: Where) -> None:
        if address in owners:
            checker.fail(
                where,
                f"address {address} of {owner} is already used by {owners[address]}; every address must be unique",
            )
        else:
            owners[address] = owner

    for node in nodes:
        spec = specs[node.name]
        for interface in node.interfaces:
            claim(interface.address.ip, f"{node.name} ({interface.subnet})", spec["interfaces"].at(interface.subnet))
        if isinstance(node, model.DockerHost):
            for container in node.containers:
                claim(container.ip, f"container {container.name}", spec["containers"][container.name].at("ip"))
            for network in node.networks:
                claim(
                    network.gateway,
                    f"the gateway of Docker network {network.name}",
                    spec["networks"][network.name].where,
                )


def read_captures(checker: Checker, document: SourceMap, deployment: model.Deployment) -> tuple[model.Capture, ...]:
    """Where tcpdump runs: NODE or NODE:SUBNET."""
    captures = []
    nodes = {node.name: node for node in deployment.nodes}
    for text, where in checker.string_list(document, "captures", "scenario"):
        node_name, _, interface = text.partition(":")
        node = nodes.get(node_name)
        if node is None:
            checker.fail(where, f"captures: no node '{node_name}'; write NODE or NODE:SUBNET")
            continue
        if interface and interface not in {i.subnet for i in node.interfaces}:
            checker.fail(where, f"captures: {node_name} has no interface on subnet '{interface}'")
            continue
        captures.append(model.Capture(node_name, interface or "any"))
    return tuple(captures)
