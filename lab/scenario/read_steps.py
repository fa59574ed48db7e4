"""Reading what a scenario does: steps (commands and probes, success rules, `until`) and expectations."""

from __future__ import annotations

from ..errors import Where
from . import model
from .checker import CONTAINER_RE, Checker, closest
from .source import SourceList, SourceMap

PROBES = ("ping", "tcp", "udp")
MAX_TIMEOUT_S = 3600
STEP_KEYS = {"name", "on", "run", "ping", "tcp", "udp", "timeout", "success", "until", "description"}
SUCCESS_KEYS = {"exit_code", "output_contains", "output_lacks", "output_count"}
UNTIL_KEYS = {"text", "times", "interval"}
EXPECT_KEYS = {"variant", "node", "step", "ok", "fail"}


def read_steps(checker: Checker, document: SourceMap, known_targets: set[str]) -> tuple[model.Step, ...]:
    """The steps, in order; a step name may repeat only for other targets."""
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
            context = f"step '{name}'"
            if not CONTAINER_RE.match(name):
                checker.fail(spec.at("name"), f"{context}: name must be letters, digits, '-', '_' or '.'")
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
        actions = [key for key in ("run", *PROBES) if key in spec]
        if len(actions) != 1:
            checker.fail(
                spec.where,
                f"{context}: give exactly one action of: run, ping, tcp, udp (found {', '.join(actions) or 'none'})",
            )
            continue
        kind = actions[0]
        action = None
        if kind == "run":
            argv = checker.argv(spec, "run", context)
            action = model.Action("run", argv=argv) if argv else None
        elif kind == "ping":
            ping_target = checker.string(spec, "ping", context)
            action = model.Action("ping", host=ping_target) if ping_target else None
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
                if until_text and times and interval:
                    until = model.Until(until_text, times, interval)
        description = checker.string(spec, "description", context) or ""
        if name and action and on and timeout:
            steps.append(model.Step(name, tuple(on), action, float(timeout), success, until, description))
    return tuple(steps)


def read_expectations(
    checker: Checker, document: SourceMap, variant: str, variant_names: set[str], steps: tuple[model.Step, ...]
) -> tuple[tuple[str, str, model.Expectation], ...]:
    """The expectations of one variant as (node, step, expectation); a later rule overrides an earlier one."""
    if "expect" not in document or document["expect"] is None:
        return ()
    rules = document["expect"]
    if not isinstance(rules, SourceList):
        checker.fail(
            document.at("expect"),
            "expect must be a list of rules like '- {step: show-dnodes, node: remote-client, fail: Unable}'",
        )
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
            checker.fail(
                rule.where, f"{context}: give exactly one of 'ok: true' or 'fail: TEXT THE OUTPUT MUST CONTAIN'"
            )
            continue
        if "ok" in rule and rule["ok"] is not True:
            checker.fail(rule.at("ok"), f"{context}.ok must be true; to expect a failure write 'fail: TEXT'")
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
        wanted_steps = checker.string_list(rule, "step", context) or [(s, rule.where) for s in step_nodes]
        for step_name, where in wanted_steps:
            if step_name not in step_nodes:
                checker.fail(where, f"{context}.step: no step '{step_name}'")
                continue
            nodes = checker.string_list(rule, "node", context) or [(n, rule.where) for n in step_nodes[step_name]]
            for node_name, node_where in nodes:
                if node_name not in step_nodes[step_name]:
                    checker.fail(
                        node_where,
                        f"{context}.node: step '{step_name}' does not run on '{node_name}' "
                        f"(it runs on {', '.join(step_nodes[step_name])})",
                    )
                    continue
                result[(node_name, step_name)] = expectation
    return tuple((node, step, expectation) for (node, step), expectation in result.items())
