"""Endpoint sets: replacement and retry order."""

import pytest

from lab.tdengine.epset import EpSet


def test_from_strings_fills_in_the_default_port():
    epset = EpSet.from_strings(["taosnode1:6030", "taosnode2"], 1, 7030)
    assert epset.endpoints == [("taosnode1", 6030), ("taosnode2", 7030)]
    assert epset.current() == ("taosnode2", 7030)


def test_retry_order_starts_at_the_one_in_use_and_wraps():
    epset = EpSet([("a", 1), ("b", 2), ("c", 3)], in_use=1)
    tried = []
    for _ in range(4):
        tried.append(epset.current())
        epset.advance()
    assert tried == [("b", 2), ("c", 3), ("a", 1), ("b", 2)]
    assert epset.in_use == 2


def test_replace_swaps_the_whole_set():
    epset = EpSet([("10.0.31.2", 16030)])
    epset.replace([("taosnode1", 6030), ("taosnode2", 6030), ("taosnode3", 6030)], in_use=2)
    assert epset.as_strings() == ["taosnode1:6030", "taosnode2:6030", "taosnode3:6030"]
    assert epset.current() == ("taosnode3", 6030)
    epset.replace([("x", 1)], in_use=5)
    assert epset.in_use == 0


def test_duplicates_are_kept_and_empty_sets_refused():
    assert len(EpSet.from_strings(["h:6030", "h:6030"], 0, 6030)) == 2
    with pytest.raises(ValueError):
        EpSet([])
