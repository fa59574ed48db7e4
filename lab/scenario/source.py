"""YAML with positions: mappings and lists that remember where each value was written.

The loader turns a YAML document into plain dicts and lists (subclasses that carry the
file, line and column of every key and value), so that validation can point at the exact
place of a mistake while working on ordinary Python data.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from ..errors import ScenarioInvalid, Where


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


def _where(file: str, node: yaml.Node) -> Where:
    return Where(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _convert(file: str, node: yaml.Node, constructor: yaml.constructor.SafeConstructor) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = SourceMap(_where(file, node))
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise ScenarioInvalid.at(_where(file, key_node), "a key must be a plain name, not a list or mapping")
            key = key_node.value
            if key == "<<":
                raise ScenarioInvalid.at(
                    _where(file, key_node), "YAML merge keys (<<) are not supported; write the keys out"
                )
            if key in result:
                first = result.key_where[key]
                raise ScenarioInvalid.at(
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
    return constructor.construct_object(node, deep=True)


def load_yaml(text: str, file: str) -> Any:
    """Parse one YAML document into SourceMap/SourceList/scalars; raises ScenarioInvalid."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Where(file, mark.line + 1, mark.column + 1) if mark else Where(file, 1, 1)
        problem = exc.problem or exc.context or "not valid YAML"
        raise ScenarioInvalid.at(where, f"YAML syntax error: {problem}; check indentation, colons and quotes") from None
    except yaml.YAMLError as exc:
        raise ScenarioInvalid.at(Where(file, 1, 1), f"YAML error: {exc}") from None
    if root is None:
        raise ScenarioInvalid.at(Where(file, 1, 1), "the file is empty; a scenario needs at least 'name' and 'subnets'")
    constructor = yaml.constructor.SafeConstructor()
    try:
        return _convert(file, root, constructor)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = Where(file, mark.line + 1, mark.column + 1) if mark else Where(file, 1, 1)
        raise ScenarioInvalid.at(where, f"cannot read this value: {exc.problem}") from None


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
