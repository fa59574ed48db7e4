"""A scenario's `matrix:` — named axes of named overrides — expanded into one variant per combination.

    matrix:
      axes:
        server_ports:                       # an axis: named values
          same: {vars: {port2: 6030}}       # a value: an override, as a variant's `set`
          distinct: {vars: {port2: 7030}}
        publishing:
          identical: {vars: {host2: 7030}}
          shifted: {vars: {host2: 26030}}
      exclude:
        - {server_ports: same, publishing: identical}   # a value, or a list of values, per axis

Each combination that no `exclude` rule matches becomes a variant named after its coordinates,
`server_ports=same,publishing=shifted` (axes in the file's order); its overrides are merged onto
the scenario axis by axis. A matrix replaces `variants:` (a scenario has one or the other), and
no two axes may set the same key in one combination (an error names both): the result never
depends on the order of the axes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import Where
from . import model
from .checker import Checker, closest
from .source import SourceList, SourceMap

MATRIX_KEYS = {"axes", "exclude"}
MAX_AXES = 6
MAX_COMBINATIONS = 64  # each combination is a whole deployment, read (and built) on its own
MAX_NAME_CHARS = 200  # a combination's name names a folder of the run's results (255 bytes at most)
AXIS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


@dataclass(frozen=True)
class Combination:
    """One point of the matrix: its coordinates (axis, value) and each axis value's override."""

    coordinates: tuple[tuple[str, str], ...]
    overrides: tuple[SourceMap | None, ...]

    @property
    def name(self) -> str:
        """The variant's name: `axis=value,axis=value`."""
        return variant_name(self.coordinates)


def variant_name(coordinates: tuple[tuple[str, str], ...]) -> str:
    """The name of the variant at `coordinates`."""
    return ",".join(f"{axis}={value}" for axis, value in coordinates)


def _leaves(node: object, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Where]]:
    """The keys an override sets, as paths to the values it replaces (mappings merge, anything else replaces)."""
    if isinstance(node, SourceMap):
        for key, value in node.items():
            if isinstance(value, SourceMap) and value:
                yield from _leaves(value, (*path, str(key)))
            else:
                yield (*path, str(key)), node.key_where[key]


def _overlap(first: tuple[str, ...], second: tuple[str, ...]) -> bool:
    shorter = min(len(first), len(second))
    return first[:shorter] == second[:shorter]


def _selector(
    checker: Checker, rule: SourceMap, axes: dict[str, dict[str, SourceMap | None]], context: str
) -> dict[str, set[str]]:
    """An axis -> allowed values rule (`exclude` items, an expectation's `when`), checked against the axes."""
    selector: dict[str, set[str]] = {}
    for axis, wanted in rule.items():
        if axis not in axes:
            hint = closest(str(axis), axes)
            checker.fail(
                rule.key_where[axis],
                f"{context}: no axis '{axis}'"
                + (f" (did you mean '{hint}'?)" if hint else "")
                + f"; axes are: {', '.join(axes)}",
            )
            continue
        values: list[tuple[object, Where]] = (
            [(item, wanted.at(i)) for i, item in enumerate(wanted)]
            if isinstance(wanted, SourceList)
            else [(wanted, rule.at(axis))]
        )
        chosen = set()
        for value, where in values:
            if str(value) not in axes[axis] or isinstance(value, (SourceMap, SourceList)):
                checker.fail(
                    where,
                    f"{context}.{axis}: no value {value!r} on this axis; its values are: {', '.join(axes[axis])}",
                )
                continue
            chosen.add(str(value))
        selector[axis] = chosen
    return selector


def matches(selector: dict[str, set[str]], coordinates: tuple[tuple[str, str], ...]) -> bool:
    """Whether the combination at `coordinates` is one the selector picks (every axis it names agrees)."""
    values = dict(coordinates)
    return all(values.get(axis) in allowed for axis, allowed in selector.items())


def read_selector(
    checker: Checker, rule: SourceMap, key: str, axes: tuple[model.Axis, ...], context: str
) -> dict[str, set[str]] | None:
    """The `when:` of an expectation rule (None when it has none); refused without a matrix."""
    if key not in rule:
        return None
    value = rule[key]
    if not isinstance(value, SourceMap):
        checker.fail(rule.at(key), f"{context}.{key} must be a mapping like {{server_ports: distinct}}")
        return {}
    if not axes:
        checker.fail(rule.at(key), f"{context}.{key}: the scenario has no 'matrix', so there are no axes to select")
        return {}
    return _selector(checker, value, {a.name: dict.fromkeys(a.values) for a in axes}, f"{context}.{key}")


def read_matrix(
    checker: Checker, document: SourceMap, override_keys: set[str]
) -> tuple[tuple[model.Axis, ...], list[Combination]]:
    """The matrix's axes and the combinations it keeps; ((), []) when the scenario has no matrix."""
    spec = checker.mapping(document, "matrix", "scenario")
    if not spec:
        return (), []
    checker.keys(spec, MATRIX_KEYS, "matrix")
    axes_map = checker.mapping(spec, "axes", "matrix", required=True)
    if not axes_map:
        if axes_map is not None and "axes" in spec:
            checker.fail(spec.at("axes"), "matrix.axes must name at least one axis, each with its values")
        return (), []
    if len(axes_map) > MAX_AXES:
        checker.fail(axes_map.where, f"matrix.axes: {len(axes_map)} axes; at most {MAX_AXES} are supported")
        return (), []
    axes: dict[str, dict[str, SourceMap | None]] = {}
    for axis, values in axes_map.items():
        context = f"matrix.axes.{axis}"
        if not AXIS_RE.fullmatch(str(axis)):
            checker.fail(
                axes_map.key_where[axis],
                f"axis name {axis!r} is not usable: letters, digits, '-' or '_', at most 32 characters "
                "(it names the variants, as axis=value)",
            )
            continue
        if not isinstance(values, SourceMap) or not values:
            checker.fail(axes_map.at(axis), f"{context} must be a mapping of named values, each an override")
            continue
        axes[axis] = {}
        for value, override in values.items():
            if not AXIS_RE.fullmatch(str(value)):
                checker.fail(
                    values.key_where[value],
                    f"{context}: value name {value!r} is not usable: letters, digits, '-' or '_', at most 32 "
                    "characters (it names the variants, as axis=value)",
                )
                continue
            if override is not None and not isinstance(override, SourceMap):
                checker.fail(
                    values.at(value),
                    f"{context}.{value} must be an override like {{vars: {{port: 7030}}}} (as a variant's 'set')",
                )
                override = None  # the value still exists for `exclude` and `when`; the scenario is refused
            if override is not None:
                checker.keys(override, override_keys, f"{context}.{value}")
            axes[axis][str(value)] = override
    if not axes:
        return (), []

    excluded: list[dict[str, set[str]]] = []
    exclude = spec.get("exclude")
    if exclude is not None:
        if not isinstance(exclude, SourceList):
            checker.fail(spec.at("exclude"), "matrix.exclude must be a list of rules like {server_ports: same}")
        else:
            for index, rule in enumerate(exclude):
                if not isinstance(rule, SourceMap) or not rule:
                    checker.fail(exclude.at(index), f"matrix.exclude[{index}] must be a mapping axis: value(s)")
                    continue
                selector = _selector(checker, rule, axes, f"matrix.exclude[{index}]")
                if len(selector) == len(rule):  # a rule naming an unknown axis excludes nothing (and is reported)
                    excluded.append(selector)

    combinations = []
    for values in itertools.product(*(list(v.items()) for v in axes.values())):
        coordinates = tuple((axis, value) for axis, (value, _) in zip(axes, values, strict=True))
        if not any(matches(rule, coordinates) for rule in excluded):
            combinations.append(Combination(coordinates, tuple(override for _, override in values)))
    if not combinations:
        checker.fail(spec.at("exclude"), "matrix.exclude excludes every combination; nothing would run")
    elif len(combinations) > MAX_COMBINATIONS:
        checker.fail(
            axes_map.where,
            f"the matrix has {len(combinations)} combinations; at most {MAX_COMBINATIONS} are supported "
            "(each is a whole deployment): exclude some, or split the scenario",
        )
        return (), []
    longest = max(combinations, key=lambda c: len(c.name), default=None)
    if longest is not None and len(longest.name) > MAX_NAME_CHARS:
        checker.fail(
            axes_map.where,
            f"combination name '{longest.name[:60]}...' is {len(longest.name)} characters; at most "
            f"{MAX_NAME_CHARS} (it names a folder): shorten axis or value names",
        )
    _check_conflicts(checker, axes, combinations)
    return tuple(model.Axis(axis, tuple(values)) for axis, values in axes.items()), combinations


def _check_conflicts(
    checker: Checker, axes: dict[str, dict[str, SourceMap | None]], combinations: list[Combination]
) -> None:
    """No two axes may set the same key in a combination that is kept: which one would win is not obvious."""
    kept = dict.fromkeys(pair for c in combinations for pair in itertools.combinations(c.coordinates, 2))
    names = list(axes)
    reported: set[tuple[str, str, tuple[str, ...]]] = set()  # once per pair of axes and key
    leaves = {(axis, value): list(_leaves(override, ())) for axis in axes for value, override in axes[axis].items()}
    for first, second in kept:
        (axis_a, value_a), (axis_b, value_b) = first, second
        for path_a, where_a in leaves[first]:
            for path_b, where_b in leaves[second]:
                path = max(path_a, path_b, key=len)
                if not _overlap(path_a, path_b) or (axis_a, axis_b, path) in reported:
                    continue
                reported.add((axis_a, axis_b, path))
                checker.fail(
                    where_b,
                    f"matrix: axes '{axis_a}' ({value_a}, line {where_a.line}) and '{axis_b}' ({value_b}) both set "
                    f"'{'.'.join(path)}'; let one axis set each key "
                    f"(axes: {', '.join(names)})",
                )
                break
