"""YAML with positions: mappings and lists that remember where each value was written.

The loader turns a YAML document into plain dicts and lists (subclasses that carry the
file, line and column of every key and value), so that validation can point at the exact
place of a mistake while working on ordinary Python data.

A scenario is untrusted input, so reading it is bounded: only regular files are read, never
more than a given size (`read_regular_file`); a document has at most MAX_YAML_NODES keys,
values and items and at most MAX_DEPTH levels, each YAML alias (`*name`) counted as the whole
value it repeats (a few hundred bytes of nested aliases would expand to gigabytes), and an alias
inside the value it names (which never ends) is refused; so neither memory nor recursion
depends on what the file says. (yaml.safe_dump writes aliases for repeated values, so
generated scenarios have them.)
"""

from __future__ import annotations

import copy
import errno
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from ..errors import ScenarioInvalid, Where

MAX_DEPTH = 32  # mappings and lists inside each other (a scenario needs about 8)
MAX_YAML_NODES = 20_000  # keys, values and items in one document (a shipped scenario has about 400)


class FileRefused(Exception):
    """A file that is not read as input; the message says why (a FIFO, a device, too large...)."""


def _kind_of_file(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def read_regular_file(path: str | Path, limit: int | None, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them; FileRefused says why not.

    The file is checked before it is opened (a FIFO or a device is never opened), opened
    non-blocking (a FIFO swapped in meanwhile cannot block), and checked again through the
    open descriptor; at most `limit` + 1 bytes are read, so a file that grows is refused too.
    Without `follow_symlinks` a symbolic link is refused instead of followed.
    """
    try:
        info = os.stat(path, follow_symlinks=follow_symlinks)
    except OSError as exc:
        raise FileRefused(f"cannot read it ({exc.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        raise FileRefused("it is a symbolic link")
    if not stat.S_ISREG(info.st_mode):
        raise FileRefused(f"it is {_kind_of_file(info.st_mode)}; give a regular file")
    if limit is not None and info.st_size > limit:
        raise FileRefused(f"it is {info.st_size} bytes, more than the limit of {_size(limit)}")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow_symlinks else os.O_NOFOLLOW)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        if not follow_symlinks and exc.errno == errno.ELOOP:
            raise FileRefused("it is a symbolic link") from None
        raise FileRefused(f"cannot read it ({exc.strerror})") from None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"it is {_kind_of_file(info.st_mode)}; give a regular file")
        try:
            data = file.read() if limit is None else file.read(limit + 1)
        except OSError as exc:
            raise FileRefused(f"cannot read it ({exc.strerror})") from None
    if limit is not None and len(data) > limit:
        raise FileRefused(f"it is more than the limit of {_size(limit)}")
    return data


def _size(count: int) -> str:
    """A byte count as people say it: 1 MiB, 64 KiB, 300 bytes."""
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return f"{count // size} {unit}"
    return f"{count} bytes"


class SourceMap(dict):
    """A mapping that knows where it, each of its keys and each of its values stand."""

    def __init__(self, where: Where) -> None:
        super().__init__()
        self.where = where
        self.key_where: dict[str, Where] = {}
        self.value_where: dict[str, Where] = {}

    def at(self, key: str) -> Where:
        """Where the value of `key` stands (the mapping itself when the key is absent)."""
        return self.value_where.get(key, self.where)

    def __deepcopy__(self, memo: dict[int, Any]) -> SourceMap:
        clone = SourceMap(self.where)
        for key, value in self.items():
            clone[key] = copy.deepcopy(value, memo)
        clone.key_where = dict(self.key_where)
        clone.value_where = dict(self.value_where)
        return clone


class SourceList(list):
    """A list that knows where it and each of its items stand."""

    def __init__(self, where: Where) -> None:
        super().__init__()
        self.where = where
        self.item_where: list[Where] = []

    def at(self, index: int) -> Where:
        """Where item `index` stands."""
        return self.item_where[index] if index < len(self.item_where) else self.where

    def __deepcopy__(self, memo: dict[int, Any]) -> SourceList:
        clone = SourceList(self.where)
        clone.extend(copy.deepcopy(item, memo) for item in self)
        clone.item_where = list(self.item_where)
        return clone


def one_line(message: str) -> str:
    """`message` with every control character written as an escape (\\n, \\t, \\x1b...): a problem is one
    line, and text from the scenario cannot move the cursor or recolour the terminal."""
    if message.isprintable():
        return message
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in message)


def _refuse(where: Where, message: str) -> ScenarioInvalid:
    """The error of one problem that stops reading the file, as one line."""
    return ScenarioInvalid.at(where, one_line(message))


def _where(file: str, node: yaml.Node) -> Where:
    return Where(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Refused(Exception):
    """Raised while composing: `mark` is where, `message` what is wrong."""

    def __init__(self, mark: Any, message: str) -> None:  # a yaml Mark (None only in theory)
        super().__init__(message)
        self.mark = mark
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, composing at most MAX_DEPTH levels and MAX_YAML_NODES nodes, aliases expanded.

    An alias (*name) counts as the whole value it repeats, in size and in depth, so a few hundred
    bytes of nested aliases (a "billion laughs") are refused at the alias that goes over, before
    anything is expanded; an alias inside the value it names (a loop) is refused too.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0  # of the node being composed
        self.deepest = 0  # the deepest level reached in the value being composed
        self.nodes = 0  # composed so far, each alias counted as the whole value it repeats
        self.open_anchors: set[str] = set()  # anchors whose value is still being composed
        self.sizes: dict[str, int] = {}  # anchor -> how many nodes its value counts
        self.heights: dict[str, int] = {}  # anchor -> how many levels its value has

    def _count(self, count: int, mark: Any, alias: str = "") -> None:
        self.nodes += count
        if self.nodes > MAX_YAML_NODES:
            through = f" (with what alias *{alias} repeats)" if alias else ""
            raise _Refused(
                mark,
                f"the document has more than {MAX_YAML_NODES} keys, values and items{through}; a scenario "
                "this large is not supported: shorten it, or split it into several scenarios",
            )

    def _too_deep(self, levels: int, mark: Any, alias: str = "") -> None:
        if levels > MAX_DEPTH:
            through = f" (with what alias *{alias} repeats)" if alias else ""
            raise _Refused(
                mark,
                f"mappings and lists are nested more than {MAX_DEPTH} levels deep here{through}; "
                "a scenario needs far fewer: flatten this value",
            )

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            anchor = event.anchor
            if anchor in self.open_anchors:
                raise _Refused(
                    event.start_mark,
                    f"alias *{anchor} is inside the value it names (&{anchor}), so it would never end; "
                    "write the value out",
                )
            if anchor in self.sizes:
                self._count(self.sizes[anchor], event.start_mark, anchor)
                self._too_deep(self.depth + self.heights[anchor], event.start_mark, anchor)
                self.deepest = max(self.deepest, self.depth + self.heights[anchor])
            return super().compose_node(parent, index)  # type: ignore[arg-type]  # an unknown alias: ComposerError
        anchor = getattr(event, "anchor", None)
        counted_before = self.nodes
        self._count(1, event.start_mark)
        self.depth += 1
        self._too_deep(self.depth, event.start_mark)
        outer_deepest, self.deepest = self.deepest, self.depth
        if anchor is not None:
            self.open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self.depth -= 1
            if anchor is not None:
                self.open_anchors.discard(anchor)
        if anchor is not None:
            self.sizes[anchor] = self.nodes - counted_before
            self.heights[anchor] = self.deepest - self.depth
        self.deepest = max(outer_deepest, self.deepest)
        return node


def _scalar(file: str, node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    """The value of a scalar, or ScenarioInvalid at its position (bad dates, huge numbers, NUL bytes...)."""
    try:
        value = constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        raise _refuse(_where(file, node), f"cannot read this value: {exc.problem}") from None
    except (ValueError, TypeError, OverflowError) as exc:
        raise _refuse(_where(file, node), f"cannot read this value ({exc}); quote it to make it text") from None
    if isinstance(value, str) and "\0" in value:
        raise _refuse(_where(file, node), "text cannot contain NUL bytes (\\0); remove them")
    return value


def _convert(file: str, node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = SourceMap(_where(file, node))
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise _refuse(_where(file, key_node), "a key must be a plain name, not a list or mapping")
            key = key_node.value
            if "\0" in key:
                raise _refuse(_where(file, key_node), "a key cannot contain NUL bytes (\\0); remove them")
            if key == "<<":
                raise _refuse(_where(file, key_node), "YAML merge keys (<<) are not supported; write the keys out")
            if key in result:
                first = result.key_where[key]
                raise _refuse(
                    _where(file, key_node),
                    f"key '{key}' is given twice (first at line {first.line}); keep one",
                )
            result.key_where[key] = _where(file, key_node)
            result.value_where[key] = _where(file, value_node)
            result[key] = _convert(file, value_node, constructor)
        return result
    if isinstance(node, yaml.SequenceNode):
        sequence = SourceList(_where(file, node))
        for item in node.value:
            sequence.item_where.append(_where(file, item))
            sequence.append(_convert(file, item, constructor))
        return sequence
    return _scalar(file, node, constructor)


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document into SourceMap/SourceList/scalars; raises ScenarioInvalid."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # the reader checks the text at once
        root = loader.get_single_node()
    except _Refused as exc:
        where = Where(file, exc.mark.line + 1, exc.mark.column + 1) if exc.mark else Where(file, 1, 1)
        raise _refuse(where, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(file, mark.line + 1, mark.column + 1) if mark else Where(file, 1, 1)
        problem = exc.problem or exc.context or "not valid YAML"
        raise _refuse(where, f"YAML syntax error: {problem}; check indentation, colons and quotes") from None
    except yaml.YAMLError as exc:
        raise _refuse(Where(file, 1, 1), f"YAML error: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    if root is None:
        raise _refuse(Where(file, 1, 1), "the file is empty; a scenario needs at least 'name' and 'subnets'")
    return _convert(file, root, yaml.constructor.SafeConstructor())


def merge(base: Any, override: Any) -> Any:
    """Deep-merge `override` onto a copy of `base`: mappings merge, anything else replaces.

    Positions come from whichever side supplied the value, so errors in a variant's
    override point at the override.
    """
    if isinstance(base, SourceMap) and isinstance(override, SourceMap):
        result = copy.deepcopy(base)
        for key, value in override.items():
            result[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
            result.key_where[key] = override.key_where[key]
            result.value_where[key] = override.value_where[key]
        return result
    return copy.deepcopy(override)
