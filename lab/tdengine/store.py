"""Persistent dnode state under dataDir, as JSON files replaced atomically.

``dnode/dnode.json`` holds the dnode's identity (id, cluster id) and the mnode endpoints it
last learnt; ``mnode/sdb.json`` exists only on dnodes hosting an mnode and holds the
:class:`~lab.tdengine.cluster.ClusterTable` (with databases, vgroups and tables);
``vnode/vnodeN/rows.json`` holds the rows of vgroup N's tables on the dnode holding it.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from .cluster import ClusterTable

if TYPE_CHECKING:
    from typing import Any


class StateError(Exception):
    """Unreadable or unwritable state files."""


class StateStore:
    """Reads and writes the state files of one dnode."""

    def __init__(self, data_dir: str) -> None:
        self.dnode_path = os.path.join(data_dir, "dnode", "dnode.json")
        self.table_path = os.path.join(data_dir, "mnode", "sdb.json")
        self.vnode_dir = os.path.join(data_dir, "vnode")

    @staticmethod
    def _read(path: str) -> Any:
        try:
            with open(path, encoding="utf-8") as handle:
                return json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from None

    @staticmethod
    def _write(path: str, data: object) -> None:
        """Write ``data`` to a temporary file next to ``path``, sync it, rename it over."""
        temporary = f"{path}.tmp"
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(temporary, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        except OSError as exc:
            raise StateError(f"cannot write {path}: {exc}") from None

    def load_dnode(self) -> dict[str, Any]:
        """The saved identity dict, or an empty dict on first start."""
        data = self._read(self.dnode_path)
        if data is not None and not isinstance(data, dict):
            raise StateError(f"{self.dnode_path} does not hold a JSON object")
        return data or {}

    def save_dnode(self, data: dict[str, Any]) -> None:
        """Save the identity dict."""
        self._write(self.dnode_path, data)

    def load_table(self) -> ClusterTable | None:
        """The saved cluster table, or None when this dnode has no mnode data."""
        data = self._read(self.table_path)
        if data is None:
            return None
        try:
            return ClusterTable.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"{self.table_path} is not a cluster table: {exc!r}") from None

    def save_table(self, table: ClusterTable) -> None:
        """Save the cluster table."""
        self._write(self.table_path, table.to_json())

    def remove_table(self) -> None:
        """Forget the mnode data (this dnode no longer hosts an mnode)."""
        try:
            os.remove(self.table_path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StateError(f"cannot remove {self.table_path}: {exc}") from None

    def vnode_path(self, vg_id: int) -> str:
        """The rows file of vgroup ``vg_id``."""
        return os.path.join(self.vnode_dir, f"vnode{vg_id}", "rows.json")

    def load_vnode(self, vg_id: int) -> dict[str, list[list[Any]]]:
        """Table name -> rows (timestamp first, in time order) of a vnode; empty when new."""
        data = self._read(self.vnode_path(vg_id))
        if data is not None and not isinstance(data, dict):
            raise StateError(f"{self.vnode_path(vg_id)} does not hold a JSON object")
        return data or {}

    def save_vnode(self, vg_id: int, rows: dict[str, list[list[Any]]]) -> None:
        """Save a vnode's rows."""
        self._write(self.vnode_path(vg_id), rows)
