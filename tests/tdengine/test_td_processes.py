"""Real taosd and taos processes on loopback: cluster formation, refusal, timeout, failover.

The tests of the cluster run in file order on one module-wide cluster of three dnodes
(fqdn ``localhost``, free serverPorts); the failover test stops the master, so it is last.
"""

import random
import socket
import time
import urllib.request

import pytest

from lab.tdengine import protocol
from lab.tdengine.client import Connection
from lab.tdengine.epset import EpSet

from .helpers import Taosd, free_bases, golden, normalise, run_taos, table_rows, wait_until, write_cfg


class Cluster:
    """Three dnodes (a fourth port is kept for an unregistered dnode) and a client cfg."""

    def __init__(self, base):
        self.base = base
        self.ports = free_bases(4)
        self.nodes = [self._node(index) for index in range(1, 4)]
        self.extra = []
        self.client_cfg = write_cfg(
            base / "client",
            [f"firstEp localhost:{self.ports[0]}", f"secondEp localhost:{self.ports[1]}", "rpcTimer 300"],
        )

    def _node(self, index, fqdn="localhost"):
        port = self.ports[index - 1]
        cfg = write_cfg(
            self.base / f"cfg{index}",
            [
                f"fqdn {fqdn}",
                f"serverPort {port}",
                f"firstEp localhost:{self.ports[0]}",
                f"secondEp localhost:{self.ports[1]}",
                f"dataDir {self.base}/data{index}",
                f"logDir {self.base}/log{index}",
                "statusInterval 1",
            ],
        )
        return Taosd(cfg, self.base / f"taosd{index}.log")

    def taos(self, *args, **kwargs):
        """Run the shell with the client cfg."""
        return run_taos(self.client_cfg, *args, **kwargs)

    def rows(self, statement, port=None):
        """Rows of a show statement, asked through ``port`` (default: the cfg's endpoints)."""
        target = ("-h", "localhost", "-P", port) if port else ()
        return table_rows(self.taos(*target, "-s", statement).stdout)

    def stop(self):
        for node in self.nodes + self.extra:
            node.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(tmp_path_factory.mktemp("tdengine-cluster"))
    yield cluster
    cluster.stop()


def test_dnodes_start_and_listen(cluster):
    """Three dnodes start and listen; the first deploys the mnode. (Start time and memory: bench/.)"""
    for node in cluster.nodes:
        node.start()
    for node in cluster.nodes:
        assert wait_until(lambda node=node: "listening on 0.0.0.0" in node.log(), 5), node.log()
    assert wait_until(lambda: "mnode: first deploy, dnode 1 is localhost:" in cluster.nodes[0].log(), 2)
    for node in cluster.nodes:
        assert node.process.poll() is None, node.log()
    assert "listening on 0.0.0.0" in (cluster.base / "log1" / "taosdlog.0").read_text()


def test_cluster_forms_with_create_dnode(cluster):
    p1, p2, p3, _ = cluster.ports
    result = cluster.taos("-s", f'create dnode "localhost:{p2}"; create dnode localhost:{p3};')
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Query OK, 0 of 0 row(s) in database") == 2

    def formed():
        dnodes, mnodes = cluster.rows("show dnodes"), cluster.rows("show mnodes")
        return [row[4] for row in dnodes] == ["ready"] * 3 and [row[2] for row in mnodes] == [
            "master",
            "slave",
            "slave",
        ]

    assert wait_until(formed, 10)
    result = cluster.taos("-s", "show dnodes; show mnodes")
    assert result.returncode == 0 and result.stderr == ""
    assert normalise(result.stdout, cluster.ports) == golden("cluster_show.stdout")
    assert f"accepted by mnode localhost:{p1 + 5}, this is dnode 2" in cluster.nodes[1].log()


def test_connect_replaces_the_endpoint_set_with_the_mnodes(cluster):
    p1, p2, p3, _ = cluster.ports
    connection = Connection(EpSet([("127.0.0.1", p2)]), 300, "root", "taosdata")
    connection.connect()  # dnode 2 redirects to the master, which hands out the mnodes
    assert connection.epset.endpoints == [("localhost", p1), ("localhost", p2), ("localhost", p3)]
    assert connection.epset.in_use == 0
    assert connection.server_version == "2.0.20.0"


def test_interactive_session(cluster):
    result = cluster.taos(stdin="show mnodes;\nselect\n server_version();\nselec x;\nquit\n")
    assert result.returncode == 0
    assert normalise(result.stdout, cluster.ports) == golden("interactive.stdout")
    assert normalise(result.stderr) == '\nDB error: syntax error near "selec x;" (0.000000s)\n'


@pytest.mark.parametrize(
    "args, reason",
    [
        (("-p", "wrong"), "Authentication failure"),
        (("-pwrong",), "Authentication failure"),
        (("-u", "nobody"), "Invalid user"),
        (("-h", ""), "Invalid host name"),
    ],
)
def test_connect_errors_from_a_live_cluster(cluster, args, reason):
    result = cluster.taos(*args, "-s", "show dnodes")
    assert result.returncode == 1
    assert result.stdout.endswith(f"taos connect failed, reason: {reason}.\n\n")


def test_statement_errors_go_to_stderr_and_exit_0(cluster):
    p2 = cluster.ports[1]
    result = cluster.taos("-s", f'create dnode "localhost:{p2}"; drop dnode 1; drop dnode 9')
    assert result.returncode == 0
    assert normalise(result.stderr) == (
        "\nDB error: DNode already exists (0.000000s)\n"
        "\nDB error: Master DNode cannot be removed (0.000000s)\n"
        "\nDB error: DNode does not exist (0.000000s)\n"
    )
    result = cluster.taos("-u", "monitor", "-psecretkey", "-s", "show dnodes")
    assert result.returncode == 0
    assert normalise(result.stderr) == "\nDB error: Insufficient privilege for operation (0.000000s)\n"


def test_unregistered_endpoint_is_refused(cluster):
    """A dnode is matched by its exact endpoint string: LOCALHOST:P4 is not localhost:P4."""
    p4 = cluster.ports[3]
    fourth = cluster._node(4)
    cluster.extra.append(fourth)
    fourth.start()
    assert cluster.taos("-s", f'create dnode "LOCALHOST:{p4}"').returncode == 0
    assert wait_until(lambda: "DNode does not exist" in fourth.log(), 5), fourth.log()
    assert f"refused by mnode localhost:{cluster.ports[0] + 5}: DNode does not exist" in fourth.log()
    time.sleep(2.5)  # more status cycles: still refused, the entry never gets a status
    row = next(row for row in cluster.rows("show dnodes") if row[1] == f"LOCALHOST:{p4}")
    assert row[0] == "4" and row[4] == "offline" and row[7] == "status not received"
    refusal = f"status from localhost:{p4} (dnode id 0) refused: DNode does not exist"
    assert refusal in cluster.nodes[0].log()
    assert fourth.process.poll() is None
    assert fourth.stop() == 0
    assert cluster.taos("-s", f'drop dnode "LOCALHOST:{p4}"').stdout.count("Query OK") == 1
    assert [row[0] for row in cluster.rows("show dnodes")] == ["1", "2", "3"]


def test_garbage_on_every_port_is_ignored(cluster):
    p3 = cluster.ports[2]
    rng = random.Random(7)
    for offset in (0, 1, 2, 3, 4, 5):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for size in (1, 17, 18, 100, 1400):
                udp.sendto(rng.randbytes(size), ("127.0.0.1", p3 + offset))
            udp.sendto(b"TD\x01\x01" + bytes(10) + b"\x00\x00\x00\x0b" + b'{"user":5}', ("127.0.0.1", p3 + offset))
    for offset in (0, 5, 10, 11):
        for payload in (
            rng.randbytes(3000),
            b"TD\x01\x0d" + bytes(10) + b"\x00\x00\x00\x02[]",
            protocol.encode(protocol.Message(protocol.STATUS, {"ep": 1})),
        ):
            with socket.create_connection(("127.0.0.1", p3 + offset), timeout=2) as tcp:
                tcp.sendall(payload)
    with urllib.request.urlopen(f"http://127.0.0.1:{p3 + 11}/rest/sql", timeout=5) as response:
        assert b"2.0.20.0" in response.read()
    assert cluster.nodes[2].process.poll() is None
    rows = cluster.rows("show dnodes", port=p3)  # dnode 3 still answers (with a redirect)
    assert [row[4] for row in rows] == ["ready"] * 3


def test_a_stopped_dnode_goes_offline_after_three_status_cycles(cluster):
    third = cluster.nodes[2]
    stopped = time.monotonic()
    assert third.stop() == 0  # it exits on SIGTERM (how fast: bench/)

    def timed_out():
        row = cluster.rows("show dnodes")[2]
        return (row[4], row[7]) == ("offline", "status msg timeout")

    assert wait_until(timed_out, 10)
    assert time.monotonic() - stopped > 1.9  # its last status was at most one cycle before
    third.start()  # same data dir: it keeps its identity
    assert wait_until(lambda: [row[4] for row in cluster.rows("show dnodes")] == ["ready"] * 3, 10)
    assert "this is dnode 3" in third.log().split("taosd stopping")[-1]


def test_master_failover_redirects_clients(cluster):
    p3 = cluster.ports[2]
    first = cluster.nodes[0]
    assert first.stop() == 0

    def new_master():
        return [row[2] for row in cluster.rows("show mnodes", port=p3)] == ["offline", "master", "slave"]

    assert wait_until(new_master, 15)
    assert "taking over" in cluster.nodes[1].log()

    def others_ready():
        return [row[4] for row in cluster.rows("show dnodes", port=p3)][1:] == ["ready"] * 2

    assert wait_until(others_ready, 5)
    row = cluster.rows("show dnodes", port=p3)[0]
    assert (row[0], row[4], row[7]) == ("1", "offline", "status not received")
    # the cfg's firstEp is dead: connect times out there, then secondEp answers
    result = cluster.taos("-s", "show mnodes")
    assert result.returncode == 0 and "master" in result.stdout
