"""What the lab knows about one kind of node: how a scenario declares it, how it is built and drawn."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Network

from ..scenario import model
from ..scenario.checker import Checker
from ..scenario.source import SourceMap

# (checker, the node's mapping, its context for messages, the subnets, the fields every node has) -> the node
NodeReader = Callable[[Checker, SourceMap, str, dict[str, IPv4Network], dict], model.Node]


def plain_node(
    checker: Checker, spec: SourceMap, context: str, subnets: dict[str, IPv4Network], fields: dict
) -> model.Node:
    """A node with nothing beyond the fields every node has."""
    return model.Node(**fields)


@dataclass(frozen=True)
class NodeKind:
    """One kind of node (`model.Node.kind`)."""

    name: str  # the kind's name in the model, e.g. "docker-host"
    section: str  # the scenario's top-level key that lists nodes of this kind, e.g. "docker_hosts"
    keys: frozenset[str]  # the keys a node of this kind may have
    shape: str  # its Graphviz shape in topology pictures
    description: str  # what it is, for messages and documentation
    sysctls: Mapping[str, str] = field(default_factory=dict)  # set in the node when it is built
    client: bool = False  # a machine whose view of the network the report shows (hosts file, config files)
    read: NodeReader = plain_node
