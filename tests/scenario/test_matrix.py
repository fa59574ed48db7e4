"""The matrix's expansion: one variant per kept combination, named after its coordinates (pure)."""

from __future__ import annotations

import textwrap

import pytest

from lab.errors import ScenarioInvalid
from lab.scenario import model
from lab.scenario.loader import load_scenario

from ..conftest import REPO

BASE = """\
name: m
vars: {port: 1111, gateway: 10.0.2.1, label: plain}
subnets: {remote: 10.0.2.0/24}
hosts:
  client: {interfaces: {remote: 10.0.2.61}, gateway: "${gateway}"}
steps:
  - {name: probe, on: client, tcp: "10.0.2.1:${port}", description: "${label}"}
"""


def load(tmp_path, text: str) -> model.Scenario:
    path = tmp_path / "s.yaml"
    path.write_text(BASE + textwrap.dedent(text))
    return load_scenario(path)


def problems(tmp_path, text: str) -> list[str]:
    with pytest.raises(ScenarioInvalid) as caught:
        load(tmp_path, text)
    return [str(problem) for problem in caught.value.problems]


def test_every_combination_is_a_variant_named_after_its_coordinates(tmp_path):
    scenario = load(
        tmp_path,
        """
        matrix:
          axes:
            route: {gateway: {}, none: {vars: {gateway: 10.0.2.99}}}
            port: {low: {}, high: {vars: {port: 2222}}, top: {vars: {port: 3333}}}
        """,
    )
    assert scenario.axes == (model.Axis("route", ("gateway", "none")), model.Axis("port", ("low", "high", "top")))
    assert [v.name for v in scenario.variants] == [
        "route=gateway,port=low",
        "route=gateway,port=high",
        "route=gateway,port=top",
        "route=none,port=low",
        "route=none,port=high",
        "route=none,port=top",
    ]
    by_name = {v.name: v for v in scenario.variants}
    high = by_name["route=none,port=high"]
    assert high.coordinates == (("route", "none"), ("port", "high"))
    assert high.steps[0].action.port == 2222
    assert str(high.deployment.node("client").gateway) == "10.0.2.99"
    low = by_name["route=gateway,port=low"]
    assert low.steps[0].action.port == 1111 and str(low.deployment.node("client").gateway) == "10.0.2.1"


def test_excluded_combinations_are_not_built(tmp_path):
    scenario = load(
        tmp_path,
        """
        matrix:
          axes:
            route: {gateway: {}, none: {vars: {gateway: 10.0.2.99}}}
            port: {low: {}, high: {vars: {port: 2222}}, top: {vars: {port: 3333}}}
          exclude:
            - {route: none, port: [high, top]}
            - {port: low, route: gateway}
        """,
    )
    assert [v.name for v in scenario.variants] == [
        "route=gateway,port=high",
        "route=gateway,port=top",
        "route=none,port=low",
    ]


def test_expectations_per_combination_follow_when(tmp_path):
    scenario = load(
        tmp_path,
        """
        matrix:
          axes:
            route: {gateway: {}, none: {vars: {gateway: 10.0.2.99}}}
            port: {low: {}, high: {vars: {port: 2222}}}
        expect:
          - {when: {route: none}, step: probe, fail: unreachable}
          - {when: {route: gateway, port: [high]}, step: probe, fail: refused}
        """,
    )
    expected = {v.name: v.expectation("client", "probe") for v in scenario.variants}
    assert expected == {
        "route=gateway,port=low": model.Expectation(),
        "route=gateway,port=high": model.Expectation(False, "refused"),
        "route=none,port=low": model.Expectation(False, "unreachable"),
        "route=none,port=high": model.Expectation(False, "unreachable"),
    }


def test_axes_may_set_one_key_only_in_combinations_that_are_excluded(tmp_path):
    text = """
        matrix:
          axes:
            port: {low: {}, high: {vars: {port: 2222}}}
            shifted: {"no": {}, "yes": {vars: {port: 3333}}}
        """
    (message,) = problems(tmp_path, text)
    assert "axes 'port' (high, line" in message and "'shifted' (yes) both set 'vars.port'" in message
    scenario = load(tmp_path, text + "  exclude: [{port: high, shifted: 'yes'}]\n")
    assert [v.name for v in scenario.variants] == [
        "port=low,shifted=no",
        "port=low,shifted=yes",
        "port=high,shifted=no",
    ]


def test_an_axis_value_may_set_more_than_vars(tmp_path):
    scenario = load(
        tmp_path,
        """
        matrix:
          axes:
            client: {first: {}, second: {hosts: {client: {interfaces: {remote: 10.0.2.62}}}}}
        """,
    )
    addresses = [str(v.deployment.node("client").interfaces[0].address.ip) for v in scenario.variants]
    assert addresses == ["10.0.2.61", "10.0.2.62"]


def test_a_mistake_in_one_combination_is_reported_before_anything_is_built(tmp_path):
    (message,) = problems(
        tmp_path,
        """
        matrix:
          axes:
            port: {low: {}, broken: {vars: {port: 99999}}}
        """,
    )
    assert message.startswith(f"{tmp_path / 's.yaml'}:")
    assert "99999" in message


def test_the_shipped_matrix_answers_for_every_combination():
    scenario = load_scenario(REPO / "scenarios" / "tdengine-port-matrix.yaml")
    assert len(scenario.axes) >= 3
    names = [v.name for v in scenario.variants]
    assert "server_ports=same,publishing=identical,protocols=tcp_udp" not in names  # one host port for three
    works = {v.name for v in scenario.variants if v.expectation("remote-client", "show-dnodes") == model.Expectation()}
    assert works == {"server_ports=distinct,publishing=identical,protocols=tcp_udp"}
