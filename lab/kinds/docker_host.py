"""`docker_hosts`: a Linux server running its own Docker Engine, with networks, containers and published ports."""

from ..scenario.read_docker import DOCKER_HOST_KEYS, read_docker_host
from ..scenario.read_network import NODE_KEYS
from .base import NodeKind

KIND = NodeKind(
    name="docker-host",
    section="docker_hosts",
    keys=NODE_KEYS | DOCKER_HOST_KEYS,
    shape="box3d",
    read=read_docker_host,
    description="a server running a real Docker Engine with containers",
)
