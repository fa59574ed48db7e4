"""Every kind of node the lab knows, one module each, listed once in KINDS.

A new kind is a module defining `KIND = NodeKind(...)` and one line in KINDS
(CONTRIBUTING.md: "Adding a node kind").
"""

from __future__ import annotations

from . import docker_host, host, router
from .base import NodeKind

KINDS: tuple[NodeKind, ...] = (router.KIND, host.KIND, docker_host.KIND)


def kind(name: str) -> NodeKind:
    """The kind called `name` (a model.Node.kind)."""
    return next(k for k in KINDS if k.name == name)
