"""A picture of a variant's network: subnets, routers, hosts, Docker hosts, their networks,
containers and published ports (Graphviz)."""

from __future__ import annotations

from pathlib import Path

import graphviz

from .. import kinds
from ..scenario import model


def published_summary(container: model.Container) -> str:
    """The container's `-p` values, one per line."""
    return "\n".join(container.publish) or "nothing published"


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
            lines.append("(windows profile)")
        for route in node.routes:
            lines.append(f"route {route.destination} via {route.via}")
        for name, address in node.hosts:
            lines.append(f"hosts: {name} -> {address}")
        shape = kinds.kind(node.kind).shape
        if isinstance(node, model.DockerHost):
            with graph.subgraph(name=f"cluster_{node.name}") as cluster:
                cluster.attr(label=f"Docker host {node.name}", style="dashed")
                cluster.node(f"node/{node.name}", "\n".join(lines), shape=shape)
                for network in node.networks:
                    cluster.node(
                        f"docker/{node.name}/{network.name}",
                        f"Docker network {network.name}\n{network.subnet}\nbridge {network.bridge}",
                        shape="ellipse",
                        style="filled",
                        fillcolor="#eef7e8",
                    )
                    cluster.edge(f"node/{node.name}", f"docker/{node.name}/{network.name}", label=str(network.gateway))
                for container in node.containers:
                    label = f"{container.name}\n{container.ip}\npublished:\n{published_summary(container)}"
                    cluster.node(f"container/{container.name}", label, shape="component")
                    cluster.edge(f"docker/{node.name}/{container.network}", f"container/{container.name}")
        else:
            graph.node(f"node/{node.name}", "\n".join(lines), shape=shape)
        for interface in node.interfaces:
            graph.edge(f"subnet/{interface.subnet}", f"node/{node.name}", label=str(interface.address.ip))
    return graph


def render_topology(variant: model.Variant, title: str, path: Path) -> Path:
    """Write the variant's topology as an SVG file at `path` (needs Graphviz's `dot`)."""
    graph = topology_graph(variant, title)
    path.write_bytes(graph.pipe(format="svg"))
    return path
