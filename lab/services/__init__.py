"""Small real programs the lab runs inside nodes and containers (standard library only)."""
