"""Whole shell transcripts for failures, the launchers, and a single dnode's life."""

import os
import signal
import socket
import subprocess
import time

import pytest

from lab.tdengine import protocol
from lab.tdengine.client import Connection
from lab.tdengine.config import parse_config
from lab.tdengine.epset import EpSet
from lab.tdengine.errors import INVALID_FQDN, TaosError
from lab.tdengine.taos import initial_epset

from .fakes import FakeServer
from .helpers import (
    ROOT,
    Taosd,
    closed_port,
    free_bases,
    golden,
    normalise,
    run_taos,
    table_rows,
    wait_until,
    write_cfg,
)


def client_cfg(tmp_path):
    return write_cfg(tmp_path / "client", ["rpcTimer 300"])


def test_connect_to_a_port_nobody_answers(tmp_path):
    start = time.monotonic()
    result = run_taos(client_cfg(tmp_path), "-h", "127.0.0.1", "-P", closed_port(), "-s", "show dnodes")
    elapsed = time.monotonic() - start
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == golden("connect_unreachable.stdout")
    assert 1.1 < elapsed < 4  # a send and three resends, rpcTimer (300 ms) apart


def test_connect_to_a_name_that_does_not_resolve(tmp_path):
    result = run_taos(client_cfg(tmp_path), "-h", "taosnode1.invalid", "-s", "show dnodes")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == golden("connect_unresolvable.stdout")


def test_query_fails_when_the_handed_endpoints_refuse(tmp_path):
    """The incident: connect answers through the mapped port, the handed endpoints refuse TCP."""
    refusing = [f"localhost:{port}" for port in free_bases(3)]
    published = FakeServer(
        socket.SOCK_DGRAM,
        lambda message, server: protocol.reply(
            message, {"epset": refusing, "in_use": 0, "version": "2.0.20.0"}, port=6030
        ),
    )
    try:
        start = time.monotonic()
        result = run_taos(client_cfg(tmp_path), "-h", "127.0.0.1", "-P", published.port, "-s", "show dnodes")
        elapsed = time.monotonic() - start
    finally:
        published.close()
    assert result.returncode == 0  # with -s, success must be read from the output
    assert result.stdout == golden("query_refused.stdout")
    assert normalise(result.stderr) == golden("query_refused.stderr")
    assert elapsed < 2


def test_launchers_find_the_project_through_symlinks(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    links = {}
    for program in ("taos", "taosd"):
        links[program] = tmp_path / program
        links[program].symlink_to(ROOT / "lab" / "tdengine" / "bin" / program)
    result = subprocess.run(
        [links["taos"], "-c", client_cfg(tmp_path), "-h", "x.invalid", "-s", "q"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and result.stdout == golden("connect_unresolvable.stdout")
    bad = write_cfg(tmp_path / "bad", ["fqdn localhost", "serverPort abc"])
    result = subprocess.run(
        [links["taosd"], "-c", bad], capture_output=True, text=True, timeout=30, env=env, cwd=tmp_path
    )
    assert result.returncode == 1
    assert result.stderr == f"taosd: {bad}/taos.cfg:2: serverPort: 'abc' is not a number\n"


def test_single_dnode_hands_out_no_endpoints_and_stops_on_sigint(tmp_path):
    port = free_bases(1)[0]
    cfg = write_cfg(
        tmp_path / "cfg", ["fqdn localhost", f"serverPort {port}", f"dataDir {tmp_path}/data", f"logDir {tmp_path}/log"]
    )
    node = Taosd(cfg, tmp_path / "taosd.log").start()
    try:
        assert wait_until(lambda: "role master" in node.log(), 5), node.log()
        connection = Connection(EpSet([("127.0.0.1", port)]), 300, "root", "taosdata")
        connection.connect()
        assert connection.epset.endpoints == [("127.0.0.1", port)]  # kept: the set was empty

        def dnode_rows() -> list:
            output = run_taos(client_cfg(tmp_path), "-h", "127.0.0.1", "-P", port, "-s", "show dnodes").stdout
            return [(row[0], row[1], row[4]) for row in table_rows(output)]

        # offline ("status not received") until its first status, one statusInterval after start
        assert wait_until(lambda: dnode_rows() == [("1", f"localhost:{port}", "ready")], 5), dnode_rows()
        stopped = time.monotonic()
        node.process.send_signal(signal.SIGINT)
        assert node.process.wait(5) == 0 and time.monotonic() - stopped < 2
    finally:
        node.stop()
    node.start()  # restarted: still dnode 1 of the same cluster, no second first deploy
    try:
        assert wait_until(lambda: node.log().count("role master") == 2, 5), node.log()
        assert node.log().count("first deploy") == 1
    finally:
        assert node.stop() == 0


def test_the_first_endpoint_set_comes_from_h_and_p_or_the_cfg():
    config = parse_config("firstEp taosnode1:6030\nsecondEp taosnode2\nserverPort 7030", hostname="h")
    assert initial_epset(config, None, 16030).as_strings() == ["taosnode1:6030", "taosnode2:7030"]
    assert initial_epset(config, "10.0.31.2", None).as_strings() == ["10.0.31.2:7030"]
    assert initial_epset(config, "10.0.31.2", 16030).as_strings() == ["10.0.31.2:16030"]
    assert initial_epset(config, "10.0.31.2:26030", None).as_strings() == ["10.0.31.2:26030"]
    for bad in ("", "x" * 134, "host:port"):
        with pytest.raises(TaosError) as error:
            initial_epset(config, bad, None)
        assert error.value.code == INVALID_FQDN


def test_databases_tables_and_rows_survive_a_restart(tmp_path):
    """What the SQL stored lives under the dnode's dataDir: after a restart the same select answers."""
    port = free_bases(1)[0]
    cfg = write_cfg(
        tmp_path / "cfg", ["fqdn localhost", f"serverPort {port}", f"dataDir {tmp_path}/data", f"logDir {tmp_path}/log"]
    )

    def sql(statement: str) -> str:
        run = run_taos(client_cfg(tmp_path), "-h", "127.0.0.1", "-P", port, "-s", statement)
        return run.stdout + run.stderr

    node = Taosd(cfg, tmp_path / "taosd.log").start()
    try:
        assert wait_until(lambda: " ready " in sql("show dnodes"), 10), node.log()
        for statement in ("create database kept", "create table kept.t (ts timestamp, v int)"):
            assert "Query OK" in sql(statement), statement
        assert "Query OK, 2 of 2 row(s) in database" in sql("insert into kept.t values (now, 1) (now+1s, 2)")
    finally:
        assert node.stop() == 0
    node.start()
    try:
        assert wait_until(lambda: " ready " in sql("show dnodes"), 10), node.log()
        assert " kept " in sql("show databases")
        rows = sql("select v from kept.t")
        assert "Query OK, 2 row(s) in set" in rows and table_rows(rows) == [["1"], ["2"]], rows
    finally:
        assert node.stop() == 0
