"""The emulated network: Mininet nodes in their own namespaces, Linux bridges as switches.

Each subnet is a Linux bridge inside a namespace of its own (an unmanaged switch, no
controller); every node is a Mininet host with private network and mount namespaces. A
node's interface on a subnet is named after the subnet (`lan`), the switch port after the
node. Each node gets a private /etc (an overlay over the machine's), holding its own hosts
file, resolv.conf and files, so the normal resolver in that node reads them.
Nothing is created in the root namespace.
"""

from __future__ import annotations

import os
from pathlib import Path

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Host, Switch

from .. import kinds
from ..commands import CommandRunner, Transcript
from ..scenario import model
from .journal import Journal

WINDOWS_SYSCTLS = {"net.ipv4.ip_default_ttl": "128", "net.ipv4.tcp_syn_retries": "2"}


class BridgeSwitch(Switch):
    """A plain Linux bridge in its own network namespace: an unmanaged switch."""

    def __init__(self, name, bridge: str, **params):
        params["inNamespace"] = True
        super().__init__(name, dpid="1", **params)
        self.bridge = bridge

    def start(self, controllers):
        """Create the bridge and enslave every port (ip(8) inside the switch namespace)."""
        runner = node_runner(self, Transcript())
        runner.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"])
        for intf in self.intfList():
            if intf.name != "lo":
                runner.run(["ip", "link", "set", intf.name, "master", self.bridge, "up"])
        runner.run(["ip", "link", "set", self.bridge, "up"])

    def stop(self, deleteIntfs=True):
        """Nothing to undo: the bridge dies with the namespace."""
        super().stop(deleteIntfs)


def node_runner(node, transcript: Transcript, where: str | None = None, env=None) -> CommandRunner:
    """A CommandRunner that runs programs inside `node` (its network and mount namespaces)."""
    return CommandRunner(where or node.name, transcript, env=env, spawn=lambda argv, **kw: node.popen(argv, **kw))


def hosts_file(node: model.Node) -> str:
    """The node's /etc/hosts: localhost, its own name, then the scenario's entries."""
    lines = ["127.0.0.1\tlocalhost", f"127.0.1.1\t{node.name}", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{address}\t{name}" for name, address in node.hosts]
    return "\n".join(lines) + "\n"


def resolv_conf(node: model.Node) -> str:
    """The node's /etc/resolv.conf; with no DNS servers, names resolve from the hosts file only."""
    return "".join(f"nameserver {server}\n" for server in node.dns) or "# no DNS server in this lab node\n"


class Network:
    """Builds and removes the emulated network of one deployment."""

    def __init__(
        self, deployment: model.Deployment, workdir: Path, transcript: Transcript, env: dict[str, str], journal: Journal
    ):
        self.deployment = deployment
        self.journal = journal
        self.workdir = workdir
        self.transcript = transcript
        self.env = env
        self.net: Mininet | None = None
        self.hosts: dict[str, Host] = {}

    def build(self) -> None:
        """Create namespaces, bridges and links, then configure every node."""
        setLogLevel("error")
        self.net = Mininet(topo=None, controller=None, build=False, autoSetMacs=False, waitConnected=False)
        switches = {}
        for subnet in self.deployment.subnets:
            switch = self.net.addSwitch(f"sw:{subnet.name}", cls=BridgeSwitch, bridge=subnet.name)
            self.journal.node(switch.pid, f"switch {subnet.name}")
            switches[subnet.name] = switch
        for node in self.deployment.nodes:
            host = self.net.addHost(f"{node.name}", cls=Host, ip=None)
            self.journal.node(host.pid, node.name)
            self.hosts[node.name] = host
            for interface in node.interfaces:
                self.net.addLink(host, switches[interface.subnet], intfName1=interface.subnet, intfName2=node.name)
        self.net.build()
        self.net.start()
        for node in self.deployment.nodes:
            self._configure(node)

    def runner(self, node_name: str) -> CommandRunner:
        """Runs programs in the node called `node_name`, with the lab's environment."""
        return node_runner(self.hosts[node_name], self.transcript, env=self.env)

    def netns_path(self, node_name: str) -> str:
        """The network namespace file of a node (for nsenter --net=...)."""
        return f"/proc/{self.hosts[node_name].pid}/ns/net"

    def _configure(self, node: model.Node) -> None:
        run = self.runner(node.name).run
        self._private_etc(node)
        run(["ip", "link", "set", "lo", "up"])
        for interface in node.interfaces:
            run(["ip", "address", "flush", "dev", interface.subnet])
            run(["ip", "address", "add", str(interface.address), "dev", interface.subnet])
            run(["ip", "link", "set", interface.subnet, "up"])
        sysctls = dict(WINDOWS_SYSCTLS) if node.os == "windows" else {}
        sysctls.update(kinds.kind(node.kind).sysctls)
        for key, value in sysctls.items():
            run(["sysctl", "-q", "-w", f"{key}={value}"])
        if node.gateway:
            run(["ip", "route", "add", "default", "via", str(node.gateway)])
        for route in node.routes:
            run(["ip", "route", "add", str(route.destination), "via", str(route.via)])

    def _private_etc(self, node: model.Node) -> None:
        """Mount an overlay over /etc in the node's mount namespace with its own files."""
        base = self.workdir / "etc" / node.name
        upper, work = base / "upper", base / "work"
        upper.mkdir(parents=True)
        work.mkdir()
        files = [
            model.FileSpec("/etc/hosts", hosts_file(node)),
            model.FileSpec("/etc/resolv.conf", resolv_conf(node)),
            *node.files,
        ]
        for spec in files:
            target = upper / spec.path.removeprefix("/etc/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(spec.content)
            os.chmod(target, spec.mode)
        self.runner(node.name).run(
            ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/etc,upperdir={upper},workdir={work}", "/etc"]
        )

    def stop(self) -> None:
        """Stop every node and switch; their namespaces, links and mounts go with them."""
        if self.net is not None:
            self.net.stop()
            self.net = None
