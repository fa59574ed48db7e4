"""The emulated TDengine against the real TDengine 2.0.20.0, replayed in the same labs.

Each scenario runs twice, once with the emulated taosd/taos and once with the real ones
(`--tdengine-home`); every `taos` cell must print the same text (timings, timestamps,
vnode and core counts masked), exit with the same status and succeed or fail alike, and a
failure that waited out retries must take about as long (compare.py). A difference fails
the test with both texts side by side. Skipped without the real TDengine (tests/real_tdengine.py).
"""

from __future__ import annotations

import re

import pytest

from lab.analysis.explain import explain_outcome
from lab.analysis.rundir import RunDir

from ..conftest import REPO
from ..integration.conftest import LabRun, run_lab
from .compare import compare

pytestmark = pytest.mark.root  # builds real namespaces and a real dockerd

RUN_TIMEOUT_S = 1800  # the real shell takes 1-1.5 s a cell: the fidelity scenario's ~280 cells take ~13 min
VNODE_HOSTS = {7030: "taosnode2", 8030: "taosnode3"}  # serverPort -> fqdn in the partial fix
SCENARIOS = {
    "fidelity": REPO / "tests" / "fidelity" / "tdengine-fidelity.yaml",
    "takeover": REPO / "tests" / "fidelity" / "tdengine-takeover.yaml",
}


_REPLAYS: dict[str, tuple[LabRun, LabRun]] = {}  # each scenario is replayed once for every test of the module


def replays(name: str, tdengine_home, tmp_path_factory) -> tuple[LabRun, LabRun]:
    """Scenario `name` replayed with the emulated and with the real TDengine."""
    if name not in _REPLAYS:
        scenario = SCENARIOS[name]
        emulated = run_lab(scenario, tmp_path_factory.mktemp("emulated"), timeout=RUN_TIMEOUT_S)
        real = run_lab(
            scenario, tmp_path_factory.mktemp("real"), "--tdengine-home", str(tdengine_home), timeout=RUN_TIMEOUT_S
        )
        for run in (emulated, real):
            assert run.run_dir is not None, run.stdout + run.stderr
        _REPLAYS[name] = emulated, real
    return _REPLAYS[name]


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def runs(request, tdengine_home, tmp_path_factory) -> tuple[LabRun, LabRun]:
    """Each scenario replayed with the emulated and with the real TDengine."""
    return replays(request.param, tdengine_home, tmp_path_factory)


@pytest.fixture(scope="module")
def fidelity_runs(tdengine_home, tmp_path_factory) -> tuple[LabRun, LabRun]:
    """The fidelity scenario (the one with the partial fix) replayed both ways."""
    return replays("fidelity", tdengine_home, tmp_path_factory)


def test_both_replays_meet_every_expectation(runs):
    for run in runs:
        assert run.returncode == 0, run.stdout + run.stderr


def test_the_real_tdengine_ran(runs):
    _, real = runs
    for variant in real.results["variants"]:
        software = variant["software"]["tdengine"]
        assert software["mode"] == "home" and "2.0.20.0" in software["taosd"] and "2.0.20.0" in software["taos"]


def test_every_cell_is_the_same_emulated_and_real(runs):
    emulated, real = runs
    differences = compare(emulated.results["outcomes"], real.results["outcomes"])
    assert not differences, "\n\n".join(str(d) for d in differences)


def test_the_partial_fix_is_explained_by_the_vnode_endpoint_the_mnode_handed_out(fidelity_runs):
    """node1-identical: the mnode (taosnode1, published as 6030) answers the remote client, then
    the vnode's endpoint it hands out (taosnode2:7030 or taosnode3:8030, wherever the vgroup
    landed) resolves to 10.0.31.2, where nothing is published at that port."""
    for run in fidelity_runs:
        folder = RunDir(run.run_dir)
        outcome = next(
            o
            for o in folder.outcomes
            if (o["variant"], o["node"], o["step"]) == ("node1-identical", "remote-client", "remote-insert")
        )
        explanation = explain_outcome(folder, outcome)
        failed = [a for a in explanation.attempts if a.dst == "10.0.31.2" and a.dport in (7030, 8030)]
        assert failed, explanation.text()
        vnode = failed[0]
        assert not vnode.answered and vnode.answers, explanation.text()
        dnode = VNODE_HOSTS[vnode.dport]
        assert any(re.fullmatch(rf"{dnode}(:{vnode.dport})?", e) for e in vnode.endpoints), explanation.text()
        assert "no NAT rule" in vnode.nat, explanation.text()
        mnode = [a for a in explanation.attempts if a.dst == "10.0.31.2" and a.dport == 6030]
        assert mnode and all(a.answered for a in mnode), explanation.text()
