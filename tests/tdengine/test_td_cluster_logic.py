"""Mnode logic without the network: registration, status matching, liveness, mnodes."""

import pytest

from lab.tdengine import errors
from lab.tdengine.cluster import ClusterTable, Mnode, claim_beats, takeover_delay
from lab.tdengine.errors import TaosError

INTERVAL = 1


def make_mnode(num_of_mnodes=3, now=100.0):
    table = ClusterTable.bootstrap("cluster-1", "taosnode1:6030", 1000)
    clock = iter(range(2000, 3000))
    return Mnode(table, 1, 6030, num_of_mnodes, INTERVAL, now, cores=2, clock_ms=lambda: next(clock))


def test_first_deploy_is_a_single_ready_dnode_with_the_master_mnode():
    mnode = make_mnode()
    # the monitor's log database has its vgroup on the first dnode
    assert mnode.dnode_rows() == [[1, "taosnode1:6030", 1, 2, "ready", "any", 1000, ""]]
    assert mnode.mnode_rows() == [[1, "taosnode1:6030", "master", 1000]]
    assert mnode.shell_epset() == ([], 0)  # a single-dnode cluster hands out no endpoints


def test_create_dnode_appends_the_mnode_port_and_counts_ids_up():
    mnode = make_mnode()
    assert mnode.create_dnode("taosnode2").ep == "taosnode2:6030"
    assert mnode.create_dnode(" taosnode3:7030 ").id == 3
    with pytest.raises(TaosError) as error:
        mnode.create_dnode("taosnode3:7030")
    assert error.value.code == errors.DNODE_ALREADY_EXIST
    row = mnode.dnode_rows()[1]
    assert row[4:] == ["offline", "any", 2000, "status not received"]


def test_status_is_matched_by_exact_endpoint_string():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2:6030")
    with pytest.raises(TaosError) as error:
        mnode.process_status(0, "TAOSNODE2:6030", 4, 101.0)
    assert error.value.code == errors.DNODE_NOT_EXIST
    with pytest.raises(TaosError):
        mnode.process_status(0, "172.19.0.42:6030", 4, 101.0)
    response = mnode.process_status(0, "taosnode2:6030", 4, 101.0)
    assert response["dnode_id"] == 2 and response["cluster_id"] == "cluster-1"
    assert mnode.dnode_rows()[1][3:5] == [4, "ready"]


def test_a_known_id_is_matched_by_id_and_an_unknown_one_refused():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2:6030")
    assert mnode.process_status(2, "renamed:6030", 1, 101.0)["dnode_id"] == 2
    mnode.create_dnode("taosnode3:6030")
    with pytest.raises(TaosError):
        mnode.process_status(9, "taosnode3:6030", 1, 101.0)
    assert mnode.dnode_rows()[2][7] == "dnodeId not match"


def test_three_missed_cycles_make_a_dnode_offline():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2:6030")
    mnode.process_status(0, "taosnode2:6030", 2, 100.0)
    assert mnode.check_timeouts(103.0) == []
    gone = mnode.check_timeouts(103.1)
    assert [record.id for record in gone] == [2]
    assert mnode.dnode_rows()[1][4:] == ["offline", "any", 2000, "status msg timeout"]
    mnode.process_status(2, "taosnode2:6030", 2, 104.0)
    assert mnode.dnode_rows()[1][7] == ""


def test_mnodes_go_on_ready_dnodes_up_to_num_of_mnodes_listed_by_id():
    mnode = make_mnode(num_of_mnodes=2)
    for name in ("taosnode2", "taosnode3"):
        mnode.create_dnode(name)
    mnode.process_status(0, "taosnode3:6030", 1, 101.0)
    mnode.process_status(0, "taosnode2:6030", 1, 101.0)
    assert mnode.table.mnode_ids() == [1, 3]
    response = mnode.process_status(2, "taosnode2:6030", 1, 102.0)
    assert response["mnodes"] == ["taosnode1:6030", "taosnode3:6030"] and response["in_use"] == 0
    assert mnode.shell_epset() == (["taosnode1:6030", "taosnode3:6030"], 0)
    assert [row[2] for row in mnode.mnode_rows()] == ["master", "offline"], "not synced yet"
    mnode.sync_outcome("taosnode3:6030", reached=True)
    assert [row[2] for row in mnode.mnode_rows()] == ["master", "slave"]
    mnode.sync_outcome("taosnode3:6030", reached=False)
    assert [row[2] for row in mnode.mnode_rows()] == ["master", "offline"], "its sync port stopped answering"

    three = make_mnode(num_of_mnodes=3)
    for name in ("taosnode2", "taosnode3"):
        three.create_dnode(name)
    three.process_status(0, "taosnode3:6030", 1, 101.0)
    three.process_status(0, "taosnode2:6030", 1, 101.0)
    assert three.table.mnode_ids() == [1, 2, 3]


def test_drop_dnode_by_endpoint_or_id_but_never_the_master():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2")
    mnode.create_dnode("taosnode3")
    assert mnode.drop_dnode("taosnode2:6030").id == 2
    assert mnode.drop_dnode("3").id == 3
    for target, code in (
        ("1", errors.NO_REMOVE_MASTER),
        ("taosnode1:6030", errors.NO_REMOVE_MASTER),
        ("7", errors.DNODE_NOT_EXIST),
        ("nothing", errors.DNODE_NOT_EXIST),
    ):
        with pytest.raises(TaosError) as error:
            mnode.drop_dnode(target)
        assert error.value.code == code
    assert mnode.create_dnode("taosnode4").id == 4  # ids are not reused


def test_a_new_master_has_not_heard_from_anybody():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2")
    mnode.process_status(0, "taosnode2:6030", 2, 101.0)
    table = ClusterTable.from_json(mnode.table.to_json())
    table.take_over(2)
    new = Mnode(table, 2, 6030, 3, INTERVAL, 110.0, cores=2)
    assert [(row[0], row[4], row[7]) for row in new.dnode_rows()] == [
        (1, "offline", "status not received"),
        (2, "ready", ""),
    ]
    assert [row[2] for row in new.mnode_rows()] == ["offline", "master"]
    assert (table.term, table.master_id) == (2, 2)


def test_table_json_round_trip():
    mnode = make_mnode()
    mnode.create_dnode("taosnode2")
    data = mnode.table.to_json()
    assert ClusterTable.from_json(data) == mnode.table


def test_takeover_order_and_claims():
    assert takeover_delay([1, 2, 3], 1, 2, INTERVAL) == 4
    assert takeover_delay([1, 2, 3], 1, 3, INTERVAL) == 5
    assert takeover_delay([1, 2, 3], 2, 1, INTERVAL) == 5
    assert takeover_delay([1, 2, 3], 1, 1, INTERVAL) == 3  # the old master after a restart
    assert takeover_delay([2, 3], 1, 3, 2) == 10  # master gone from the list
    assert claim_beats(2, 3, 1, 1) and claim_beats(2, 1, 2, 3)
    assert not claim_beats(2, 3, 2, 1) and not claim_beats(1, 1, 2, 3)
