"""Scenario file -> validated model. Every mistake is reported with file, line and column.

Loading never touches the machine: it reads the scenario file (and files it refers to
with `from:`), checks everything, and returns plain data or raises ScenarioInvalid with
all the problems found. The generic checks are in checker.py; the network, Docker and
steps parts are read by read_network.py, read_docker.py and read_steps.py; node kinds and
software come from their registries (lab/kinds, lab/software).
"""

from __future__ import annotations

import copy
import hashlib
import re
from pathlib import Path
from typing import Any

from .. import kinds
from ..errors import Problem, ScenarioInvalid, Where
from ..software import SOFTWARE
from ..software.base import HOME_MODE
from . import model
from .checker import Checker
from .read_matrix import read_matrix
from .read_network import check_unique_addresses, read_captures, read_node_fields, read_subnets
from .read_steps import read_expectations, read_steps
from .source import FileRefused, SourceList, SourceMap, load_yaml, merge, read_regular_file

MAX_SCENARIO_BYTES = 1 << 20  # 1 MiB: a shipped scenario is about 6 KiB
MAX_VARIANTS = 16  # each variant is a whole deployment, read (and built) on its own
MAX_EXPANDED_CHARS = 8 << 20  # text that ${name} references may add to one variant, in all
VAR_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
VAR_REF_RE = re.compile(r"\$\{([^}]*)\}")
# A variant names a folder beside results.json, outcomes.csv...: no '.', so never one of those files.
VARIANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
TOP_KEYS = {
    "name",
    "description",
    "software",
    "vars",
    "subnets",
    "steps",
    "expect",
    "captures",
    "variants",
    "matrix",
    *(kind.section for kind in kinds.KINDS),
}
VARIANT_KEYS = {"description", "set"}
OVERRIDE_KEYS = TOP_KEYS - {"name", "variants", "matrix", "description"}  # what a variant or an axis value sets


class _Budget:
    """How many more characters ${name} references may add to a variant (MAX_EXPANDED_CHARS in all)."""

    def __init__(self) -> None:
        self.left = MAX_EXPANDED_CHARS
        self.spent = False  # reported once, then nothing more is substituted


def _substitute(node: Any, variables: dict[str, Any], checker: Checker, where: Where, budget: _Budget) -> Any:
    """Replace ${name} in every text; a text that is only ${name} takes the value's type.

    What the references add is bounded (`budget`): a long value referenced many times is refused
    instead of growing the scenario without bound.
    """
    if isinstance(node, SourceMap):
        for key in list(node):
            node[key] = _substitute(node[key], variables, checker, node.at(key), budget)
        return node
    if isinstance(node, SourceList):
        for index in range(len(node)):
            node[index] = _substitute(node[index], variables, checker, node.at(index), budget)
        return node
    if not isinstance(node, str) or "${" not in node:
        return node
    whole = VAR_REF_RE.fullmatch(node)
    if whole and whole.group(1) in variables:
        return variables[whole.group(1)]  # the value itself: nothing is copied
    pieces: list[str] = []
    position = 0
    for match in VAR_REF_RE.finditer(node):
        name = match.group(1)
        pieces.append(node[position : match.start()])
        position = match.end()
        if name not in variables:
            known = ", ".join(sorted(variables)) or "none defined"
            checker.fail(where, f"unknown variable ${{{name}}}; define it under 'vars' (known: {known})")
            pieces.append(match.group(0))
            continue
        value = str(variables[name])
        budget.left -= len(value)
        if budget.left < 0:
            if budget.spent:
                return node
            budget.spent = True
            checker.fail(
                where,
                f"${{...}} references add more than {MAX_EXPANDED_CHARS >> 20} MiB of text to this variant; "
                "reference long values fewer times, or put the text in a file read with 'from:'",
            )
            return node
        pieces.append(value)
    pieces.append(node[position:])
    return "".join(pieces)


def load_scenario(path: str | Path) -> model.Scenario:
    """Read and validate a scenario file; raises ScenarioInvalid."""
    path = Path(path)
    display = str(path)
    try:
        raw_bytes = read_regular_file(path, MAX_SCENARIO_BYTES)
    except FileRefused as exc:
        raise ScenarioInvalid.at(Where(display, 1, 1), f"cannot use the scenario file: {exc}") from None
    try:
        text = raw_bytes.decode()
    except UnicodeDecodeError:
        raise ScenarioInvalid.at(Where(display, 1, 1), "the file is not UTF-8 text") from None
    document = load_yaml(text, display)
    if not isinstance(document, SourceMap):
        raise ScenarioInvalid.at(
            Where(display, 1, 1), "a scenario must be a mapping with keys like name, subnets, hosts, steps"
        )
    checker = Checker(path.parent)
    checker.keys(document, TOP_KEYS, "scenario")
    name = checker.string(document, "name", "scenario", required=True)
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        checker.fail(
            document.at("name"),
            f"scenario name {name!r} must be letters, digits, '-', '_' or '.' (it names the results folder)",
        )
    description = checker.string(document, "description", "scenario") or ""

    variants_map = checker.mapping(document, "variants", "scenario") or SourceMap(document.where)
    if variants_map and document.get("matrix"):
        checker.fail(
            document.key_where["matrix"],
            "give either 'matrix' or 'variants', not both: a matrix makes the variants (one per combination); "
            "turn each variant into a value of an axis",
        )
    axes, combinations = read_matrix(checker, document, OVERRIDE_KEYS)
    # (name, description, overrides merged in order, coordinates)
    overrides: list[tuple[str, str, tuple[SourceMap | None, ...], tuple[tuple[str, str], ...]]] = []
    if len(variants_map) > MAX_VARIANTS:
        raise ScenarioInvalid.at(
            variants_map.where,
            f"the scenario has {len(variants_map)} variants; at most {MAX_VARIANTS} are supported "
            "(each is a whole deployment): split it into several scenarios",
        )
    for variant_name, spec in variants_map.items():
        where = variants_map.key_where[variant_name]
        if isinstance(variant_name, str) and not VARIANT_RE.fullmatch(variant_name):
            checker.fail(
                where,
                f"variant name {variant_name!r} is not usable: letters, digits, '-' or '_', starting with a "
                "letter or digit, at most 63 characters (it names a folder of the run's results)",
            )
        if spec is None:
            overrides.append((variant_name, "", (), ()))
            continue
        if not isinstance(spec, SourceMap):
            checker.fail(
                variants_map.at(variant_name),
                f"variant '{variant_name}' must be a mapping with 'description' and 'set'",
            )
            continue
        checker.keys(spec, VARIANT_KEYS, f"variants.{variant_name}")
        override = checker.mapping(spec, "set", f"variants.{variant_name}")
        if override is not None:
            checker.keys(override, OVERRIDE_KEYS, f"variants.{variant_name}.set")
        overrides.append(
            (variant_name, checker.string(spec, "description", f"variants.{variant_name}") or "", (override,), ())
        )
    if combinations and not variants_map:
        overrides = [(c.name, "", c.overrides, c.coordinates) for c in combinations]
    if not overrides:
        overrides.append(("default", "", (), ()))

    variants = []
    names = {name for name, _, _, _ in overrides}
    for variant_name, variant_description, parts, coordinates in overrides:
        merged = document
        for override in parts:
            merged = merge(merged, override) if override else merged
        variants.append(_read_variant(checker, merged, variant_name, variant_description, names, coordinates, axes))
    if checker.problems:
        problems = checker.problems
        if checker.more_problems:
            last = max(problems, key=lambda p: (p.where.line, p.where.column)).where
            problems = [
                *problems,
                Problem(
                    Where(display, last.line, last.column),
                    f"and {checker.more_problems} more problem(s) not shown; fix these first",
                ),
            ]
        raise ScenarioInvalid(problems)
    assert name is not None  # a missing or unusable name is a problem, raised just above
    return model.Scenario(
        name=name,
        description=description,
        path=str(path.resolve()),
        sha256=hashlib.sha256(raw_bytes).hexdigest(),
        variants=tuple(variants),
        axes=axes,
    )


def _read_variant(
    checker: Checker,
    document: SourceMap,
    variant: str,
    description: str,
    variant_names: set[str],
    coordinates: tuple[tuple[str, str], ...] = (),
    axes: tuple[model.Axis, ...] = (),
) -> model.Variant:
    checker.published_ports = 0
    variables = {}
    vars_map = checker.mapping(document, "vars", "scenario") or SourceMap(document.where)
    for key, value in vars_map.items():
        if not VAR_NAME_RE.fullmatch(str(key)):
            checker.fail(vars_map.key_where[key], f"variable name {key!r} must be letters, digits and '_'")
        elif isinstance(value, (SourceMap, SourceList)) or value is None:
            checker.fail(vars_map.at(key), f"variable '{key}' must be a single value (text or number)")
        else:
            variables[key] = value
    body = copy.deepcopy(document)
    for key in ("vars", "variants", "matrix"):
        body.pop(key, None)
    body = _substitute(body, variables, checker, document.where, _Budget())

    deployment = _read_deployment(checker, body)
    known_targets = {node.name for node in deployment.nodes} | {c.name for c in deployment.containers}
    steps = read_steps(checker, body, known_targets, frozenset(c.name for c in deployment.containers))
    expectations = read_expectations(checker, body, variant, variant_names, steps, coordinates, axes)
    captures = read_captures(checker, body, deployment)
    return model.Variant(variant, description, deployment, steps, expectations, captures, coordinates)


def _read_software(checker: Checker, document: SourceMap) -> tuple[model.SoftwareChoice, ...]:
    """One choice per known software: the scenario's, or the software's default."""
    software_map = checker.mapping(document, "software", "scenario") or SourceMap(document.where)
    known = {software.name: software for software in SOFTWARE}
    for key in software_map:
        if key not in known:
            checker.fail(software_map.key_where[key], f"software: unknown '{key}'; known: {', '.join(known)}")
    choices = []
    for software in SOFTWARE:
        value = software_map.get(software.name, software.default)
        context = f"software.{software.name}"
        if isinstance(value, SourceMap) and HOME_MODE in software.modes:
            checker.keys(value, {HOME_MODE}, context)
            if HOME_MODE not in value:
                checker.fail(
                    value.where, f"{context}: give {{{HOME_MODE}: DIR}}, the folder of the software's programs"
                )
                continue
            folder = checker.local_dir(value, HOME_MODE, context)
            if folder is not None:
                choices.append(software.choice(HOME_MODE, str(folder)))
            continue
        if value not in software.modes or value == HOME_MODE:
            modes = [m for m in software.modes if m != HOME_MODE]
            home = f", or {{{HOME_MODE}: DIR}} (a folder of the software)" if HOME_MODE in software.modes else ""
            checker.fail(
                software_map.at(software.name), f"{context}: {value!r} is not one of: {', '.join(modes)}{home}"
            )
            value = software.default
        choices.append(software.choice(value))
    return tuple(choices)


def _read_deployment(checker: Checker, document: SourceMap) -> model.Deployment:
    subnets = read_subnets(checker, document)
    software = _read_software(checker, document)
    nodes = []
    specs: dict[str, SourceMap] = {}
    seen: dict[str, Where] = {}
    for kind in kinds.KINDS:
        section_map = checker.mapping(document, kind.section, "scenario") or SourceMap(document.where)
        for node_name, spec in section_map.items():
            where = section_map.key_where[node_name]
            context = f"{kind.section}.{node_name}"
            if checker.name(node_name, where, "node") is None:
                continue
            if node_name in subnets:
                checker.fail(
                    where,
                    f"node name '{node_name}' is also the name of a subnet (each subnet's switch has a port per "
                    "node, named after it, beside a bridge named after the subnet); rename one of them",
                )
                continue
            if "--" in node_name:
                checker.fail(
                    where,
                    f"node name '{node_name}' must not contain '--', which separates node and step in the names "
                    "of session files; write '-'",
                )
                continue
            if node_name in seen:
                checker.fail(
                    where,
                    f"node name '{node_name}' is used twice (first at line {seen[node_name].line}); names must be unique",
                )
                continue
            seen[node_name] = where
            if not isinstance(spec, SourceMap):
                checker.fail(section_map.at(node_name), f"{context} must be a mapping with at least 'interfaces'")
                continue
            checker.keys(spec, kind.keys, context)
            fields = read_node_fields(checker, spec, node_name, kind.name, context, subnets)
            nodes.append(kind.read(checker, spec, context, subnets, fields))
            specs[node_name] = spec
    check_unique_addresses(checker, specs, nodes)
    _check_container_names(checker, specs, nodes)
    return model.Deployment(tuple(model.Subnet(n, net) for n, net in subnets.items()), tuple(nodes), software)


def _check_container_names(checker: Checker, specs: dict[str, SourceMap], nodes: list[model.Node]) -> None:
    """A container name names one thing: steps run `on` it, and session files are named after it."""
    owners = {node.name: f"node {node.name}" for node in nodes}
    for node in nodes:
        if not isinstance(node, model.DockerHost) or not node.containers:
            continue
        where_of = specs[node.name]["containers"].key_where
        for container in node.containers:
            where = where_of[container.name]
            if container.name in owners:
                checker.fail(
                    where,
                    f"container name '{container.name}' is already the name of {owners[container.name]}; "
                    "steps name their targets, so every node and container needs its own name",
                )
            elif "--" in container.name:
                checker.fail(
                    where,
                    f"container name '{container.name}' must not contain '--', which separates node and step "
                    "in the names of session files; write '-'",
                )
            else:
                owners[container.name] = f"container {container.name} on {node.name}"
