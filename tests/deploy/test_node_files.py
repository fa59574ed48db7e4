"""lab.deploy.network.hosts_file and resolv_conf: the /etc files each node gets, from its model node."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface

from lab.analysis.rundir import read_node_state
from lab.deploy.network import hosts_file, resolv_conf
from lab.scenario import model
from lab.scenario.loader import load_scenario

from ..conftest import REPO


def client(**fields) -> model.Node:
    """A host on 10.0.2.0/24 with the given model fields."""
    return model.Node("remote-client", "host", (model.Interface("clients", IPv4Interface("10.0.2.61/24")),), **fields)


def test_hosts_file_lists_localhost_the_node_itself_then_the_scenarios_entries_in_order():
    node = client(hosts=(("taosnode2", IPv4Address("10.0.31.2")), ("taosnode1", IPv4Address("10.0.31.3"))))
    assert hosts_file(node) == (
        "127.0.0.1\tlocalhost\n"
        "127.0.1.1\tremote-client\n"
        "::1\tlocalhost ip6-localhost ip6-loopback\n"
        "10.0.31.2\ttaosnode2\n"
        "10.0.31.3\ttaosnode1\n"
    )


def test_hosts_file_without_entries_still_names_the_node():
    assert hosts_file(client()).splitlines() == [
        "127.0.0.1\tlocalhost",
        "127.0.1.1\tremote-client",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]


def test_hosts_file_reads_back_as_the_analysis_resolves_names(tmp_path):
    scenario = load_scenario(REPO / "scenarios" / "docker-nat-reachability.yaml")
    (remote,) = [n for n in scenario.variants[0].deployment.nodes if n.name == "remote-client"]
    (tmp_path / "hosts.txt").write_text(hosts_file(remote))
    state = read_node_state(tmp_path)
    assert state.resolve("taosnode1") == ("10.0.31.2", 4)
    assert state.names_for("10.0.31.2") == [("taosnode1", 4), ("taosnode2", 5), ("taosnode3", 6)]
    assert state.resolve("remote-client") == ("127.0.1.1", 2)


def test_resolv_conf_lists_the_dns_servers_in_order():
    node = client(dns=(IPv4Address("10.0.31.53"), IPv4Address("10.0.2.53")))
    assert resolv_conf(node) == "nameserver 10.0.31.53\nnameserver 10.0.2.53\n"


def test_resolv_conf_without_dns_servers_has_no_nameserver():
    text = resolv_conf(client())
    assert text == "# no DNS server in this lab node\n"
    assert "nameserver" not in text
