"""The emulated network: Mininet nodes in their own namespaces, Linux bridges as switches.

Each subnet is a Linux bridge inside a namespace of its own (an unmanaged switch, no
controller); every node is a Mininet host with private network and mount namespaces. A
node's interface on a subnet is named after the subnet (`lan`), the switch port after the
node. Each node gets a private /etc (an overlay over the machine's), holding its own hosts
file, resolv.conf and files, so the normal resolver in that node reads them.
Nothing is created in the root namespace. Stopping the network ends every process left in
a node's network namespace (a daemon a step started), so no namespace outlives the run.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import Host, Switch

from .. import kinds
from ..commands import CommandRunner, Transcript
from ..errors import BuildError
from ..scenario import model
from ..software import software_files
from .journal import Journal, end_netns_processes

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


class LabHost(Host):
    """A Mininet host whose shell also has a UTS namespace of its own, so the node has its own host name.

    Mininet starts the node's shell with `mnexec -cdn ...` (new network and mount
    namespaces); `unshare --uts` is inserted right after, so the shell (the node's pid)
    holds the UTS namespace too. Programs join it through `in_node`.
    """

    def _popen(self, cmd, **params):
        if self.shell is None and cmd[:1] == ["mnexec"]:  # startShell: the node's first process
            cmd = [*cmd[:2], "unshare", "--uts", *cmd[2:]]
        return super()._popen(cmd, **params)


def in_node(node: Host, argv: list[str]) -> list[str]:
    """`argv` wrapped to join the node's UTS namespace (mnexec joins its network and mount namespaces)."""
    return ["nsenter", f"--uts=/proc/{node.pid}/ns/uts", "--", *argv]


def node_runner(node, transcript: Transcript, where: str | None = None, env=None) -> CommandRunner:
    """A CommandRunner that runs programs inside `node` (its network, mount and UTS namespaces)."""
    return CommandRunner(
        where or node.name, transcript, env=env, spawn=lambda argv, **kw: node.popen(in_node(node, argv), **kw)
    )


def inside(root: Path, path: str) -> Path:
    """`root/path` after normalisation; BuildError if `path` would lead out of `root`."""
    target = Path(os.path.normpath(root / path.lstrip("/")))
    if not target.is_relative_to(root):
        raise BuildError(f"{path!r} leads outside {root}; refused")
    return target


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
        self.namespaces: list[tuple[int, int | None, int]] = []  # every node's netns: inode, cookie, shell pid

    def build(self) -> None:
        """Create namespaces, bridges and links, then configure every node."""
        setLogLevel("error")
        self.net = Mininet(topo=None, controller=None, build=False, autoSetMacs=False, waitConnected=False)
        switches = {}
        for subnet in self.deployment.subnets:
            switch = self.net.addSwitch(f"sw:{subnet.name}", cls=BridgeSwitch, bridge=subnet.name)
            self._journal_node(switch, f"switch {subnet.name}")
            switches[subnet.name] = switch
        for node in self.deployment.nodes:
            host = self.net.addHost(f"{node.name}", cls=LabHost, ip=None)
            self._journal_node(host, node.name)
            self.hosts[node.name] = host
            for interface in node.interfaces:
                self.net.addLink(host, switches[interface.subnet], intfName1=interface.subnet, intfName2=node.name)
        self.net.build()
        self.net.start()
        for node in self.deployment.nodes:
            self._configure(node)

    def _journal_node(self, node: Host, name: str) -> None:
        inode, cookie = self.journal.node(node.pid, name)
        if inode is not None:
            self.namespaces.append((inode, cookie, node.pid))

    def runner(self, node_name: str) -> CommandRunner:
        """Runs programs in the node called `node_name`, with the lab's environment."""
        return node_runner(self.hosts[node_name], self.transcript, env=self.env)

    def netns_path(self, node_name: str) -> str:
        """The network namespace file of a node (for nsenter --net=...)."""
        return f"/proc/{self.hosts[node_name].pid}/ns/net"

    def _configure(self, node: model.Node) -> None:
        run = self.runner(node.name).run
        self._private_etc(node)
        run(["hostname", node.name])
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
        """Mount overlays over /etc (always) and /var (when the node needs folders there) in the
        node's mount namespace, holding its own files and the empty folders its software needs."""
        extra_files, folders = software_files(self.deployment.software, node.files)
        files = [
            model.FileSpec("/etc/hosts", hosts_file(node)),
            model.FileSpec("/etc/resolv.conf", resolv_conf(node)),
            *node.files,
            *extra_files,
        ]
        for folder in folders:
            if PurePosixPath(folder).parts[1:2] not in (("etc",), ("var",)):
                raise BuildError(
                    f"{node.name}: software needs the folder {folder}, but a node's private folders "
                    f"are under /etc and /var only (its taos.cfg or similar names it)"
                )
        for top in ("etc", "var"):
            mine = [f for f in files if f.path.startswith(f"/{top}/")]
            dirs = [d for d in folders if d.startswith(f"/{top}/") or d == f"/{top}"]
            if top == "var" and not mine and not dirs:
                continue
            base = self.workdir / top / node.name
            upper, work = base / "upper", base / "work"
            upper.mkdir(parents=True)
            work.mkdir()
            for folder in dirs:
                inside(upper, folder.removeprefix(f"/{top}")).mkdir(parents=True, exist_ok=True)
            for spec in mine:
                target = inside(upper, spec.path.removeprefix(f"/{top}/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(spec.content)
                os.chmod(target, spec.mode)
            self.runner(node.name).run(
                [
                    "mount",
                    "-t",
                    "overlay",
                    "overlay",
                    "-o",
                    f"lowerdir=/{top},upperdir={upper},workdir={work}",
                    f"/{top}",
                ]
            )

    def stop(self) -> None:
        """End whatever still runs in the nodes' network namespaces (a daemon a step started), then
        stop every node and switch; the namespaces, links and mounts go with them."""
        for inode, cookie, shell in self.namespaces:
            ended = end_netns_processes(inode, cookie, spare=shell)
            if ended:
                self.transcript.write(f"ended {len(ended)} process(es) left in a node's network namespace: {ended}")
        self.namespaces = []
        if self.net is not None:
            self.net.stop()
            self.net = None
