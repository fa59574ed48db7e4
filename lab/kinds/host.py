"""`hosts`: a client machine (Linux or Windows profile) with its own hosts file, resolver and files."""

from ..scenario.read_network import NODE_KEYS
from .base import NodeKind

KIND = NodeKind(
    name="host",
    section="hosts",
    keys=NODE_KEYS,
    shape="box",
    client=True,
    description="a client machine with its own /etc (hosts file, resolv.conf, files)",
)
