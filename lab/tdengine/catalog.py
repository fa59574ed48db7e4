"""The mnode's databases, vgroups and tables (pure: no I/O, the caller passes the time).

Part of the replicated cluster table.  As in TDengine 2.0: a database gets its first vgroup
when its first table is created; a vgroup's vnodes go to the dnodes with the lowest balance
score (``4/cores`` for a dnode hosting an mnode plus ``vnodes/cores``; among equal scores
the higher id first, as bnAccquireDnodes sorts); vgroup ids are never reused.  The monitor's
``log`` database exists from the first deploy, its vgroup on dnode 1.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import (
    DB_ALREADY_EXIST,
    DB_NOT_SELECTED,
    INVALID_DB,
    INVALID_DB_OPTION_KEEP,
    INVALID_TABLE_NAME,
    NO_ENOUGH_DNODES,
    TABLE_ALREADY_EXIST,
    TaosError,
)
from .shellfmt import Column

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

MONITOR_DB = "log"
FIRST_VGROUP_ID = 2  # the real cluster's log database has vgroup 2
MNODE_EQUAL_VNODES = 4  # tsMnodeEqualVnodeNum
DEFAULT_KEEP = 3650
DEFAULT_DAYS = 10
MONITOR_TABLES = 3  # acct_root, slowquery, log; plus one dnN per dnode

DATABASE_COLUMNS: tuple[Column, ...] = (
    Column("name", "binary", 32),
    Column("created_time", "timestamp", 8),
    Column("ntables", "int", 4),
    Column("vgroups", "int", 4),
    Column("replica", "smallint", 2),
    Column("quorum", "smallint", 2),
    Column("days", "smallint", 2),
    Column("keep0,keep1,keep(D)", "binary", 24),
    Column("cache(MB)", "int", 4),
    Column("blocks", "int", 4),
    Column("minrows", "int", 4),
    Column("maxrows", "int", 4),
    Column("wallevel", "tinyint", 1),
    Column("fsync", "int", 4),
    Column("comp", "tinyint", 1),
    Column("cachelast", "tinyint", 1),
    Column("precision", "binary", 3),
    Column("update", "tinyint", 1),
    Column("status", "binary", 10),
)
TABLE_COLUMNS: tuple[Column, ...] = (
    Column("table_name", "binary", 192),
    Column("created_time", "timestamp", 8),
    Column("columns", "smallint", 2),
    Column("stable_name", "binary", 192),
    Column("uid", "bigint", 8),
    Column("tid", "int", 4),
    Column("vgId", "int", 4),
)
STABLE_COLUMNS: tuple[Column, ...] = (
    Column("name", "binary", 192),
    Column("created_time", "timestamp", 8),
    Column("columns", "smallint", 2),
    Column("tags", "smallint", 2),
    Column("tables", "int", 4),
)
DESCRIBE_COLUMNS: tuple[Column, ...] = (
    Column("Field", "binary", 64),
    Column("Type", "binary", 20),
    Column("Length", "int", 4),
    Column("Note", "binary", 8),
)
TYPE_BYTES = {"timestamp": 8, "bool": 1, "tinyint": 1, "smallint": 2, "int": 4, "bigint": 8, "float": 4, "double": 8}

Schema = list[list[Any]]  # [[name, type, bytes], ...]


@dataclass
class Database:
    """A database and its options."""

    name: str
    create_time: int
    replica: int = 1
    keep: int = DEFAULT_KEEP
    days: int = DEFAULT_DAYS
    cache: int = 16
    blocks: int = 6
    precision: str = "ms"


@dataclass
class Vgroup:
    """A vgroup of a database: the dnodes holding its vnodes, in order."""

    id: int
    db: str
    dnode_ids: list[int]
    next_tid: int = 1


@dataclass
class Table:
    """A normal table, a super table (``stable``) or a child table of one (``using``)."""

    db: str
    name: str
    create_time: int
    columns: Schema = field(default_factory=list)
    tags: Schema = field(default_factory=list)
    is_stable: bool = False
    using: str = ""
    tag_values: list[Any] = field(default_factory=list)
    vg_id: int = 0
    tid: int = 0
    uid: int = 0


@dataclass
class DnodeLoad:
    """What placement needs to know of a dnode."""

    id: int
    cores: int
    online: bool
    is_mnode: bool


@dataclass
class Catalog:
    """Databases, vgroups and tables of the cluster."""

    databases: dict[str, Database] = field(default_factory=dict)
    vgroups: dict[int, Vgroup] = field(default_factory=dict)
    tables: dict[str, Table] = field(default_factory=dict)  # "db.name" -> Table
    next_vg_id: int = FIRST_VGROUP_ID

    @classmethod
    def bootstrap(cls, now_ms: int, dnode_id: int) -> Catalog:
        """First deploy: the monitor's ``log`` database with its vgroup on this dnode."""
        catalog = cls()
        catalog.databases[MONITOR_DB] = Database(MONITOR_DB, now_ms, keep=30, cache=1, blocks=3, precision="us")
        catalog.vgroups[catalog.next_vg_id] = Vgroup(catalog.next_vg_id, MONITOR_DB, [dnode_id])
        catalog.next_vg_id += 1
        return catalog

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "databases": [asdict(db) for db in self.databases.values()],
            "vgroups": [asdict(vgroup) for vgroup in self.vgroups.values()],
            "tables": [asdict(table) for table in self.tables.values()],
            "next_vg_id": self.next_vg_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Catalog:
        """Inverse of :meth:`to_json`; raises KeyError/TypeError/ValueError on bad data."""
        catalog = cls(next_vg_id=int(data["next_vg_id"]))
        for item in data["databases"]:
            catalog.databases[str(item["name"])] = Database(**item)
        for item in data["vgroups"]:
            catalog.vgroups[int(item["id"])] = Vgroup(**item)
        for item in data["tables"]:
            table = Table(**item)
            catalog.tables[f"{table.db}.{table.name}"] = table
        return catalog

    # ---- databases

    def create_db(self, name: str, if_not_exists: bool, replica: int, keep: int, now_ms: int) -> None:
        """``create database``."""
        if name in self.databases:
            if if_not_exists:
                return
            raise TaosError(DB_ALREADY_EXIST)
        if keep < DEFAULT_DAYS:
            raise TaosError(INVALID_DB_OPTION_KEEP)
        self.databases[name] = Database(name, now_ms, replica=replica, keep=keep)

    def database(self, name: str) -> Database:
        """The database ``name``; ``Database not specified or available`` otherwise."""
        if name not in self.databases:
            raise TaosError(DB_NOT_SELECTED)
        return self.databases[name]

    def use_db(self, name: str) -> None:
        """``use``: the database must exist."""
        if name not in self.databases:
            raise TaosError(INVALID_DB)

    def drop_db(self, name: str, if_exists: bool) -> list[int]:
        """``drop database``: forget it, its tables and vgroups; return the vgroup ids."""
        if name not in self.databases:
            if if_exists:
                return []
            raise TaosError(INVALID_DB)
        del self.databases[name]
        self.tables = {key: table for key, table in self.tables.items() if table.db != name}
        gone = [vg_id for vg_id, vgroup in self.vgroups.items() if vgroup.db == name]
        for vg_id in gone:
            del self.vgroups[vg_id]
        return gone

    # ---- tables

    def table(self, db: str, name: str) -> Table:
        """The table ``db.name``; errors as the mnode's table meta gives them."""
        self.database(db)
        table = self.tables.get(f"{db}.{name}")
        if table is None:
            raise TaosError(INVALID_TABLE_NAME)
        return table

    def create_table(
        self,
        table: Table,
        if_not_exists: bool,
        dnodes: Sequence[DnodeLoad],
        version: int,
        rng: random.Random | None = None,
    ) -> Table:
        """``create table|stable``; a normal or child table gets a vgroup (made if none)."""
        database = self.database(table.db)
        key = f"{table.db}.{table.name}"
        if key in self.tables:
            if if_not_exists:
                return self.tables[key]
            raise TaosError(TABLE_ALREADY_EXIST)
        if table.using:
            stable = self.table(table.db, table.using)
            if not stable.is_stable:
                raise TaosError(INVALID_TABLE_NAME)
            table.columns, table.tags = stable.columns, stable.tags
        if not table.is_stable:
            vgroup = next((v for v in self.vgroups.values() if v.db == table.db), None)
            if vgroup is None:
                vgroup = Vgroup(self.next_vg_id, table.db, self.place(database.replica, dnodes))
                self.vgroups[vgroup.id] = vgroup
                self.next_vg_id += 1
            table.vg_id, table.tid = vgroup.id, vgroup.next_tid
            vgroup.next_tid += 1
            # TDengine's uid: vgId, tid, the sdb version and 8 random bits
            bits = (rng or random).getrandbits(8)
            table.uid = (vgroup.id << 48) + ((table.tid & 0xFFFFFF) << 24) + ((version & 0xFFFF) << 8) + bits
        self.tables[key] = table
        return table

    def children(self, stable: Table) -> list[Table]:
        """The child tables of a super table, in creation order."""
        return [t for t in self.tables.values() if t.db == stable.db and t.using == stable.name]

    # ---- placement

    def vnode_counts(self) -> dict[int, int]:
        """Vnodes per dnode id."""
        counts: dict[int, int] = {}
        for vgroup in self.vgroups.values():
            for dnode_id in vgroup.dnode_ids:
                counts[dnode_id] = counts.get(dnode_id, 0) + 1
        return counts

    def ranked(self, dnodes: Sequence[DnodeLoad], extra: Mapping[int, int] | None = None) -> list[DnodeLoad]:
        """Online dnodes by balance score, lowest first; equal scores: higher id first."""
        counts = self.vnode_counts()
        ranked: list[tuple[float, DnodeLoad]] = []
        for dnode in sorted(dnodes, key=lambda d: d.id):
            if not dnode.online:
                continue
            score = score_of(dnode, counts.get(dnode.id, 0) + (extra or {}).get(dnode.id, 0))
            index = len(ranked)
            while index > 0 and score <= ranked[index - 1][0]:
                index -= 1
            ranked.insert(index, (score, dnode))
        return [dnode for _, dnode in ranked]

    def place(self, replica: int, dnodes: Sequence[DnodeLoad]) -> list[int]:
        """Dnode ids for a new vgroup's vnodes (bnAllocVnodes)."""
        chosen = [dnode.id for dnode in self.ranked(dnodes)[:replica]]
        if len(chosen) < replica:
            raise TaosError(NO_ENOUGH_DNODES)
        return chosen

    def balance_monitor_vgroup(self, dnodes: Sequence[DnodeLoad]) -> tuple[int, int] | None:
        """Move the ``log`` vgroup to a dnode with a lower score, as the balancer does once
        other dnodes joined (bnMonitorBalance); return ``(from, to)`` or None.

        Only the monitor's vgroup moves (user vgroups keep their place, their rows stay
        where they are); the caller says which dnodes count as hosting an mnode."""
        ranked = self.ranked(dnodes)
        counts = self.vnode_counts()
        for vgroup in self.vgroups.values():
            if vgroup.db != MONITOR_DB:
                continue
            for source in reversed(ranked):
                if source.id not in vgroup.dnode_ids:
                    continue
                source_score = score_of(source, counts.get(source.id, 0) - 1)
                for dest in ranked:
                    if dest is source or dest.id in vgroup.dnode_ids:
                        continue
                    if source_score + 0.0001 < score_of(dest, counts.get(dest.id, 0) + 1):
                        continue
                    vgroup.dnode_ids = [dest.id if i == source.id else i for i in vgroup.dnode_ids]
                    return source.id, dest.id
        return None

    # ---- show rows

    def table_count(self, db: str, dnode_count: int, vg_id: int | None = None) -> int:
        """Normal and child tables of ``db`` (of one vgroup); the monitor's: its own tables
        and one per dnode, as each dnode's monitor creates them."""
        if db == MONITOR_DB:
            return MONITOR_TABLES + dnode_count
        return sum(1 for t in self.tables.values() if t.db == db and not t.is_stable and vg_id in (None, t.vg_id))

    def database_rows(self, dnode_count: int) -> list[list[Any]]:
        """Rows of ``show databases``."""
        rows: list[list[Any]] = []
        for db in self.databases.values():
            tables = self.table_count(db.name, dnode_count)
            vgroups = sum(1 for v in self.vgroups.values() if v.db == db.name)
            keep = f"{db.keep},{db.keep},{db.keep}"
            rows.append(
                [db.name, db.create_time, tables, vgroups, db.replica, 1, db.days, keep, db.cache, db.blocks]
                + [100, 4096, 1, 3000, 2, 0, db.precision, 0, "ready"]
            )
        return rows

    def table_rows(self, db: str) -> list[list[Any]]:
        """Rows of ``show tables`` (normal and child tables)."""
        self.database(db)
        return [
            [t.name, t.create_time, len(t.columns), t.using, t.uid, t.tid, t.vg_id]
            for t in self.tables.values()
            if t.db == db and not t.is_stable
        ]

    def stable_rows(self, db: str) -> list[list[Any]]:
        """Rows of ``show stables``."""
        self.database(db)
        return [
            [t.name, t.create_time, len(t.columns), len(t.tags), len(self.children(t))]
            for t in self.tables.values()
            if t.db == db and t.is_stable
        ]

    def vgroup_columns(self, db: str) -> list[Column]:
        """Columns of ``show vgroups``: one dnode/status pair per replica."""
        replica = self.database(db).replica
        columns = [Column("vgId", "int", 4), Column("tables", "int", 4), Column("status", "binary", 8)]
        columns.append(Column("onlines", "int", 4))
        for index in range(1, replica + 1):
            columns += [Column(f"v{index}_dnode", "smallint", 2), Column(f"v{index}_status", "binary", 9)]
        return columns

    def vgroup_rows(self, db: str, online: Mapping[int, bool]) -> list[list[Any]]:
        """Rows of ``show vgroups``."""
        self.database(db)
        rows: list[list[Any]] = []
        for vgroup in self.vgroups.values():
            if vgroup.db != db:
                continue
            tables = self.table_count(db, len(online), vgroup.id)
            alive = [online.get(i, False) for i in vgroup.dnode_ids]
            row: list[Any] = [vgroup.id, tables, "ready", sum(alive)]
            for index, dnode_id in enumerate(vgroup.dnode_ids):
                row += [dnode_id, ("master" if index == 0 else "slave") if alive[index] else "offline"]
            rows.append(row)
        return rows


def score_of(dnode: DnodeLoad, vnodes: int) -> float:
    """bnTryCalcDnodeScore without the system load parts."""
    cores = max(dnode.cores, 1)
    return (MNODE_EQUAL_VNODES / cores if dnode.is_mnode else 0.0) + vnodes / cores


def describe_rows(table: Table) -> list[list[Any]]:
    """Rows of ``describe``: columns, then tags marked ``TAG``."""
    rows = [[name, kind.upper(), size, ""] for name, kind, size in table.columns]
    return rows + [[name, kind.upper(), size, "TAG"] for name, kind, size in table.tags]
