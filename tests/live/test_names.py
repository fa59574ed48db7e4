"""Naming a live lab and a node in it: the whole name, or a unique prefix; a wrong one lists what exists (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.errors import ExitStatus, InvalidInput
from lab.live import enter, registry


def lab(name: str) -> registry.LiveLab:
    return registry.LiveLab(
        name=name,
        run_id="r1",
        journal=Path("/nonexistent/r1.jsonl"),
        scenario="s.yaml",
        variant="original",
        results="/nonexistent",
        log="/nonexistent/log",
        homes={},
        setup_done=False,
        keeper=1,
        keeper_started="0",
        started_at=0.0,
        alive=True,
        ready=True,
        failed="",
        nodes={"win-client": 10, "remote-client": 11, "server": 12},
        containers={"taosnode1": "server", "taosnode2": "server"},
    )


def test_the_whole_name_wins_over_longer_names_it_starts():
    assert registry.matching("incident", ["incident", "incident-2"]) == ["incident"]
    assert registry.matching("incident-", ["incident", "incident-2"]) == ["incident-2"]
    assert registry.matching("inc", ["incident", "incident-2"]) == ["incident", "incident-2"]
    assert registry.matching("x", ["incident"]) == []


@pytest.fixture
def labs(monkeypatch):
    every = [lab("tdengine-original"), lab("tdengine-fixed"), lab("redis-original")]
    monkeypatch.setattr(registry, "labs", lambda: every)
    return every


def test_a_unique_prefix_finds_the_lab(labs):
    assert registry.find("redis").name == "redis-original"
    assert registry.find("tdengine-f").name == "tdengine-fixed"


def test_an_ambiguous_or_unknown_lab_name_lists_the_labs(labs):
    with pytest.raises(InvalidInput, match="'tdengine' could be any of tdengine-fixed, tdengine-original") as error:
        registry.find("tdengine")
    assert error.value.exit_status == ExitStatus.INVALID
    with pytest.raises(InvalidInput, match="no lab 'etcd'; labs: redis-original, tdengine-fixed, tdengine-original"):
        registry.find("etcd")


def test_no_lab_at_all_says_how_to_start_one(monkeypatch):
    monkeypatch.setattr(registry, "labs", lambda: [])
    with pytest.raises(InvalidInput, match=r"no lab 'x'; labs: none \(`lab up SCENARIO` starts one\)"):
        registry.find("x")


def test_nodes_and_containers_by_name_or_unique_prefix():
    live = lab("incident")
    assert enter.check_target(live, "win") == "win-client"
    assert enter.check_target(live, "taosnode2") == "taosnode2"
    with pytest.raises(
        InvalidInput, match=r"no node or container 'taosnode' \(it could be any of taosnode1, taosnode2\)"
    ):
        enter.check_target(live, "taosnode")
    with pytest.raises(
        InvalidInput,
        match="has no node or container 'router'; it has: win-client, remote-client, server, taosnode1, taosnode2",
    ):
        enter.check_target(live, "router")
