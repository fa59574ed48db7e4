"""The generic part of reading a scenario: shapes, names, numbers, addresses, paths.

A `Checker` reads values out of the positioned YAML (source.py) and records every
problem with its file, line and column instead of stopping at the first; the readers
(read_network, read_docker, read_steps) and the loader use it for everything they read.

Paths are checked in one place (`path_problem`, `Checker.node_path`, `Checker.container_path`,
`Checker.local_path`): a path the lab writes or mounts must be normalised (no '//', '.', '..',
trailing '/' or control characters) and inside the place it belongs to: node files under
/etc, container files and mount targets anywhere in the container but its kernel folders and
what the lab binds there, local files inside the scenario's folder after resolving symlinks.
"""

from __future__ import annotations

import bisect
import difflib
import posixpath
import re
import shlex
from collections.abc import Collection, Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Literal, overload

from .. import SOURCE_ROOT
from ..errors import Problem, Where
from . import model
from .source import FileRefused, SourceList, SourceMap, one_line, read_regular_file

# Every pattern is used with fullmatch: `$` would also match before a trailing newline.
# Names of kernel objects (bridges, interfaces) are limited to 15 characters.
IFNAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,14}")
CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
HOSTNAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
MAX_HOSTNAME_CHARS = 253  # a whole host name (RFC 1035); each label at most 63 (HOSTNAME_RE)
MAX_FILE_BYTES = 1 << 20
FILE_KEYS = {"content", "from", "mode"}
# Names that become interfaces or bridges (subnets, nodes, bridges) must not read as a word of
# ip(8) ("ip link set up up"), be an interface every namespace has (lo), or name the kernel's
# per-interface sysctl folders (all, default). Compared case-insensitively.
IP_KEYWORDS = frozenset(
    """
    add address addrgenmode alias all allmulticast any arp autojoin blackhole bond bond_slave bridge
    bridge_slave broadcast brd change default del delete dev docker0 down dummy dynamic encap ether
    expires flush from geneve get gre group gso_max_segs gso_max_size help home hw index inet inet6
    ipip ipvlan label link list lo local macvlan master metric mngtmpaddr mtu multicast name nat netns
    nexthop nodad noprefixroute nomaster none onlink peer permanent preferred_lft prefix prohibit
    promisc proto protodown qlen realm realms replace save scope set show sit src state table tap
    throw to trailers tun txqlen txqueuelen type unicast unreachable up valid_lft veth vf via vlan
    vrf vxlan weight xdp
    """.split()
)
# Folders of a container that are not the scenario's to write into or mount over: the
# kernel's, what the lab binds read-only into every container, and the image's links to /usr.
CONTAINER_RESERVED = (
    ("/proc", "the kernel's process folder"),
    ("/sys", "the kernel's sysfs"),
    ("/dev", "the container's devices"),
    ("/usr", "the machine's /usr, bound read-only into every container"),
    *(
        (f"/{name}", f"a link to /usr/{name} in the lab's image")
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
    ),
    (str(SOURCE_ROOT), "the lab's own code, bound read-only into every container"),
)
# Files Docker itself places in every container (bind mounts made at start): a file of the
# scenario there would be hidden.
DOCKER_MANAGED_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
# The files the lab writes into every node's /etc; nothing can be placed below them.
NODE_LAB_FILES = ("/etc/hosts", "/etc/resolv.conf")
MOUNT_SEPARATORS = ',"'  # docker's --mount value is comma-separated fields, with CSV quoting
MAX_PROBLEMS = 200  # problems kept and reported; beyond, they are counted (fix these first)
MAX_SUGGESTION_CHOICES = 500  # "did you mean" compares with at most this many names (it is quadratic)


def path_problem(path: object, absolute: bool = True) -> str | None:
    """Why `path` is not a normalised path (absolute, or relative with `absolute=False`), or None.

    Normalised: what posixpath.normpath returns, and more: no '//' run, no '.' or '..'
    part, no trailing '/', no control character (NUL, newline, tab, ...).
    """
    if not isinstance(path, str) or not path:
        return "is not a path"
    if not path.isprintable():
        return "contains a control character (NUL, newline, tab, ...)"
    if absolute and not path.startswith("/"):
        return "is not absolute (it must start with '/')"
    if not absolute and path.startswith("/"):
        return "is absolute; give a path relative to the scenario's folder"
    if "//" in path:
        return "contains '//'"
    if path != "/" and path.endswith("/"):
        return "ends with '/' (name the file or folder without it)"
    parts = path.split("/")
    if "." in parts:
        return "contains a '.' part"
    if ".." in parts:
        return "contains a '..' part"
    if posixpath.normpath(path) != path:  # nothing else normpath changes, but say so if it does
        return f"is not normalised (it is {posixpath.normpath(path)})"
    return None


def place_problem(path: str, place: Literal["node", "container"]) -> str | None:
    """Why the normalised absolute `path` is not a place the lab may write or mount in a node or a
    container (with what to do instead), or None."""
    if place == "node":
        if path == "/etc":
            return "is the /etc folder itself; name a file under it, like /etc/taos/taos.cfg"
        if not path.startswith("/etc/"):
            return (
                "is outside /etc; on nodes the lab places files under /etc only (each node has a private "
                "/etc): put it there, like /etc/taos/taos.cfg"
            )
        for lab_file in NODE_LAB_FILES:
            if under(path, lab_file) and path != lab_file:
                return (
                    f"is below {lab_file}, a file the lab writes in every node (from 'hosts' and 'dns'); "
                    "put it elsewhere under /etc"
                )
        return None
    if path == "/":
        return "is the container's root folder; name a file or folder inside it, like /data"
    for folder, what_it_is in CONTAINER_RESERVED:
        if under(path, folder):
            return f"is {'' if path == folder else 'under '}{folder}, {what_it_is}; put it elsewhere, like /opt/app"
    return None


def _normalised(path: str) -> str:
    """What a path with a problem probably meant, for 'did you mean ...' ('' when it has control characters)."""
    return posixpath.normpath(path) if path.isprintable() else ""


def under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or inside it (both normalised absolute paths)."""
    return folder == "/" or path == folder or path.startswith(folder + "/")


class NetworkIndex:
    """Named networks, answering which of them overlap a network without comparing it with each one.

    CIDR blocks either nest or are disjoint, so those overlapping a network are its supernets
    (looked up, one per prefix length) and those starting inside it (a range of a sorted list).
    """

    MAX_ANSWERS = 10  # overlaps named per question: enough to fix a file, and bounded when all overlap

    def __init__(self) -> None:
        self._exact: dict[IPv4Network, list[tuple[int, str]]] = {}
        self._starts: list[tuple[int, int, str]] = []  # (first address, order added, name), sorted
        self._networks: dict[str, IPv4Network] = {}

    def add(self, name: str, network: IPv4Network) -> None:
        order = len(self._networks)
        self._networks[name] = network
        self._exact.setdefault(network, []).append((order, name))
        bisect.insort(self._starts, (int(network.network_address), order, name))

    def overlapping(self, network: IPv4Network) -> list[tuple[str, IPv4Network]]:
        """The networks added that overlap `network`, in the order they were added (at most MAX_ANSWERS)."""
        found: dict[str, int] = {}
        for prefix in range(network.prefixlen, -1, -1):
            holder = network if prefix == network.prefixlen else network.supernet(new_prefix=prefix)
            for order, name in self._exact.get(holder, [])[: self.MAX_ANSWERS]:
                found[name] = order
        first, last = int(network.network_address), int(network.broadcast_address)
        index = bisect.bisect_left(self._starts, (first, -1, ""))
        inside = 0
        while index < len(self._starts) and self._starts[index][0] <= last and inside < self.MAX_ANSWERS:
            _, order, name = self._starts[index]
            found[name] = order
            index += 1
            inside += 1
        names = sorted(found, key=found.__getitem__)[: self.MAX_ANSWERS]
        return [(name, self._networks[name]) for name in names]


class Subnets(dict[str, IPv4Network]):
    """The scenario's subnets by name, with their NetworkIndex (for overlap checks)."""

    def __init__(self) -> None:
        super().__init__()
        self.index = NetworkIndex()

    def add(self, name: str, network: IPv4Network) -> None:
        self[name] = network
        self.index.add(name, network)


def network_index(networks: dict[str, IPv4Network]) -> NetworkIndex:
    """The index of `networks` (the one Subnets keeps, or a new one)."""
    if isinstance(networks, Subnets):
        return networks.index
    index = NetworkIndex()
    for name, network in networks.items():
        index.add(name, network)
    return index


def valid_hostname(name: object) -> bool:
    """A host name: labels of letters, digits and '-' (1-63 characters each), 253 characters at most."""
    return isinstance(name, str) and len(name) <= MAX_HOSTNAME_CHARS and HOSTNAME_RE.fullmatch(name) is not None


class Checker:
    """Collects problems while reading; `fail` records one and returns None."""

    def __init__(self, base_dir: Path) -> None:
        self.problems: list[Problem] = []
        self._seen: set[Problem] = set()
        self.base_dir = base_dir
        self.more_problems = 0  # found beyond MAX_PROBLEMS, counted but not kept
        self.published_ports = 0  # single ports published in the variant being read (read_docker)

    def fail(self, where: Where, message: str) -> None:
        problem = Problem(where, one_line(message))
        if problem not in self._seen:
            if len(self.problems) >= MAX_PROBLEMS:
                self.more_problems += 1
                return None
            self._seen.add(problem)
            self.problems.append(problem)
        return None

    # -- shapes -------------------------------------------------------------------
    def mapping(self, parent: SourceMap, key: str, context: str, required: bool = False) -> SourceMap | None:
        if key not in parent:
            if required:
                self.fail(parent.where, f"{context}: '{key}' is missing; add it")
            return SourceMap(parent.where)
        value = parent[key]
        if value is None:
            return SourceMap(parent.at(key))
        if not isinstance(value, SourceMap):
            self.fail(parent.at(key), f"{context}.{key} must be a mapping (name: value lines), not {kind_of(value)}")
            return None
        return value

    def keys(self, mapping: SourceMap, allowed: Collection[str], context: str) -> None:
        for key in mapping:
            if key not in allowed:
                hint = closest(key, allowed)
                suggestion = f"did you mean '{hint}'?" if hint else "allowed: " + ", ".join(sorted(allowed))
                self.fail(mapping.key_where[key], f"{context}: unknown key '{key}'; {suggestion}")

    def string(
        self, parent: SourceMap, key: str, context: str, required: bool = False, default: str = ""
    ) -> str | None:
        if key not in parent:
            if required:
                self.fail(parent.where, f"{context}: '{key}' is missing; add it")
                return None
            return default
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.fail(parent.at(key), f"{context}.{key} must be text, not {kind_of(value)}")
            return None
        return str(value)

    # With integer=True the value read is a whole number (int); otherwise an int or a float.
    @overload
    def number(
        self,
        parent: SourceMap,
        key: str,
        context: str,
        default: int | None,
        low: int,
        high: int,
        integer: Literal[True],
    ) -> int | None: ...

    @overload
    def number(
        self,
        parent: SourceMap,
        key: str,
        context: str,
        default: float | None,
        low: float,
        high: float,
        integer: bool = False,
    ) -> float | None: ...

    def number(
        self,
        parent: SourceMap,
        key: str,
        context: str,
        default: float | None,
        low: float,
        high: float,
        integer: bool = False,
    ) -> float | None:
        if key not in parent:
            return default
        value = parent[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "a whole number" if integer else "a number"
            self.fail(parent.at(key), f"{context}.{key} must be {kind} between {low} and {high}, not {value!r}")
            return None
        if not low <= value <= high:
            self.fail(parent.at(key), f"{context}.{key} is {value}; use a value between {low} and {high}")
            return None
        return value

    def name(
        self,
        value: object,
        where: Where,
        what: str,
        pattern: re.Pattern[str] = IFNAME_RE,
        reserved: Collection[str] | None = None,
    ) -> str | None:
        """A name that matches `pattern` (whole) and is none of `reserved` (any case; by default, for
        interface names, the words of ip(8))."""
        if reserved is None:
            reserved = IP_KEYWORDS if pattern is IFNAME_RE else ()
        if isinstance(value, str) and pattern.fullmatch(value) and value.lower() in reserved:
            self.fail(
                where,
                f"{what} name {value!r} is reserved (a word of ip(8), a kernel or Docker name); "
                f"pick another name, like {value}1 or my-{value}"
                if pattern is IFNAME_RE
                else f"{what} name {value!r} is reserved ({', '.join(sorted(reserved))} are); pick another name",
            )
            return None
        if not isinstance(value, str) or not pattern.fullmatch(value):
            rule = (
                (
                    "1-15 characters: letters, digits, '-' or '_', starting with a letter "
                    "(it becomes a kernel interface or bridge name)"
                )
                if pattern is IFNAME_RE
                else "letters, digits, '-', '_' or '.', starting with a letter or digit, at most 63 characters"
            )
            self.fail(where, f"{what} name {value!r} is not usable: {rule}")
            return None
        return value

    def address(self, value: object, where: Where, what: str) -> IPv4Address | None:
        try:
            address = ip_address(str(value))
        except ValueError:
            self.fail(where, f"{what} {value!r} is not an IPv4 address; write it like 10.0.31.5")
            return None
        if address.version != 4:
            self.fail(where, f"{what} {value!r} is IPv6; the lab handles IPv4 only")
            return None
        return address

    def network(self, value: object, where: Where, what: str) -> IPv4Network | None:
        try:
            network = ip_network(str(value), strict=True)
        except ValueError as exc:
            try:
                loose = ip_network(str(value), strict=False)
                self.fail(where, f"{what} {value!r} has host bits set; did you mean {loose}?")
                return None
            except ValueError:
                self.fail(where, f"{what} {value!r} is not a subnet ({exc}); write it like 10.0.31.0/24")
                return None
        if network.version != 4:
            self.fail(where, f"{what} {value!r} is IPv6; the lab handles IPv4 only")
            return None
        return network

    def string_list(self, parent: SourceMap, key: str, context: str) -> list[tuple[str, Where]]:
        if key not in parent:
            return []
        value = parent[key]
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            return [(str(value), parent.at(key))]
        if not isinstance(value, SourceList):
            self.fail(parent.at(key), f"{context}.{key} must be text or a list of texts, not {kind_of(value)}")
            return []
        items: list[tuple[str, Where]] = []
        for index, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                self.fail(value.at(index), f"{context}.{key}[{index}] must be text, not {kind_of(item)}")
            else:
                items.append((str(item), value.at(index)))
        return items

    def argv(self, parent: SourceMap, key: str, context: str) -> tuple[str, ...] | None:
        """A command: a list of arguments, or a text split like a shell would (never run by one)."""
        value = parent[key]
        if isinstance(value, str):
            try:
                argv = shlex.split(value)
            except ValueError as exc:
                self.fail(
                    parent.at(key),
                    f"{context}.{key}: cannot split {value!r} into arguments ({exc}); write the command as a list",
                )
                return None
        else:
            problems_before = len(self.problems)
            argv = [item for item, _ in self.string_list(parent, key, context)]
            if len(self.problems) > problems_before:
                return None
        if not argv:
            self.fail(parent.at(key), f"{context}.{key} is empty; give the program and its arguments")
            return None
        if any("\0" in arg for arg in argv):
            self.fail(parent.at(key), f"{context}.{key}: arguments cannot contain NUL bytes")
            return None
        return tuple(argv)

    # -- paths ----------------------------------------------------------------------
    def node_path(self, path: object, where: Where, what: str) -> str | None:
        """A file the lab writes into a node: a normalised path of a file under /etc (the node's private /etc)."""
        return self._place_path(path, where, what, "node")

    def container_path(self, path: object, where: Where, what: str) -> str | None:
        """A path in a container the lab writes or mounts over: normalised, absolute, not '/' and not in
        the kernel's folders or what the lab binds into every container (CONTAINER_RESERVED)."""
        return self._place_path(path, where, what, "container")

    def _place_path(self, path: object, where: Where, what: str, place: Literal["node", "container"]) -> str | None:
        why = path_problem(path)
        if why is None:
            assert isinstance(path, str)
            why = place_problem(path, place)
            if why is None:
                return path
            self.fail(where, f"{what} {path!r} {why}")
            return None
        hint = (
            f"write a normalised absolute path like {'/etc/taos/taos.cfg' if place == 'node' else '/opt/app/app.conf'}"
        )
        if "'..'" in why:
            hint = "write the path without '..'"
        elif isinstance(path, str) and path.isprintable():
            meant = posixpath.normpath(path)
            if meant != path and path_problem(meant) is None and place_problem(meant, place) is None:
                hint = f"did you mean {meant}?"
        self.fail(where, f"{what} {path!r} {why}; {hint}")
        return None

    def files(self, parent: SourceMap, context: str, place: Literal["node", "container"]) -> tuple[model.FileSpec, ...]:
        """The `files` of a node (under its /etc) or of a container (see container_path)."""
        files = self.mapping(parent, "files", context) or SourceMap(parent.where)
        result = []
        for path, value in files.items():
            where = files.key_where[path]
            if place == "node":
                checked = self.node_path(path, where, f"{context}.files:")
            else:
                checked = self.container_path(path, where, f"{context}.files:")
                if checked is not None and checked in DOCKER_MANAGED_FILES:
                    self.fail(
                        where,
                        f"{context}.files: {path} is written by Docker in every container (from its hostname, "
                        "network and the Docker host's resolver) and would hide this file; leave it out",
                    )
                    checked = None
            if checked is None:
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
                        self.fail(
                            value.at("mode"),
                            f"{context}.files.{path}.mode {mode_text!r} is not an octal mode like 644 or 755",
                        )
                    else:
                        mode = int(str(mode_text), 8)
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
                content = str(value)
            else:
                self.fail(
                    files.at(path),
                    f"{context}.files.{path} must be the file's text, or a mapping with 'content' or 'from'",
                )
                continue
            if content is not None:
                if len(content.encode()) > MAX_FILE_BYTES:
                    self.fail(
                        files.at(path),
                        f"{context}.files.{path} is larger than {MAX_FILE_BYTES} bytes; keep lab files small",
                    )
                else:
                    result.append(model.FileSpec(path, content, mode, source))
        paths = {spec.path for spec in result}
        folders_of_files = set()
        for spec in result:  # a file cannot also be a folder of another file
            folder = posixpath.dirname(spec.path)
            while folder != "/":
                if folder in paths:
                    self.fail(
                        files.key_where[spec.path],
                        f"{context}.files: {spec.path} is inside {folder}, which is given as a file too; "
                        "a path is either a file or a folder: rename one of them",
                    )
                    folders_of_files.add(spec.path)
                    break
                folder = posixpath.dirname(folder)
        return tuple(spec for spec in result if spec.path not in folders_of_files)

    def local_path(self, value: object, where: Where, what: str) -> Path | None:
        """A path relative to the scenario's folder that stays inside it, also after resolving symlinks."""
        why = path_problem(value, absolute=False)
        if why == "contains a '..' part" and isinstance(value, str) and posixpath.normpath(value).split("/")[0] == "..":
            why = "leads outside the scenario's folder; keep files beside the scenario"
        if why is not None:
            meant = _normalised(value) if isinstance(value, str) else ""
            if why.startswith(("leads outside", "is absolute")):
                hint = ""
            elif meant and meant != value and "'..'" not in why and path_problem(meant, absolute=False) is None:
                hint = f"; did you mean {meant!r}?"
            elif "'..'" in why:
                hint = "; write the path without '..'"
            else:
                hint = "; give a path relative to the scenario's folder, like conf/taos.cfg"
            self.fail(where, f"{what} {value!r} {why}{hint}")
            return None
        assert isinstance(value, str)
        base = self.base_dir.resolve()
        try:
            resolved = (self.base_dir / value).resolve()
        except (OSError, RuntimeError) as exc:  # a symlink loop
            self.fail(where, f"{what} {value!r} cannot be resolved ({exc}); fix the symbolic links")
            return None
        if not resolved.is_relative_to(base):
            self.fail(
                where,
                f"{what} {value!r} leads outside the scenario's folder (through a symbolic link, to {resolved}); "
                "keep files beside the scenario",
            )
            return None
        if not resolved.exists():
            self.fail(where, f"{what} {value!r} does not exist (looked at {self.base_dir / value})")
            return None
        return resolved

    def local_dir(self, parent: SourceMap, key: str, context: str) -> Path | None:
        """A folder on the lab machine: absolute, or relative to the scenario's folder; it must exist.

        Containers get it bound read-only at the same place, so it must be a place they can have.
        """
        value = parent[key]
        if not isinstance(value, str) or not value or not value.isprintable():
            self.fail(parent.at(key), f"{context}.{key} must be the path of a folder, not {kind_of(value)}")
            return None
        try:
            folder = (self.base_dir / value).resolve()
        except (OSError, RuntimeError) as exc:
            self.fail(parent.at(key), f"{context}.{key}: {value!r} cannot be resolved ({exc})")
            return None
        if not folder.is_dir():
            self.fail(parent.at(key), f"{context}.{key}: {value!r} is not a folder (looked at {self.base_dir / value})")
            return None
        reserved = [f for f, _ in CONTAINER_RESERVED[:3]]  # /proc, /sys, /dev
        if (
            folder == Path("/")
            or any(under(str(folder), f) for f in reserved)
            or set(str(folder)) & set(MOUNT_SEPARATORS)
        ):
            self.fail(
                parent.at(key),
                f"{context}.{key}: {folder} cannot be bound into containers (it is '/', under /proc, /sys or "
                f"/dev, or has one of {MOUNT_SEPARATORS!r} in its path); give the software's own folder",
            )
            return None
        return folder

    def read_local(self, parent: SourceMap, key: str, context: str) -> tuple[str | None, str]:
        """The text of a file beside the scenario, and its path relative to the scenario's folder."""
        path = self.local_path(parent[key], parent.at(key), f"{context}.{key}")
        if path is None:
            return None, ""
        source = path.relative_to(self.base_dir.resolve()).as_posix()
        try:
            data = read_regular_file(path, MAX_FILE_BYTES)
        except FileRefused as exc:
            self.fail(parent.at(key), f"{context}.{key}: {path} cannot be used: {exc}")
            return None, source
        try:
            return data.decode(), source
        except UnicodeDecodeError:
            self.fail(parent.at(key), f"{context}.{key}: {path} is not UTF-8 text")
            return None, source


def kind_of(value: object) -> str:
    """How a wrong value is named in a message: 'a mapping', 'a list', 'empty' or its type and text."""
    if isinstance(value, SourceMap):
        return "a mapping"
    if isinstance(value, SourceList):
        return "a list"
    if value is None:
        return "empty"
    return f"{type(value).__name__} {value!r}"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The allowed name most like `word` (for 'did you mean'), or None (also among too many names to compare)."""
    names = sorted(choices)
    if len(names) > MAX_SUGGESTION_CHOICES or len(str(word)) > 100:
        return None
    matches = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return matches[0] if matches else None
