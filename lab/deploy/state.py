"""What each node looked like after the steps, kept in the variant's `state/` folder for the analysis:
hosts file, addresses, routes, NAT counters, and on Docker hosts the containers' states and logs and
the Docker networks (name, subnet, bridge) as the engine reports them.

Used by a run (lab.deploy.deployment) and, for a live lab, by `lab steps` from outside its keeper:
each gives the runners it has for nodes and for each Docker host's engine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from ..commands import CommandRunner
from ..scenario import model

NETWORK_FORMAT = (
    '{{.Name}}\t{{range .IPAM.Config}}{{.Subnet}}{{end}}\t{{index .Options "com.docker.network.bridge.name"}}'
)


def save_state(
    variant: model.Variant,
    state_dir: Path,
    node_runner: Callable[[str], CommandRunner],
    docker_cli: Mapping[str, CommandRunner],
) -> list[str]:
    """Write each node's state below `state_dir`; `docker_cli` runs `docker` against each Docker host's engine.

    Returns a warning for each container that was no longer running (Docker's own words for its
    status, and where its log is): the steps' outcomes may come from its absence.
    """
    hosts = {host.name: host for host in variant.deployment.docker_hosts}
    stopped = []
    for node in variant.deployment.nodes:
        node_dir = state_dir / node.name
        node_dir.mkdir(parents=True, exist_ok=True)
        run = node_runner(node.name).run
        commands = {
            "hosts": ["cat", "/etc/hosts"],
            "addresses": ["ip", "-4", "-br", "address"],
            "routes": ["ip", "route"],
        }
        if node.name in docker_cli:
            commands["iptables"] = ["iptables-save", "-c"]
        for name, argv in commands.items():
            result = run(argv, check=False, timeout=30)
            (node_dir / f"{name}.txt").write_text(result.stdout if result.exit_code == 0 else result.output)
        if node.name in docker_cli:
            stopped += [
                f"warning: container {name} on {node.name}: {status} after the steps; its log is in {state_dir}"
                for name, status in _save_engine_state(docker_cli[node.name], hosts[node.name], node_dir)
            ]
    return stopped


def _save_engine_state(cli: CommandRunner, host: model.DockerHost, node_dir: Path) -> list[tuple[str, str]]:
    """Write the engine's containers, networks and container logs; return (name, status) of the stopped containers."""

    def docker(*args: str):
        return cli.run(["docker", *args], check=False, timeout=30)

    listing = docker("ps", "--all", "--no-trunc", "--format", "{{.Names}}\t{{.Status}}\t{{.Ports}}")
    (node_dir / "containers.txt").write_text(listing.output)
    networks = docker("network", "inspect", "--format", NETWORK_FORMAT, *(n.name for n in host.networks))
    (node_dir / "docker-networks.txt").write_text(networks.stdout if networks.exit_code == 0 else networks.output)
    for container in host.containers:
        logs = docker("logs", "--timestamps", container.name)
        (node_dir / f"container-{container.name}.log").write_text(logs.output)
    rows = [line.split("\t") for line in listing.stdout.splitlines()] if listing.exit_code == 0 else []
    return [(row[0], row[1]) for row in rows if len(row) >= 2 and not row[1].startswith("Up")]
