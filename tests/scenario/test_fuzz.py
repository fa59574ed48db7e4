"""Property-based fuzzing of the loader: any input gives a Scenario or a positioned error, never a traceback."""

from __future__ import annotations

import copy

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lab.errors import ScenarioInvalid
from lab.scenario.loader import load_scenario

from ..conftest import REPO

BASE = yaml.safe_load((REPO / "scenarios" / "docker-nat-reachability.yaml").read_text())
INCIDENT = yaml.safe_load((REPO / "scenarios" / "tdengine-docker-cross-subnet.yaml").read_text())

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(
        ["10.0.31.5", "10.0.31.0/24", "6030:6030/udp", "${x}", "$(reboot)", "; rm -rf /", "../../etc/passwd", "a" * 300]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12,
)


def _load(tmp_path, document) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    try:
        load_scenario(path)
    except ScenarioInvalid as exc:
        assert exc.problems and all(problem.where.line >= 1 for problem in exc.problems)


def _paths(document, prefix=()):
    if isinstance(document, dict):
        for key, value in document.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


def _replace(document, path, value):
    result = copy.deepcopy(document)
    target = result
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return result


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(document=values)
def test_any_yaml_value_is_refused_cleanly(tmp_path, document):
    _load(tmp_path, document)


@FUZZ
@given(base=st.sampled_from([BASE, INCIDENT]), data=st.data())
def test_a_valid_scenario_with_one_value_replaced_never_crashes(tmp_path, base, data):
    path = data.draw(st.sampled_from(list(_paths(base))))
    _load(tmp_path, _replace(base, path, data.draw(values)))


@FUZZ
@given(text=st.text(max_size=200))
def test_arbitrary_text_is_refused_cleanly(tmp_path, text):
    _load(tmp_path, text)
