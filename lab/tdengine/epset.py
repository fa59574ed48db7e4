"""Management endpoint sets (pure), as taosc and every dnode keep them.

An :class:`EpSet` is an ordered list of ``(fqdn, port)`` with the index of the endpoint in
use.  Requests go to the one in use; on failure the next one is tried (wrapping around);
connect responses, heartbeat responses and redirects REPLACE the whole set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config import parse_endpoint

if TYPE_CHECKING:
    from collections.abc import Iterable


class EpSet:
    """Ordered endpoints plus the one in use."""

    def __init__(self, endpoints: Iterable[tuple[str, int]], in_use: int = 0) -> None:
        self._endpoints: list[tuple[str, int]] = []
        self._in_use = 0
        self.replace(endpoints, in_use)

    @classmethod
    def from_strings(cls, texts: Iterable[str], in_use: int, default_port: int) -> EpSet:
        """Build from ``fqdn:port`` strings (a missing port means ``default_port``)."""
        return cls([parse_endpoint(text, default_port) for text in texts], in_use)

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        """The endpoints, in order."""
        return list(self._endpoints)

    @property
    def in_use(self) -> int:
        """Index of the endpoint in use."""
        return self._in_use

    def __len__(self) -> int:
        return len(self._endpoints)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EpSet) and self._endpoints == other._endpoints and self._in_use == other._in_use

    def __repr__(self) -> str:
        return f"EpSet({self.as_strings()!r}, in_use={self._in_use})"

    def copy(self) -> EpSet:
        """An independent copy."""
        return EpSet(self._endpoints, self._in_use)

    def current(self) -> tuple[str, int]:
        """The endpoint in use."""
        return self._endpoints[self._in_use]

    def advance(self) -> None:
        """Move to the next endpoint (after a failure), wrapping around."""
        self._in_use = (self._in_use + 1) % len(self._endpoints)

    def replace(self, endpoints: Iterable[tuple[str, int]], in_use: int = 0) -> None:
        """Replace the whole set; an out-of-range ``in_use`` falls back to 0."""
        endpoints = [(str(fqdn), int(port)) for fqdn, port in endpoints]
        if not endpoints:
            raise ValueError("an endpoint set needs at least one endpoint")
        self._endpoints = endpoints
        self._in_use = in_use if 0 <= in_use < len(endpoints) else 0

    def as_strings(self) -> list[str]:
        """The endpoints as ``fqdn:port`` strings."""
        return [f"{fqdn}:{port}" for fqdn, port in self._endpoints]
