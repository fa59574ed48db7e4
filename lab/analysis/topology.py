"""A picture of a variant's network: subnets, routers, hosts, Docker hosts, their networks,
containers and published ports (Graphviz)."""

from __future__ import annotations

from pathlib import Path

import graphviz

from .. import kinds
from ..scenario import model
from .messages import t


def published_summary(container: model.Container) -> str:
    """The container's `-p` values, one per line."""
    return "\n".join(container.publish) or t("nothing published")


def topology_graph(variant: model.Variant, title: str) -> graphviz.Graph:
    """The Graphviz graph of one variant's deployment."""
    graph = graphviz.Graph(
        name=variant.name,
        graph_attr={"label": title, "labelloc": "t", "fontname": "Helvetica", "rankdir": "LR", "nodesep": "0.4"},
        node_attr={"fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "10"},
    )
    deployment = variant.deployment
    for subnet in deployment.subnets:
        graph.node(
            f"subnet/{subnet.name}",
            f"{subnet.name}\n{subnet.network}",
            shape="ellipse",
            style="filled",
            fillcolor="#e8eef7",
        )
    for node in deployment.nodes:
        lines = [node.name]
        if node.os == "windows":
            lines.append(t("(windows profile)"))
        for route in node.routes:
            lines.append(t("route {destination} via {via}", destination=route.destination, via=route.via))
        for name, address in node.hosts:
            lines.append(f"hosts: {name} -> {address}")
        shape = kinds.kind(node.kind).shape
        if isinstance(node, model.DockerHost):
            with graph.subgraph(name=f"cluster_{node.name}") as cluster:
                cluster.attr(label=t("Docker host {name}", name=node.name), style="dashed")
                cluster.node(f"node/{node.name}", "\n".join(lines), shape=shape)
                for network in node.networks:
                    cluster.node(
                        f"docker/{node.name}/{network.name}",
                        t("Docker network {name}", name=network.name)
                        + f"\n{network.subnet}\n"
                        + t("bridge {bridge}", bridge=network.bridge),
                        shape="ellipse",
                        style="filled",
                        fillcolor="#eef7e8",
                    )
                    cluster.edge(f"node/{node.name}", f"docker/{node.name}/{network.name}", label=str(network.gateway))
                for container in node.containers:
                    label = (
                        f"{container.name}\n{container.ip}\n" + t("published:") + f"\n{published_summary(container)}"
                    )
                    cluster.node(f"container/{container.name}", label, shape="component")
                    cluster.edge(f"docker/{node.name}/{container.network}", f"container/{container.name}")
        else:
            graph.node(f"node/{node.name}", "\n".join(lines), shape=shape)
        for interface in node.interfaces:
            graph.edge(f"subnet/{interface.subnet}", f"node/{node.name}", label=str(interface.address.ip))
    return graph


def _graph_id(deployment: model.Deployment, key: str) -> str:
    return f"container/{key}" if key in {c.name for c in deployment.containers} else f"node/{key}"


def _between(deployment: model.Deployment, here: str, there: str) -> list[str]:
    """Graph nodes a packet crosses from `here` to `there` (a shared subnet, a Docker network)."""
    containers = {c.name: c for c in deployment.containers}
    if there in containers:
        host = next(h for h in deployment.docker_hosts if there in {c.name for c in h.containers})
        return [f"docker/{host.name}/{containers[there].network}"]
    if here in containers or there not in {n.name for n in deployment.nodes}:
        return []
    subnets = {i.subnet for i in deployment.node(here).interfaces} & {
        i.subnet for i in deployment.node(there).interfaces
    }
    return [f"subnet/{sorted(subnets)[0]}"] if subnets else []


def path_graph(variant: model.Variant, title: str, path: list[str], broke: str) -> graphviz.Graph:
    """The topology with the path the client's packets took drawn over it in red, and the
    point where it broke marked with what happened there."""
    graph = topology_graph(variant, title)
    deployment = variant.deployment
    known = {n.name for n in deployment.nodes} | {c.name for c in deployment.containers}
    stops = [key for key in path if key in known]
    hops = [_graph_id(deployment, stops[0])] if stops else []
    for here, there in zip(stops, stops[1:], strict=False):
        hops += [*_between(deployment, here, there), _graph_id(deployment, there)]
    for start, end in zip(hops, hops[1:], strict=False):
        graph.edge(start, end, color="#c62828", penwidth="3", dir="forward", constraint="false")
    if hops:
        graph.node("break", f"✗ {broke}", shape="note", color="#c62828", fontcolor="#c62828", style="bold")
        graph.edge(hops[-1], "break", color="#c62828", style="dashed")
    return graph


def render_topology(variant: model.Variant, title: str, path: Path, graph: graphviz.Graph | None = None) -> Path:
    """Write the variant's topology (or `graph`) as an SVG file at `path` (needs Graphviz's `dot`)."""
    graph = graph if graph is not None else topology_graph(variant, title)
    path.write_bytes(graph.pipe(format="svg"))
    return path
