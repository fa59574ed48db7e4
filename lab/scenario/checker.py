"""The generic part of reading a scenario: shapes, names, numbers, addresses, paths.

A `Checker` reads values out of the positioned YAML (source.py) and records every
problem with its file, line and column instead of stopping at the first; the readers
(read_network, read_docker, read_steps) and the loader use it for everything they read.
"""

from __future__ import annotations

import difflib
import re
import shlex
from collections.abc import Collection, Iterable
from ipaddress import IPv4Address, IPv4Network, ip_address, ip_network
from pathlib import Path
from typing import Literal, overload

from ..errors import Problem, Where
from . import model
from .source import SourceList, SourceMap

# Names of kernel objects (bridges, interfaces) are limited to 15 characters.
IFNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,14}$")
CONTAINER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
HOSTNAME_RE = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)
MAX_FILE_BYTES = 1 << 20
FILE_KEYS = {"content", "from", "mode"}


class Checker:
    """Collects problems while reading; `fail` records one and returns None."""

    def __init__(self, base_dir: Path) -> None:
        self.problems: list[Problem] = []
        self.base_dir = base_dir

    def fail(self, where: Where, message: str) -> None:
        problem = Problem(where, message)
        if problem not in self.problems:
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

    def name(self, value: object, where: Where, what: str, pattern: re.Pattern[str] = IFNAME_RE) -> str | None:
        if not isinstance(value, str) or not pattern.match(value):
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

    def files(self, parent: SourceMap, context: str) -> tuple[model.FileSpec, ...]:
        files = self.mapping(parent, "files", context) or SourceMap(parent.where)
        result = []
        for path, value in files.items():
            where = files.key_where[path]
            if not isinstance(path, str) or not path.startswith("/") or ".." in path.split("/") or "\0" in path:
                self.fail(
                    where, f"{context}.files: {path!r} must be an absolute path without '..', like /etc/taos/taos.cfg"
                )
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
        return tuple(result)

    def local_path(self, value: object, where: Where, what: str) -> Path | None:
        """A path relative to the scenario's folder that stays inside it."""
        if not isinstance(value, str) or not value or value.startswith("/") or "\0" in value:
            self.fail(where, f"{what} {value!r} must be a path relative to the scenario's folder")
            return None
        resolved = (self.base_dir / value).resolve()
        if not resolved.is_relative_to(self.base_dir.resolve()):
            self.fail(where, f"{what} {value!r} leads outside the scenario's folder; keep files beside the scenario")
            return None
        if not resolved.exists():
            self.fail(where, f"{what} {value!r} does not exist (looked at {self.base_dir / value})")
            return None
        return resolved

    def local_dir(self, parent: SourceMap, key: str, context: str) -> Path | None:
        """A folder on the lab machine: absolute, or relative to the scenario's folder; it must exist."""
        value = parent[key]
        if not isinstance(value, str) or not value or "\0" in value:
            self.fail(parent.at(key), f"{context}.{key} must be the path of a folder, not {kind_of(value)}")
            return None
        folder = (self.base_dir / value).resolve()
        if not folder.is_dir():
            self.fail(parent.at(key), f"{context}.{key}: {value!r} is not a folder (looked at {folder})")
            return None
        return folder

    def read_local(self, parent: SourceMap, key: str, context: str) -> tuple[str | None, str]:
        """The text of a file beside the scenario, and its path relative to the scenario's folder."""
        path = self.local_path(parent[key], parent.at(key), f"{context}.{key}")
        if path is None:
            return None, ""
        source = path.relative_to(self.base_dir.resolve()).as_posix()
        if not path.is_file() or path.stat().st_size > MAX_FILE_BYTES:
            self.fail(
                parent.at(key), f"{context}.{key}: {path} is not a regular file of at most {MAX_FILE_BYTES} bytes"
            )
            return None, source
        try:
            return path.read_text(), source
        except (OSError, UnicodeDecodeError) as exc:
            self.fail(parent.at(key), f"{context}.{key}: cannot read {path} as text ({exc})")
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
    """The allowed name most like `word` (for 'did you mean'), or None."""
    matches = difflib.get_close_matches(str(word), sorted(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None
