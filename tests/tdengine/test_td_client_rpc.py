"""Client RPC against fake loopback servers: ports in replies, redirects, retries, TCP."""

import socket
import time

import pytest

from lab.tdengine import protocol
from lab.tdengine.client import Connection, RpcClient
from lab.tdengine.epset import EpSet
from lab.tdengine.errors import FQDN_ERROR, NETWORK_UNAVAIL, REDIRECT, TaosError

from .fakes import FakeServer
from .helpers import closed_port, wait_until

RPC_TIMER_MS = 100


@pytest.fixture
def servers():
    started = []

    def start(kind, handler):
        server = FakeServer(kind, handler)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


def connect_rsp(epset=(), in_use=0, port=0):
    def handler(message, server):
        return protocol.reply(
            message, {"epset": list(epset), "in_use": in_use, "version": "2.0.20.0"}, port=port or server.port
        )

    return handler


def test_later_udp_goes_to_the_port_named_in_the_reply(servers):
    """Behind a mapping 16030->6030 the reply says 6030, and the heartbeat goes there."""
    inner = servers(socket.SOCK_DGRAM, connect_rsp())
    published = servers(socket.SOCK_DGRAM, connect_rsp(port=inner.port))
    connection = Connection(EpSet([("127.0.0.1", published.port)]), RPC_TIMER_MS, "root", "taosdata")
    connection.connect()
    connection.heartbeat()
    assert [m.type for m in published.received] == [protocol.CONNECT]
    assert [m.type for m in inner.received] == [protocol.HEARTBEAT]
    assert connection.epset.endpoints == [("127.0.0.1", published.port)]  # empty set: kept


def test_redirect_then_the_connect_response_replaces_the_set(servers):
    master = servers(socket.SOCK_DGRAM, lambda m, s: connect_rsp([f"localhost:{s.port}", "taosnode9:6030"])(m, s))
    slave = servers(
        socket.SOCK_DGRAM,
        lambda m, s: protocol.reply(
            m, {"epset": [f"127.0.0.1:{s.port}", f"127.0.0.1:{master.port}"], "in_use": 1}, code=REDIRECT, port=s.port
        ),
    )
    connection = Connection(EpSet([("127.0.0.1", slave.port)]), RPC_TIMER_MS, "root", "taosdata")
    connection.connect()
    assert connection.server_version == "2.0.20.0"
    assert connection.epset.endpoints == [("localhost", master.port), ("taosnode9", 6030)]
    assert connection.epset.in_use == 0


def test_endless_redirects_give_up(servers):
    loop = servers(
        socket.SOCK_DGRAM,
        lambda m, s: protocol.reply(m, {"epset": [f"127.0.0.1:{s.port}"], "in_use": 0}, code=REDIRECT, port=s.port),
    )
    with pytest.raises(TaosError) as error:
        RpcClient(EpSet([("127.0.0.1", loop.port)]), RPC_TIMER_MS).request(protocol.CONNECT, {})
    assert error.value.code == NETWORK_UNAVAIL
    assert len(loop.received) == 6


@pytest.mark.parametrize(
    "first, second, code",
    [
        ("nosuch.invalid", "127.0.0.1", NETWORK_UNAVAIL),
        ("127.0.0.1", "nosuch.invalid", FQDN_ERROR),
    ],
)
def test_every_endpoint_is_tried_and_the_last_error_reported(first, second, code):
    port = closed_port()
    rpc = RpcClient(EpSet([(first, port), (second, port)]), RPC_TIMER_MS)
    start = time.monotonic()
    with pytest.raises(TaosError) as error:
        rpc.request(protocol.CONNECT, {})
    elapsed = time.monotonic() - start
    assert error.value.code == code
    # one silent UDP endpoint: a send and three resends, rpcTimer apart
    assert 0.35 < elapsed < 1.5
    assert rpc.epset.in_use == 0  # a request that failed everywhere changes nothing


def test_show_uses_tcp_and_a_refused_tcp_connection_fails_fast(servers):
    def answer(message, server):
        if message.type == protocol.SHOW:
            return protocol.reply(message, {"show_id": 4, "columns": [["id", "smallint", 2]]})
        return protocol.reply(message, {"rows": [[1], [2]]})

    tcp = servers(socket.SOCK_STREAM, answer)
    connection = Connection(EpSet([("127.0.0.1", tcp.port)]), RPC_TIMER_MS, "root", "taosdata")
    columns, rows = connection.show("dnodes")
    assert [c.name for c in columns] == ["id"] and rows == [[1], [2]]
    assert [(m.type, m.body.get("show_id")) for m in tcp.received] == [(protocol.SHOW, None), (protocol.RETRIEVE, 4)]
    closed = closed_port()
    refused = Connection(EpSet([("127.0.0.1", closed), ("localhost", closed)]), RPC_TIMER_MS, "root", "taosdata")
    start = time.monotonic()
    with pytest.raises(TaosError) as error:
        refused.show("dnodes")
    assert error.value.code == NETWORK_UNAVAIL and time.monotonic() - start < 1


def test_messages_over_15000_bytes_go_over_tcp(servers):
    tcp = servers(socket.SOCK_STREAM, lambda m, s: protocol.reply(m))
    connection = Connection(EpSet([("127.0.0.1", tcp.port)]), RPC_TIMER_MS, "root", "taosdata")
    connection.create_dnode("x" * 15001)
    assert [m.type for m in tcp.received] == [protocol.CREATE_DNODE]


def test_heartbeats_replace_the_set_again(servers):
    handed = []
    server = servers(socket.SOCK_DGRAM, lambda m, s: connect_rsp(handed, in_use=1)(m, s))
    connection = Connection(EpSet([("127.0.0.1", server.port)]), RPC_TIMER_MS, "root", "taosdata")
    assert connection.heartbeat_interval == 1.5
    connection.connect()
    assert len(connection.epset) == 1
    handed.extend([f"localhost:{server.port}", f"127.0.0.1:{server.port}"])
    connection.heartbeat_interval = 0.05
    connection.start_heartbeat()
    try:
        assert wait_until(lambda: len(connection.epset) == 2, 3, step=0.05)
    finally:
        connection.close()
    assert connection.epset.current() == ("127.0.0.1", server.port)
    assert protocol.HEARTBEAT in [m.type for m in server.received]
