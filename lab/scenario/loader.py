"""Scenario file -> validated model. Every mistake is reported with file, line and column.

Loading never touches the machine: it reads the scenario file (and files it refers to
with `from:`), checks everything, and returns plain data or raises ScenarioInvalid with
all the problems found.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import re
import shlex
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, ip_address, ip_network
from pathlib import Path

from . import model
from .source import SourceError, SourceList, SourceMap, Where, load_yaml, merge

# Names of kernel objects (bridges, interfaces) are limited to 15 characters.
IFNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,14}$")
CONTAINER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VAR_REF_RE = re.compile(r"\$\{([^}]*)\}")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
WINDOWS_ROUTE_RE = re.compile(
    r"^route\s+(?:-p\s+)?add\s+(\S+)\s+mask\s+(\S+)\s+(\S+)(?:\s+metric\s+\d+)?$", re.IGNORECASE
)
LINUX_ROUTE_RE = re.compile(r"^(\S+)\s+via\s+(\S+)$")
PUBLISH_RE = re.compile(
    r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+):)?(?P<host>\d+(?:-\d+)?):(?P<cont>\d+(?:-\d+)?)(?:/(?P<proto>[a-z]+))?$"
)

KNOWN_SOFTWARE = {"tdengine": ("emulated", "installed")}
OS_PROFILES = ("linux", "windows")
PROBES = ("ping", "tcp", "udp")
MAX_TIMEOUT_S = 3600
MAX_FILE_BYTES = 1 << 20

TOP_KEYS = {"name", "description", "software", "vars", "subnets", "routers", "hosts",
            "docker_hosts", "steps", "expect", "captures", "variants"}
NODE_KEYS = {"interfaces", "gateway", "routes", "os", "hosts", "dns", "files"}
ROUTER_KEYS = {"interfaces", "gateway", "routes"}
DOCKER_HOST_KEYS = NODE_KEYS | {"networks", "containers", "userland_proxy"}
NETWORK_KEYS = {"subnet", "gateway", "bridge"}
CONTAINER_KEYS = {"hostname", "network", "ip", "publish", "environment", "mounts", "command", "files", "ready"}
STEP_KEYS = {"name", "on", "run", "ping", "tcp", "udp", "timeout", "success", "until", "description"}
SUCCESS_KEYS = {"exit_code", "output_contains", "output_lacks", "output_count"}
UNTIL_KEYS = {"text", "times", "interval"}
EXPECT_KEYS = {"variant", "node", "step", "ok", "fail"}
VARIANT_KEYS = {"description", "set"}
FILE_KEYS = {"content", "from", "mode"}


class ScenarioInvalid(Exception):
    """The scenario has problems; `errors` lists them, each with its position."""

    def __init__(self, errors: list[SourceError]):
        self.errors = sorted(errors, key=lambda e: (e.where.file, e.where.line, e.where.column))
        super().__init__("\n".join(str(e) for e in self.errors))


class _Checker:
    """Collects problems while reading; `fail` records one and returns None."""

    def __init__(self, base_dir: Path):
        self.errors: list[SourceError] = []
        self.base_dir = base_dir

    def fail(self, where: Where, message: str):
        if not any(e.where == where and e.message == message for e in self.errors):
            self.errors.append(SourceError(where, message))
        return None

    # -- shapes -------------------------------------------------------------------
    def mapping(self, parent, key, context: str, required=False) -> SourceMap | None:
        if key not in parent:
            if required:
                self.fail(parent.where, f"{context}: '{key}' is missing; add it")
            return SourceMap(parent.where)
        value = parent[key]
        if value is None:
            return SourceMap(parent.at(key))
        if not isinstance(value, SourceMap):
            return self.fail(parent.at(key), f"{context}.{key} must be a mapping (name: value lines), not {_kind(value)}")
        return value

    def keys(self, mapping: SourceMap, allowed: set[str], context: str) -> None:
        for key in mapping:
            if key not in allowed:
                hint = _closest(key, allowed)
                suggestion = f"did you mean '{hint}'?" if hint else "allowed: " + ", ".join(sorted(allowed))
                self.fail(mapping.key_where[key], f"{context}: unknown key '{key}'; {suggestion}")

    def string(self, parent, key, context: str, required=False, default="") -> str | None:
        if key not in parent:
            if required:
                self.fail(parent.where, f"{context}: '{key}' is missing; add it")
                return None
            return default
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return self.fail(parent.at(key), f"{context}.{key} must be text, not {_kind(value)}")
        return str(value)

    def number(self, parent, key, context, default, low, high, integer=False):
        if key not in parent:
            return default
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "a whole number" if integer else "a number"
            return self.fail(parent.at(key), f"{context}.{key} must be {kind} between {low} and {high}, not {value!r}")
        if not low <= value <= high:
            return self.fail(parent.at(key), f"{context}.{key} is {value}; use a value between {low} and {high}")
        return value

    def name(self, value, where: Where, what: str, pattern=IFNAME_RE) -> str | None:
        if not isinstance(value, str) or not pattern.match(value):
            rule = ("1-15 characters: letters, digits, '-' or '_', starting with a letter "
                    "(it becomes a kernel interface or bridge name)") if pattern is IFNAME_RE else \
                   "letters, digits, '-', '_' or '.', starting with a letter or digit, at most 63 characters"
            return self.fail(where, f"{what} name {value!r} is not usable: {rule}")
        return value

    def address(self, value, where: Where, what: str) -> IPv4Address | None:
        try:
            address = ip_address(str(value))
        except ValueError:
            return self.fail(where, f"{what} {value!r} is not an IPv4 address; write it like 10.0.31.5")
        if address.version != 4:
            return self.fail(where, f"{what} {value!r} is IPv6; the lab handles IPv4 only")
        return address

    def network(self, value, where: Where, what: str) -> IPv4Network | None:
        try:
            network = ip_network(str(value), strict=True)
        except ValueError as exc:
            try:
                loose = ip_network(str(value), strict=False)
                return self.fail(where, f"{what} {value!r} has host bits set; did you mean {loose}?")
            except ValueError:
                return self.fail(where, f"{what} {value!r} is not a subnet ({exc}); write it like 10.0.31.0/24")
        if network.version != 4:
            return self.fail(where, f"{what} {value!r} is IPv6; the lab handles IPv4 only")
        return network

    def string_list(self, parent, key, context) -> list[tuple[str, Where]]:
        if key not in parent:
            return []
        value = parent[key]
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return [(str(value), parent.at(key))]
        if not isinstance(value, SourceList):
            self.fail(parent.at(key), f"{context}.{key} must be text or a list of texts, not {_kind(value)}")
            return []
        items = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                self.fail(value.at(index), f"{context}.{key}[{index}] must be text, not {_kind(item)}")
            else:
                items.append((str(item), value.at(index)))
        return items

    def argv(self, parent, key, context) -> tuple[str, ...] | None:
        """A command: a list of arguments, or a text split like a shell would (never run by one)."""
        value = parent[key]
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                return self.fail(parent.at(key), f"{context}.{key}: cannot split {value!r} into arguments ({exc}); "
                                                 "write the command as a list")
        else:
            errors_before = len(self.errors)
            argv = [item for item, _ in self.string_list(parent, key, context)]
            if len(self.errors) > errors_before:
                return None
        if not argv:
            return self.fail(parent.at(key), f"{context}.{key} is empty; give the program and its arguments")
        if any("\0" in arg for arg in argv):
            return self.fail(parent.at(key), f"{context}.{key}: arguments cannot contain NUL bytes")
        return tuple(argv)

    def files(self, parent, context: str) -> tuple[model.FileSpec, ...]:
        files = self.mapping(parent, "files", context)
        result = []
        for path, value in (files or {}).items():
            where = files.key_where[path]
            if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/") or "\0" in path:
                self.fail(where, f"{context}.files: {path!r} must be an absolute path without '..', like /etc/taos/taos.cfg")
                continue
            mode, source = 0o644, ""
            if isinstance(value, SourceMap):
                self.keys(value, FILE_KEYS, f"{context}.files.{path}")
                if ("content" in value) == ("from" in value):
                    self.fail(value.where, f"{context}.files.{path}: give exactly one of 'content' or 'from'")
                    continue
                if "from" in value:
                    content, source = self.read_local(value, "from", f"{context}.files.{path}")
                else:
                    content = self.string(value, "content", f"{context}.files.{path}")
                mode_text = self.string(value, "mode", f"{context}.files.{path}", default="644")
                if mode_text is not None:
                    if not re.fullmatch(r"0?[0-7]{3}", str(mode_text)):
                        self.fail(value.at("mode"), f"{context}.files.{path}.mode {mode_text!r} is not an octal mode like 644 or 755")
                    else:
                        mode = int(str(mode_text), 8)
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                content = str(value)
            else:
                self.fail(files.at(path), f"{context}.files.{path} must be the file's text, or a mapping with 'content' or 'from'")
                continue
            if content is not None:
                if len(content.encode()) > MAX_FILE_BYTES:
                    self.fail(files.at(path), f"{context}.files.{path} is larger than {MAX_FILE_BYTES} bytes; keep lab files small")
                else:
                    result.append(model.FileSpec(path, content, mode, source))
        return tuple(result)

    def local_path(self, value, where: Where, what: str) -> Path | None:
        """A path relative to the scenario's folder that stays inside it."""
        if not isinstance(value, str) or not value or value.startswith("/") or "\0" in value:
            return self.fail(where, f"{what} {value!r} must be a path relative to the scenario's folder")
        resolved = (self.base_dir / value).resolve()
        if not resolved.is_relative_to(self.base_dir.resolve()):
            return self.fail(where, f"{what} {value!r} leads outside the scenario's folder; keep files beside the scenario")
        if not resolved.exists():
            return self.fail(where, f"{what} {value!r} does not exist (looked at {self.base_dir / value})")
        return resolved

    def read_local(self, parent, key, context) -> tuple[str | None, str]:
        """The text of a file beside the scenario, and its path relative to the scenario's folder."""
        path = self.local_path(parent[key], parent.at(key), f"{context}.{key}")
        if path is None:
            return None, ""
        source = path.relative_to(self.base_dir.resolve()).as_posix()
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            return self.fail(parent.at(key), f"{context}.{key}: {path} is not a regular file of at most {MAX_FILE_BYTES} bytes"), source
        try:
            return path.read_text(), source
        except (OSError, UnicodeDecodeError) as exc:
            return self.fail(parent.at(key), f"{context}.{key}: cannot read {path} as text ({exc})"), source


def _kind(value) -> str:
    if isinstance(value, SourceMap):
        return "a mapping"
    if isinstance(value, SourceList):
        return "a list"
    if value is None:
        return "empty"
    return f"{type(value).__name__} {value!r}"


def _closest(word: str, choices) -> str | None:
    matches = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def _substitute(node, variables: dict, checker: _Checker, where: Where):
    """Replace ${name} in every text; a text that is only ${name} takes the value's type."""
    if isinstance(node, SourceMap):
        for key in list(node):
            node[key] = _substitute(node[key], variables, checker, node.at(key))
        return node
    if isinstance(node, SourceList):
        for index in range(len(node)):
            node[index] = _substitute(node[index], variables, checker, node.at(index))
        return node
    if not isinstance(node, str) or "${" not in node:
        return node
    whole = VAR_REF_RE.fullmatch(node)
    if whole and whole.group(1) in variables:
        return variables[whole.group(1)]

    def replace(match):
        name = match.group(1)
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none defined"
            checker.fail(where, f"unknown variable ${{{name}}}; define it under 'vars' (known: {known})")
            return match.group(0)
        return str(variables[name])

    return VAR_REF_RE.sub(replace, node)


def load_scenario(path: str | Path) -> model.Scenario:
    """Read and validate a scenario file; raises ScenarioInvalid or SourceError."""
    path = Path(path)
    display = str(path)
    try:
        raw_bytes = path.read_bytes()
    except OSError as exc:
        raise SourceError(Where(display, 1, 1), f"cannot read the scenario file: {exc.strerror}") from None
    try:
        text = raw_bytes.decode()
    except UnicodeDecodeError:
        raise SourceError(Where(display, 1, 1), "the file is not UTF-8 text") from None
    document = load_yaml(text, display)
    if not isinstance(document, SourceMap):
        raise SourceError(Where(display, 1, 1), "a scenario must be a mapping with keys like name, subnets, hosts, steps")
    checker = _Checker(path.parent)
    checker.keys(document, TOP_KEYS, "scenario")
    name = checker.string(document, "name", "scenario", required=True)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        checker.fail(document.at("name"), f"scenario name {name!r} must be letters, digits, '-', '_' or '.' (it names the results folder)")
    description = checker.string(document, "description", "scenario") or ""

    variants_map = checker.mapping(document, "variants", "scenario")
    overrides: list[tuple[str, str, SourceMap | None]] = []
    for variant_name, spec in (variants_map or {}).items():
        where = variants_map.key_where[variant_name]
        checker.name(variant_name, where, "variant", CONTAINER_RE)
        if spec is None:
            overrides.append((variant_name, "", None))
            continue
        if not isinstance(spec, SourceMap):
            checker.fail(variants_map.at(variant_name), f"variant '{variant_name}' must be a mapping with 'description' and 'set'")
            continue
        checker.keys(spec, VARIANT_KEYS, f"variants.{variant_name}")
        override = checker.mapping(spec, "set", f"variants.{variant_name}")
        if override is not None:
            checker.keys(override, TOP_KEYS - {"name", "variants", "description"}, f"variants.{variant_name}.set")
        overrides.append((variant_name, checker.string(spec, "description", f"variants.{variant_name}") or "", override))
    if not overrides:
        overrides.append(("default", "", None))

    variants = []
    for variant_name, variant_description, override in overrides:
        merged = merge(document, override) if override else document
        variants.append(_read_variant(checker, merged, variant_name, variant_description,
                                      {name for name, _, _ in overrides}))
    if checker.errors:
        raise ScenarioInvalid(checker.errors)
    return model.Scenario(
        name=name, description=description, path=str(path.resolve()),
        sha256=hashlib.sha256(raw_bytes).hexdigest(), variants=tuple(variants),
    )


def _read_variant(checker: _Checker, document: SourceMap, variant: str, description: str,
                  variant_names: set[str]) -> model.Variant:
    variables = {}
    vars_map = checker.mapping(document, "vars", "scenario")
    for key, value in (vars_map or {}).items():
        if not VAR_NAME_RE.match(str(key)):
            checker.fail(vars_map.key_where[key], f"variable name {key!r} must be letters, digits and '_'")
        elif isinstance(value, (SourceMap, SourceList)) or value is None:
            checker.fail(vars_map.at(key), f"variable '{key}' must be a single value (text or number)")
        else:
            variables[key] = value
    body = copy.deepcopy(document)
    for key in ("vars", "variants"):
        body.pop(key, None)
    body = _substitute(body, variables, checker, document.where)

    deployment = _read_deployment(checker, body)
    known_targets = {node.name for node in deployment.nodes} | {c.name for c in deployment.containers}
    steps = _read_steps(checker, body, known_targets)
    expectations = _read_expectations(checker, body, variant, variant_names, steps)
    captures = _read_captures(checker, body, deployment)
    return model.Variant(variant, description, deployment, steps, expectations, captures)


def _read_interfaces(checker, spec, context, subnets) -> tuple[model.Interface, ...]:
    interfaces = checker.mapping(spec, "interfaces", context, required=True)
    result = []
    for subnet_name, value in (interfaces or {}).items():
        where = interfaces.at(subnet_name)
        if subnet_name not in subnets:
            hint = _closest(subnet_name, subnets)
            checker.fail(interfaces.key_where[subnet_name],
                         f"{context}.interfaces: no subnet '{subnet_name}'" + (f"; did you mean '{hint}'?" if hint else f"; subnets are: {', '.join(subnets) or 'none'}"))
            continue
        network = subnets[subnet_name]
        text = str(value)
        if "/" in text:
            try:
                interface = IPv4Interface(text)
            except ValueError:
                checker.fail(where, f"{context}.interfaces.{subnet_name}: {text!r} is not an IPv4 address; write it like {network[5]}")
                continue
            if interface.network != network:
                checker.fail(where, f"{context}.interfaces.{subnet_name}: {text} is not in subnet {subnet_name} ({network}); "
                                    f"use an address like {network[5]}/{network.prefixlen}")
                continue
        else:
            address = checker.address(text, where, f"{context}.interfaces.{subnet_name}")
            if address is None:
                continue
            interface = IPv4Interface(f"{address}/{network.prefixlen}")
            if address not in network:
                checker.fail(where, f"{context}.interfaces.{subnet_name}: {address} is not in subnet {subnet_name} ({network}); "
                                    f"use an address like {network[5]}")
                continue
        if network.prefixlen < 31 and interface.ip in (network.network_address, network.broadcast_address):
            checker.fail(where, f"{context}.interfaces.{subnet_name}: {interface.ip} is the subnet's network or broadcast address")
            continue
        result.append(model.Interface(subnet_name, interface))
    if interfaces is not None and not interfaces and "interfaces" in spec:
        checker.fail(spec.at("interfaces"), f"{context}.interfaces is empty; give at least one 'subnet: address'")
    return tuple(result)


def _read_routes(checker, spec, context, os_profile) -> list[tuple[model.Route, Where]]:
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
        elif isinstance(item, str) and (match := LINUX_ROUTE_RE.match(item.strip())):
            destination = checker.network(match.group(1), where, f"{context}.routes[{index}] destination")
            via = checker.address(match.group(2), where, f"{context}.routes[{index}] gateway")
        elif isinstance(item, str) and (match := WINDOWS_ROUTE_RE.match(item.strip())):
            if os_profile != "windows":
                checker.fail(where, f"{context}.routes[{index}]: Windows route syntax needs 'os: windows'; "
                                    f"on Linux write '{match.group(1)}/<prefix> via {match.group(3)}'")
                continue
            try:
                destination = IPv4Network(f"{match.group(1)}/{match.group(2)}", strict=True)
            except ValueError as exc:
                checker.fail(where, f"{context}.routes[{index}]: destination {match.group(1)} mask {match.group(2)} is not a subnet ({exc})")
                continue
            via = checker.address(match.group(3), where, f"{context}.routes[{index}] gateway")
        else:
            example = "route add 172.19.0.0 mask 255.255.0.0 10.0.31.2" if os_profile == "windows" else "172.19.0.0/16 via 10.0.31.2"
            checker.fail(where, f"{context}.routes[{index}]: cannot read route {item!r}; write it like '{example}'")
            continue
        if destination is not None and via is not None:
            result.append((model.Route(destination, via), where))
    return result


def _read_node(checker, spec, name, kind, context, subnets):
    os_profile = checker.string(spec, "os", context, default="linux")
    if os_profile not in OS_PROFILES:
        checker.fail(spec.at("os"), f"{context}.os {os_profile!r} is not a profile; use one of: {', '.join(OS_PROFILES)}")
        os_profile = "linux"
    interfaces = _read_interfaces(checker, spec, context, subnets)
    gateway = None
    if spec.get("gateway") is not None:
        gateway = checker.address(spec["gateway"], spec.at("gateway"), f"{context}.gateway")
        if gateway is not None and interfaces and not any(gateway in i.address.network for i in interfaces):
            checker.fail(spec.at("gateway"), f"{context}.gateway {gateway} is not on any of this node's subnets "
                                             f"({', '.join(str(i.address.network) for i in interfaces)})")
    routes = _read_routes(checker, spec, context, os_profile)
    for route, where in routes:
        if interfaces and not any(route.via in i.address.network for i in interfaces):
            checker.fail(where, f"{context}.routes: gateway {route.via} of {route.destination} is not on any of this "
                                "node's subnets; a route's gateway must be a neighbour")
    hosts = []
    hosts_map = checker.mapping(spec, "hosts", context)
    for host_name, address in (hosts_map or {}).items():
        if not isinstance(host_name, str) or not HOSTNAME_RE.match(host_name):
            checker.fail(hosts_map.key_where[host_name], f"{context}.hosts: {host_name!r} is not a valid host name")
            continue
        parsed = checker.address(address, hosts_map.at(host_name), f"{context}.hosts.{host_name}")
        if parsed is not None:
            hosts.append((host_name, parsed))
    dns = []
    for text, where in checker.string_list(spec, "dns", context):
        parsed = checker.address(text, where, f"{context}.dns")
        if parsed is not None:
            dns.append(parsed)
    files = checker.files(spec, context)
    for file in files:
        if not file.path.startswith("/etc/"):
            checker.fail(spec["files"].key_where[file.path], f"{context}.files: {file.path} is outside /etc; on nodes the lab "
                                                             "places files under /etc only (each node has a private /etc)")
    return dict(name=name, kind=kind, interfaces=interfaces, gateway=gateway, routes=tuple(r for r, _ in routes), os=os_profile,
                hosts=tuple(hosts), dns=tuple(dns), files=files)


def _expand_publish(text: str) -> list[model.Publish] | str:
    """Expand one `docker run -p` value into single ports, or return why it is wrong."""
    match = PUBLISH_RE.match(text)
    if not match:
        return ("write it as docker run -p does, with the host port: "
                "'16030:6030', '16030-16042:6030-6042', '16030:6030/udp' or '10.0.31.2:16030:6030'")
    protocol = match.group("proto") or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        return f"protocol '{protocol}' is not tcp, udp or sctp"

    def span(part):
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
    return [model.Publish(host_ip, host_low + offset, cont_low + offset, protocol)
            for offset in range(host_high - host_low + 1)]


def _read_docker_networks(checker, spec, context, subnets) -> tuple[list[model.DockerNetwork], set[str]]:
    """A Docker host's valid user-defined networks (none may overlap a LAN or another network),
    and the names of all it declares."""
    networks = []
    networks_map = checker.mapping(spec, "networks", context, required=True)
    for net_name, net_spec in (networks_map or {}).items():
        net_context = f"{context}.networks.{net_name}"
        checker.name(net_name, networks_map.key_where[net_name], "Docker network", CONTAINER_RE)
        if not isinstance(net_spec, SourceMap):
            checker.fail(networks_map.at(net_name), f"{net_context} must be a mapping with subnet and gateway")
            continue
        checker.keys(net_spec, NETWORK_KEYS, net_context)
        subnet = checker.network(net_spec.get("subnet"), net_spec.at("subnet"), f"{net_context}.subnet") \
            if "subnet" in net_spec else checker.fail(net_spec.where, f"{net_context}: 'subnet' is missing; add it, like 172.19.0.0/16")
        gateway = checker.address(net_spec["gateway"], net_spec.at("gateway"), f"{net_context}.gateway") \
            if "gateway" in net_spec else (subnet[1] if subnet else None)
        if subnet and gateway and gateway not in subnet:
            checker.fail(net_spec.at("gateway"), f"{net_context}.gateway {gateway} is not in {subnet}; use e.g. {subnet[1]}")
        bridge = checker.string(net_spec, "bridge", net_context, default=f"br-{net_name}"[:15])
        if bridge is not None:
            checker.name(bridge, net_spec.at("bridge"), "bridge")
        if subnet:
            for subnet_name, lan in subnets.items():
                if subnet.overlaps(lan):
                    checker.fail(net_spec.at("subnet"), f"{net_context}.subnet {subnet} overlaps subnet '{subnet_name}' ({lan}); "
                                                        "pick a range that no LAN uses")
            for other in networks:
                if subnet.overlaps(other.subnet):
                    checker.fail(net_spec.at("subnet"), f"{net_context}.subnet {subnet} overlaps Docker network '{other.name}' ({other.subnet})")
        if subnet and gateway and bridge:
            networks.append(model.DockerNetwork(net_name, subnet, gateway, bridge))
    return networks, set(networks_map or {})


def _read_publish(checker, cspec, ccontext, cname, published) -> tuple[list[tuple[str, Where]], list[model.Publish]]:
    """A container's `-p` values and the single ports they expand to; a host port may be taken once
    per Docker host (`published` holds those already taken)."""
    publish_texts = checker.string_list(cspec, "publish", ccontext)
    ports = []
    for text, where in publish_texts:
        expanded = _expand_publish(text)
        if isinstance(expanded, str):
            checker.fail(where, f"{ccontext}.publish: cannot read {text!r}: {expanded}")
            continue
        for port in expanded:
            key = (port.protocol, port.host_port)
            if key in published:
                other_ip, other_where, other_container = published[key]
                if other_ip is None or port.host_ip is None or other_ip == port.host_ip:
                    checker.fail(where, f"{ccontext}.publish: host port {port.host_port}/{port.protocol} is already published "
                                        f"by {other_container} (line {other_where.line}); a host port can be published once")
                    continue
            published[key] = (port.host_ip, where, cname)
            ports.append(port)
    return publish_texts, ports


def _read_container(checker, containers_map, cname, context, host_name, networks, network_names, published):
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
    network = by_name.get(net_name)
    if net_name is not None and network is None and net_name in network_names:
        return None  # the network itself is broken and already reported
    if net_name is not None and network is None:
        checker.fail(cspec.at("network"), f"{ccontext}.network: no Docker network '{net_name}' on {host_name}; "
                                          f"networks are: {', '.join(by_name) or 'none'}")
        return None
    ip = checker.address(cspec["ip"], cspec.at("ip"), f"{ccontext}.ip") if "ip" in cspec else \
        checker.fail(cspec.where, f"{ccontext}: 'ip' is missing; give the container a static address in {network.subnet if network else 'its network'}")
    if ip is not None and network is not None:
        if ip not in network.subnet:
            checker.fail(cspec.at("ip"), f"{ccontext}.ip {ip} is not in network {network.name} ({network.subnet})")
        elif ip == network.gateway:
            checker.fail(cspec.at("ip"), f"{ccontext}.ip {ip} is the network's gateway; use another address")
    publish_texts, ports = _read_publish(checker, cspec, ccontext, cname, published)
    environment = []
    env_map = checker.mapping(cspec, "environment", ccontext)
    for key, value in (env_map or {}).items():
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
            checker.fail(cspec.at("ready"), f"{ccontext}.ready {cspec['ready']!r} must be 'tcp:PORT', the container "
                                            "port that accepts connections once its service is up, like tcp:6030")
        else:
            ready = ("tcp", int(match.group(1)))
    if None in (hostname, network, ip, command):
        return None
    return model.Container(
        name=cname, docker_host=host_name, hostname=hostname, network=network.name, ip=ip,
        publish=tuple(text for text, _ in publish_texts), ports=tuple(ports),
        environment=tuple(environment), mounts=tuple(mounts), command=command, files=files, ready=ready)


def _read_docker_host(checker, spec, name, context, subnets, node_fields):
    networks, network_names = _read_docker_networks(checker, spec, context, subnets)
    containers = []
    published: dict[tuple[str, int], tuple[IPv4Address | None, Where, str]] = {}
    containers_map = checker.mapping(spec, "containers", context)
    for cname in containers_map or {}:
        container = _read_container(checker, containers_map, cname, context, name, networks, network_names, published)
        if container is not None:
            containers.append(container)
    userland_proxy = spec.get("userland_proxy", True)
    if not isinstance(userland_proxy, bool):
        checker.fail(spec.at("userland_proxy"), f"{context}.userland_proxy must be true or false (dockerd's "
                                                f"--userland-proxy; Docker's default is true), not {_kind(userland_proxy)}")
        userland_proxy = True
    return model.DockerHost(**node_fields, networks=tuple(networks), containers=tuple(containers),
                            userland_proxy=userland_proxy)


def _read_deployment(checker: _Checker, document: SourceMap) -> model.Deployment:
    subnets: dict[str, IPv4Network] = {}
    subnet_where: dict[str, Where] = {}
    subnets_map = checker.mapping(document, "subnets", "scenario", required=True)
    for subnet_name, value in (subnets_map or {}).items():
        where = subnets_map.at(subnet_name)
        if checker.name(subnet_name, subnets_map.key_where[subnet_name], "subnet") is None:
            continue
        if isinstance(value, SourceMap):
            checker.keys(value, {"cidr"}, f"subnets.{subnet_name}")
            where, value = value.at("cidr"), value.get("cidr")
        network = checker.network(value, where, f"subnets.{subnet_name}")
        if network is None:
            continue
        for other, other_net in subnets.items():
            if network.overlaps(other_net):
                checker.fail(where, f"subnets.{subnet_name} ({network}) overlaps subnet '{other}' ({other_net}) "
                                    f"at line {subnet_where[other].line}; subnets must not overlap")
        subnets[subnet_name] = network
        subnet_where[subnet_name] = where

    software = []
    software_map = checker.mapping(document, "software", "scenario")
    for key, value in (software_map or {}).items():
        if key not in KNOWN_SOFTWARE:
            checker.fail(software_map.key_where[key], f"software: unknown '{key}'; known: {', '.join(KNOWN_SOFTWARE)}")
        elif value not in KNOWN_SOFTWARE[key]:
            checker.fail(software_map.at(key), f"software.{key}: {value!r} is not one of: {', '.join(KNOWN_SOFTWARE[key])}")
        else:
            software.append((key, value))

    nodes = []
    seen: dict[str, Where] = {}
    sections = (("routers", "router", ROUTER_KEYS), ("hosts", "host", NODE_KEYS), ("docker_hosts", "docker-host", DOCKER_HOST_KEYS))
    for section, kind, allowed in sections:
        section_map = checker.mapping(document, section, "scenario")
        for node_name, spec in (section_map or {}).items():
            where = section_map.key_where[node_name]
            context = f"{section}.{node_name}"
            if checker.name(node_name, where, "node") is None:
                continue
            if node_name in seen:
                checker.fail(where, f"node name '{node_name}' is used twice (first at line {seen[node_name].line}); names must be unique")
                continue
            seen[node_name] = where
            if not isinstance(spec, SourceMap):
                checker.fail(section_map.at(node_name), f"{context} must be a mapping with at least 'interfaces'")
                continue
            checker.keys(spec, allowed, context)
            fields = _read_node(checker, spec, node_name, kind, context, subnets)
            if kind == "docker-host":
                nodes.append(_read_docker_host(checker, spec, node_name, context, subnets, fields))
            else:
                nodes.append(model.Node(**fields))
    _check_unique_addresses(checker, document, nodes)
    return model.Deployment(tuple(model.Subnet(n, net) for n, net in subnets.items()), tuple(nodes), tuple(software))


def _check_unique_addresses(checker, document, nodes) -> None:
    owners: dict[IPv4Address, str] = {}

    def claim(address, owner, where):
        if address in owners:
            checker.fail(where, f"address {address} of {owner} is already used by {owners[address]}; every address must be unique")
        else:
            owners[address] = owner

    sections = {"router": "routers", "host": "hosts", "docker-host": "docker_hosts"}
    for node in nodes:
        spec = document[sections[node.kind]][node.name]
        for interface in node.interfaces:
            claim(interface.address.ip, f"{node.name} ({interface.subnet})", spec["interfaces"].at(interface.subnet))
        if isinstance(node, model.DockerHost):
            for container in node.containers:
                claim(container.ip, f"container {container.name}", spec["containers"][container.name].at("ip"))
            for network in node.networks:
                claim(network.gateway, f"the gateway of Docker network {network.name}", spec["networks"][network.name].where)


def _read_steps(checker, document, known_targets) -> tuple[model.Step, ...]:
    if "steps" not in document or document["steps"] is None:
        return ()
    steps_value = document["steps"]
    if not isinstance(steps_value, SourceList):
        checker.fail(document.at("steps"), "steps must be a list of steps (- name: ..., on: ..., run: ...)")
        return ()
    steps = []
    names: dict[str, Where] = {}
    for index, spec in enumerate(steps_value):
        context = f"steps[{index}]"
        if not isinstance(spec, SourceMap):
            checker.fail(steps_value.at(index), f"{context} must be a mapping with name, on and one action (run, ping, tcp, udp)")
            continue
        checker.keys(spec, STEP_KEYS, context)
        name = checker.string(spec, "name", context, required=True)
        if name is not None:
            context = f"step '{name}'"
            if not CONTAINER_RE.match(name):
                checker.fail(spec.at("name"), f"{context}: name must be letters, digits, '-', '_' or '.'")
        on = []
        if "on" not in spec:
            checker.fail(spec.where, f"{context}: 'on' is missing; name the node(s) or container(s) to run it on")
        for target, where in checker.string_list(spec, "on", context):
            if target not in known_targets:
                hint = _closest(target, known_targets)
                checker.fail(where, f"{context}.on: no node or container '{target}'" + (f"; did you mean '{hint}'?" if hint else ""))
            elif (name, target) in names:
                checker.fail(where, f"{context}: already runs on {target} (line {names[(name, target)].line}); a step name "
                                    "may repeat only for other nodes (to give each node its own command)")
            else:
                names[(name, target)] = where
                on.append(target)
        actions = [key for key in ("run", *PROBES) if key in spec]
        if len(actions) != 1:
            checker.fail(spec.where, f"{context}: give exactly one action of: run, ping, tcp, udp (found {', '.join(actions) or 'none'})")
            continue
        kind = actions[0]
        action = None
        if kind == "run":
            argv = checker.argv(spec, "run", context)
            action = model.Action("run", argv=argv) if argv else None
        elif kind == "ping":
            target = checker.string(spec, "ping", context)
            action = model.Action("ping", host=target) if target else None
        else:
            text = checker.string(spec, kind, context) or ""
            host, _, port = text.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                checker.fail(spec.at(kind), f"{context}.{kind}: {text!r} must be HOST:PORT, like 10.0.31.2:16030")
            else:
                action = model.Action(kind, host=host, port=int(port))
        timeout = checker.number(spec, "timeout", context, 10.0, 0.1, MAX_TIMEOUT_S)
        success = model.SuccessRule()
        if "success" in spec:
            rule = checker.mapping(spec, "success", context)
            if rule is not None:
                checker.keys(rule, SUCCESS_KEYS, f"{context}.success")
                exit_code = 0
                if "exit_code" in rule:
                    if rule["exit_code"] == "any":
                        exit_code = None
                    else:
                        exit_code = checker.number(rule, "exit_code", f"{context}.success", 0, 0, 255, integer=True)
                counts = []
                count_map = checker.mapping(rule, "output_count", f"{context}.success")
                for text, _ in (count_map or {}).items():
                    times = checker.number(count_map, text, f"{context}.success.output_count", None, 1, 10000, integer=True)
                    if times is not None:
                        counts.append((str(text), times))
                success = model.SuccessRule(
                    exit_code=exit_code,
                    output_count=tuple(counts),
                    output_contains=tuple(t for t, _ in checker.string_list(rule, "output_contains", f"{context}.success")),
                    output_lacks=tuple(t for t, _ in checker.string_list(rule, "output_lacks", f"{context}.success")),
                )
        until = None
        if "until" in spec:
            rule = checker.mapping(spec, "until", context)
            if rule is not None:
                checker.keys(rule, UNTIL_KEYS, f"{context}.until")
                text = checker.string(rule, "text", f"{context}.until", required=True)
                times = checker.number(rule, "times", f"{context}.until", 1, 1, 10000, integer=True)
                interval = checker.number(rule, "interval", f"{context}.until", 0.5, 0.05, 60)
                if text and times and interval:
                    until = model.Until(text, times, interval)
        description = checker.string(spec, "description", context) or ""
        if name and action and on and timeout:
            steps.append(model.Step(name, tuple(on), action, float(timeout), success, until, description))
    return tuple(steps)


def _read_expectations(checker, document, variant, variant_names, steps) -> tuple[tuple[str, str, model.Expectation], ...]:
    if "expect" not in document or document["expect"] is None:
        return ()
    rules = document["expect"]
    if not isinstance(rules, SourceList):
        checker.fail(document.at("expect"), "expect must be a list of rules like '- {step: show-dnodes, node: remote-client, fail: Unable}'")
        return ()
    step_nodes: dict[str, tuple[str, ...]] = {}
    for step in steps:
        step_nodes[step.name] = step_nodes.get(step.name, ()) + step.on
    result: dict[tuple[str, str], model.Expectation] = {}
    for index, rule in enumerate(rules):
        context = f"expect[{index}]"
        if not isinstance(rule, SourceMap):
            checker.fail(rules.at(index), f"{context} must be a mapping with step, and ok or fail")
            continue
        checker.keys(rule, EXPECT_KEYS, context)
        if ("ok" in rule) == ("fail" in rule):
            checker.fail(rule.where, f"{context}: give exactly one of 'ok: true' or 'fail: TEXT THE OUTPUT MUST CONTAIN'")
            continue
        if "ok" in rule and rule["ok"] is not True:
            checker.fail(rule.at("ok"), f"{context}.ok must be true; to expect a failure write 'fail: TEXT'")
            continue
        expectation = model.Expectation() if "ok" in rule else model.Expectation(
            ok=False, contains="" if rule["fail"] is True else str(rule["fail"]))
        variants = [v for v, _ in checker.string_list(rule, "variant", context)]
        for name, where in checker.string_list(rule, "variant", context):
            if name not in variant_names:
                checker.fail(where, f"{context}.variant: no variant '{name}'; variants are: {', '.join(sorted(variant_names))}")
        if variants and variant not in variants:
            continue
        wanted_steps = checker.string_list(rule, "step", context) or [(s, rule.where) for s in step_nodes]
        for step_name, where in wanted_steps:
            if step_name not in step_nodes:
                checker.fail(where, f"{context}.step: no step '{step_name}'")
                continue
            nodes = checker.string_list(rule, "node", context) or [(n, rule.where) for n in step_nodes[step_name]]
            for node_name, node_where in nodes:
                if node_name not in step_nodes[step_name]:
                    checker.fail(node_where, f"{context}.node: step '{step_name}' does not run on '{node_name}' "
                                             f"(it runs on {', '.join(step_nodes[step_name])})")
                    continue
                result[(node_name, step_name)] = expectation
    return tuple((node, step, expectation) for (node, step), expectation in result.items())


def _read_captures(checker, document, deployment) -> tuple[model.Capture, ...]:
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
