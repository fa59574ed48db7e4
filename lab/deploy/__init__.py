"""Building a deployment: network namespaces, bridges, routers, Docker engines, containers."""
