"""Scenario -> model: golden files of what each shipped scenario becomes, and the loader's pure logic."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from lab.errors import ScenarioInvalid
from lab.scenario import model
from lab.scenario.dump import scenario_as_data
from lab.scenario.loader import load_scenario
from lab.scenario.read_docker import expand_publish

from ..conftest import REPO, assert_golden

SCENARIOS = sorted(p.stem for p in (REPO / "scenarios").glob("*.yaml"))
MODELS = Path(__file__).parent / "models"


@pytest.mark.parametrize("name", SCENARIOS)
def test_shipped_scenario_model_matches_golden(name):
    scenario = load_scenario(REPO / "scenarios" / f"{name}.yaml")
    assert_golden(json.dumps(scenario_as_data(scenario), indent=1, sort_keys=True) + "\n", MODELS / f"{name}.json")


def test_publish_ranges_expand_like_docker_run_p():
    ports = expand_publish("16030-16042:6030-6042/udp")
    assert len(ports) == 13
    assert ports[0] == model.Publish(None, 16030, 6030, "udp") and ports[-1] == model.Publish(None, 16042, 6042, "udp")
    assert expand_publish("10.0.31.2:80:8080") == [model.Publish(IPv4Address("10.0.31.2"), 80, 8080, "tcp")]
    assert "equally long" in expand_publish("1-2:1")
    assert "host port" in expand_publish("6030")


def test_incident_variants_differ_only_where_the_fix_is():
    scenario = load_scenario(REPO / "scenarios" / "tdengine-docker-cross-subnet.yaml")
    original, fixed = scenario.variants
    assert (original.name, fixed.name) == ("original", "fixed")
    node2 = {v.name: next(c for c in v.deployment.containers if c.name == "taosnode2") for v in scenario.variants}
    assert node2["original"].publish == ("26030-26042:6030-6042", "26030-26042:6030-6042/udp")
    assert node2["fixed"].publish == ("7030-7042:7030-7042", "7030-7042:7030-7042/udp")
    assert "serverPort  7030" in node2["fixed"].files[0].content
    assert "serverPort  6030" in node2["original"].files[0].content
    win = original.deployment.node("win-client")
    assert win.os == "windows" and win.routes == (model.Route(IPv4Network("172.19.0.0/16"), IPv4Address("10.0.31.2")),)
    assert original.expectation("remote-client", "show-dnodes") == model.Expectation(
        False, "Unable to establish connection"
    )
    assert fixed.expectation("remote-client", "show-dnodes") == model.Expectation()


def test_a_variable_alone_keeps_its_type(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nvars: {t: 2.5, port: 80}\nsubnets: {lan: 10.0.0.0/24}\n"
        "hosts: {a: {interfaces: {lan: 10.0.0.5}}}\n"
        "steps: [{name: x, on: a, tcp: '10.0.0.1:${port}', timeout: '${t}'}]\n"
    )
    step = load_scenario(path).variants[0].steps[0]
    assert step.timeout_s == 2.5 and step.action.port == 80


def test_all_problems_are_reported_at_once(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nsubnets: {lan: 10.0.0.0/24}\nhosts:\n  a: {interfaces: {lan: 10.0.1.5}}\n"
        "  b: {interfaces: {lan: 10.0.0.300}}\n"
    )
    with pytest.raises(ScenarioInvalid) as caught:
        load_scenario(path)
    assert [(e.where.line, e.where.column) for e in caught.value.problems] == [(4, 25), (5, 25)]
