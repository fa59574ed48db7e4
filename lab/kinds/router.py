"""`routers`: a node that forwards between its subnets (IP forwarding on, static routes only)."""

from .base import NodeKind

KIND = NodeKind(
    name="router",
    section="routers",
    keys=frozenset({"interfaces", "gateway", "routes"}),
    shape="octagon",
    sysctls={"net.ipv4.ip_forward": "1"},
    description="a router forwarding between its subnets with static routes",
)
