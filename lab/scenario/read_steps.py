"""Reading what a scenario does: steps (commands and probes, success rules, `until`) and expectations."""

from __future__ import annotations

import re
from ipaddress import ip_address

from ..errors import Where
from . import model
from .checker import CONTAINER_RE, Checker, closest, kind_of, valid_hostname
from .read_matrix import matches, read_selector
from .source import SourceList, SourceMap

PROBES = ("ping", "tcp", "udp")
MAX_TIMEOUT_S = 3600
# `run` a command, `python` a program run by the lab's own interpreter (the packages pyproject.toml installs), or a probe
ACTIONS = ("run", "python", *PROBES)
STEP_KEYS = {"name", "on", *ACTIONS, "timeout", "success", "until", "description"}
SUCCESS_KEYS = {"exit_code", "output_contains", "output_lacks", "output_count"}
UNTIL_KEYS = {"text", "times", "interval"}
EXPECT_KEYS = {"variant", "when", "node", "step", "ok", "fail"}


def read_steps(
    checker: Checker, document: SourceMap, known_targets: set[str], containers: frozenset[str] = frozenset()
) -> tuple[model.Step, ...]:
    """The steps, in order; a step name may repeat only for other targets. `containers`: the targets that are
    containers, where a python step cannot run."""
    if "steps" not in document or document["steps"] is None:
        return ()
    steps_value = document["steps"]
    if not isinstance(steps_value, SourceList):
        checker.fail(document.at("steps"), "steps must be a list of steps (- name: ..., on: ..., run: ...)")
        return ()
    steps = []
    names: dict[tuple[str | None, str], Where] = {}
    for index, spec in enumerate(steps_value):
        context = f"steps[{index}]"
        if not isinstance(spec, SourceMap):
            checker.fail(
                steps_value.at(index), f"{context} must be a mapping with name, on and one action (run, ping, tcp, udp)"
            )
            continue
        checker.keys(spec, STEP_KEYS, context)
        name = checker.string(spec, "name", context, required=True)
        if name is not None:
            if not CONTAINER_RE.fullmatch(name):
                checker.fail(
                    spec.at("name"),
                    f"{context}: name {name!r} must be letters, digits, '-', '_' or '.', starting with a letter or "
                    "digit, at most 63 characters",
                )
            else:
                context = f"step '{name}'"
            if "--" in name:
                checker.fail(
                    spec.at("name"),
                    f"{context}: name must not contain '--', which separates node and step in the names of "
                    "session files; write '-'",
                )
        on = []
        if "on" not in spec:
            checker.fail(spec.where, f"{context}: 'on' is missing; name the node(s) or container(s) to run it on")
        for target, where in checker.string_list(spec, "on", context):
            if target not in known_targets:
                hint = closest(target, known_targets)
                checker.fail(
                    where,
                    f"{context}.on: no node or container '{target}'" + (f"; did you mean '{hint}'?" if hint else ""),
                )
            elif (name, target) in names:
                checker.fail(
                    where,
                    f"{context}: already runs on {target} (line {names[(name, target)].line}); a step name "
                    "may repeat only for other nodes (to give each node its own command)",
                )
            else:
                names[(name, target)] = where
                on.append(target)
        actions = [key for key in ACTIONS if key in spec]
        if len(actions) != 1:
            checker.fail(
                spec.where,
                f"{context}: give exactly one action of: {', '.join(ACTIONS)} (found {', '.join(actions) or 'none'})",
            )
            continue
        kind = actions[0]
        action = None
        if kind in ("run", "python"):
            argv = checker.argv(spec, kind, context)
            in_containers = [target for target in on if target in containers]
            if kind == "python" and in_containers:
                checker.fail(
                    spec.at("on"),
                    f"{context}: a python step runs with the lab's own interpreter, which containers do not have "
                    f"(they see only the machine's /usr): run it on a node, not on {', '.join(in_containers)}",
                )
            action = model.Action(kind, argv=argv) if argv else None
        elif kind == "ping":
            ping_target = checker.string(spec, "ping", context)
            if ping_target is not None and not _probe_host(ping_target):
                checker.fail(
                    spec.at("ping"),
                    f"{context}.ping: {ping_target!r} is not an IPv4 address or a host name; write it like "
                    "10.0.31.2 or taosnode1",
                )
            elif ping_target:
                action = model.Action("ping", host=ping_target)
        else:
            text = checker.string(spec, kind, context) or ""
            host, _, port = text.rpartition(":")
            if not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
                checker.fail(spec.at(kind), f"{context}.{kind}: {text!r} must be HOST:PORT, like 10.0.31.2:16030")
            elif not _probe_host(host):
                checker.fail(
                    spec.at(kind),
                    f"{context}.{kind}: {host!r} is not an IPv4 address or a host name; write HOST:PORT like "
                    "10.0.31.2:16030 or taosnode1:6030",
                )
            else:
                action = model.Action(kind, host=host, port=int(port))
        timeout = checker.number(spec, "timeout", context, 10.0, 0.1, MAX_TIMEOUT_S)
        success = model.SuccessRule()
        if "success" in spec:
            rule = checker.mapping(spec, "success", context)
            if rule is not None:
                checker.keys(rule, SUCCESS_KEYS, f"{context}.success")
                exit_code: int | None = 0
                if "exit_code" in rule:
                    if rule["exit_code"] == "any":
                        exit_code = None
                    else:
                        exit_code = checker.number(rule, "exit_code", f"{context}.success", 0, 0, 255, integer=True)
                counts = []
                count_map = checker.mapping(rule, "output_count", f"{context}.success") or SourceMap(rule.where)
                for text, _ in count_map.items():
                    times = checker.number(
                        count_map, text, f"{context}.success.output_count", None, 1, 10000, integer=True
                    )
                    if times is not None:
                        counts.append((str(text), times))
                success = model.SuccessRule(
                    exit_code=exit_code,
                    output_count=tuple(counts),
                    output_contains=tuple(
                        t for t, _ in checker.string_list(rule, "output_contains", f"{context}.success")
                    ),
                    output_lacks=tuple(t for t, _ in checker.string_list(rule, "output_lacks", f"{context}.success")),
                )
        until = None
        if "until" in spec:
            rule = checker.mapping(spec, "until", context)
            if rule is not None:
                checker.keys(rule, UNTIL_KEYS, f"{context}.until")
                until_text = checker.string(rule, "text", f"{context}.until", required=True)
                times = checker.number(rule, "times", f"{context}.until", 1, 1, 10000, integer=True)
                interval = checker.number(rule, "interval", f"{context}.until", 0.5, 0.05, 60)
                if interval is not None and timeout is not None and interval >= timeout:
                    checker.fail(
                        rule.at("interval") if "interval" in rule else rule.where,
                        f"{context}.until: the interval ({interval:g}s) is not shorter than the step's timeout "
                        f"({timeout:g}s), so the step would be tried only once; shorten the interval or "
                        "lengthen the timeout",
                    )
                elif until_text and times and interval:
                    until = model.Until(until_text, times, interval)
        description = checker.string(spec, "description", context) or ""
        if name and action and on and timeout:
            steps.append(model.Step(name, tuple(on), action, float(timeout), success, until, description))
    return tuple(steps)


def _probe_host(text: str) -> bool:
    """Whether a probe may be sent to `text`: an IPv4 address or a host name (never an option like -f)."""
    try:
        return ip_address(text).version == 4
    except ValueError:
        return valid_hostname(text)


def read_expectations(
    checker: Checker,
    document: SourceMap,
    variant: str,
    variant_names: set[str],
    steps: tuple[model.Step, ...],
    coordinates: tuple[tuple[str, str], ...] = (),
    axes: tuple[model.Axis, ...] = (),
) -> tuple[tuple[str, str, model.Expectation], ...]:
    """The expectations of one variant as (node, step, expectation); a later rule overrides an earlier one.

    A rule with `when: {axis: value or [values], ...}` holds for the matrix's combinations it selects.
    """
    if "expect" not in document or document["expect"] is None:
        return ()
    rules = document["expect"]
    if not isinstance(rules, SourceList):
        checker.fail(
            document.at("expect"),
            "expect must be a list of rules like '- {step: show-dnodes, node: remote-client, fail: Unable}'",
        )
        return ()
    step_nodes: dict[str, list[str]] = {}
    for step in steps:
        step_nodes.setdefault(step.name, []).extend(step.on)
    node_sets = {name: set(nodes) for name, nodes in step_nodes.items()}
    step_order = {name: number for number, name in enumerate(step_nodes)}
    # A later rule overrides an earlier one; a pair keeps the place where a rule first named it.
    # Rules for all nodes of a step (or of every step) are kept per step (or once) instead of per
    # pair, so the work grows with rules plus pairs, not with their product.
    # Each record is ((rule, step's place in the rule, node's place), expectation) of first and last rule.
    Mark = tuple[int, int, int]
    every_step: list[tuple[Mark, model.Expectation]] = []  # rules naming neither step nor node
    whole_step: dict[str, list[tuple[Mark, model.Expectation]]] = {}  # rules naming a step, no node
    pairs: dict[tuple[str, str], list[tuple[Mark, model.Expectation]]] = {}  # rules naming nodes

    def note(records: list[tuple[Mark, model.Expectation]], mark: Mark, expectation: model.Expectation) -> None:
        if not records:
            records.append((mark, expectation))
        records[1:] = [(mark, expectation)]

    for index, rule in enumerate(rules):
        context = f"expect[{index}]"
        if not isinstance(rule, SourceMap):
            checker.fail(rules.at(index), f"{context} must be a mapping with step, and ok or fail")
            continue
        checker.keys(rule, EXPECT_KEYS, context)
        if ("ok" in rule) == ("fail" in rule):
            checker.fail(
                rule.where, f"{context}: give exactly one of 'ok: true' or 'fail: TEXT THE OUTPUT MUST CONTAIN'"
            )
            continue
        if "ok" in rule and rule["ok"] is not True:
            checker.fail(rule.at("ok"), f"{context}.ok must be true; to expect a failure write 'fail: TEXT'")
            continue
        if "fail" in rule and (isinstance(rule["fail"], (SourceMap, SourceList)) or rule["fail"] is None):
            checker.fail(
                rule.at("fail"),
                f"{context}.fail must be the text the failing output contains (or true), not {kind_of(rule['fail'])}",
            )
            continue
        expectation = (
            model.Expectation()
            if "ok" in rule
            else model.Expectation(ok=False, contains="" if rule["fail"] is True else str(rule["fail"]))
        )
        variants = [v for v, _ in checker.string_list(rule, "variant", context)]
        for name, where in checker.string_list(rule, "variant", context):
            if name not in variant_names:
                checker.fail(
                    where, f"{context}.variant: no variant '{name}'; variants are: {', '.join(sorted(variant_names))}"
                )
        if variants and variant not in variants:
            continue
        when = read_selector(checker, rule, "when", axes, context)
        if when is not None and not matches(when, coordinates):
            continue
        named_steps = checker.string_list(rule, "step", context)
        named_nodes = checker.string_list(rule, "node", context)
        if not named_steps and not named_nodes:
            note(every_step, (index, -1, -1), expectation)
            continue
        wanted_steps = named_steps or [(s, rule.where) for s in step_nodes]
        for step_place, (step_name, where) in enumerate(wanted_steps):
            if step_name not in step_nodes:
                checker.fail(where, f"{context}.step: no step '{step_name}'")
                continue
            if not named_nodes:
                note(whole_step.setdefault(step_name, []), (index, step_place, -1), expectation)
                continue
            for node_place, (node_name, node_where) in enumerate(named_nodes):
                if node_name not in node_sets[step_name]:
                    runs_on = step_nodes[step_name]
                    checker.fail(
                        node_where,
                        f"{context}.node: step '{step_name}' does not run on '{node_name}' "
                        f"(it runs on {', '.join(runs_on[:10])}{', ...' if len(runs_on) > 10 else ''})",
                    )
                    continue
                note(pairs.setdefault((node_name, step_name), []), (index, step_place, node_place), expectation)

    result: list[tuple[Mark, str, str, model.Expectation]] = []
    for step_name, nodes in step_nodes.items():
        for node_place, node_name in enumerate(dict.fromkeys(nodes)):
            records = [
                *(((r, step_order[step_name], node_place), e) for (r, _, _), e in every_step),
                *(((r, k, node_place), e) for (r, k, _), e in whole_step.get(step_name, [])),
                *pairs.get((node_name, step_name), []),
            ]
            if records:
                first = min(mark for mark, _ in records)
                last = max(records, key=lambda record: record[0])[1]
                result.append((first, node_name, step_name, last))
    result.sort(key=lambda item: item[0])
    return tuple((node, step, expectation) for _, node, step, expectation in result)
