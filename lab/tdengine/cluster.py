"""Mnode logic (pure: no I/O, the caller passes the time).

:class:`ClusterTable` is the replicated, persisted part (TDengine's sdb): cluster id, the
dnode table, the mnodes and who is master in which term.  :class:`Mnode` is what the master
adds in memory: dnode liveness from status messages, create/drop dnode and the rows of
``show dnodes`` / ``show mnodes``.  A new master starts with a fresh liveness view, so a
dnode it never heard from is ``offline`` with ``status not received``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .catalog import Catalog, DnodeLoad
from .errors import DNODE_ALREADY_EXIST, DNODE_NOT_EXIST, NO_REMOVE_MASTER, TaosError
from .shellfmt import Column

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

READY = "ready"
OFFLINE = "offline"
REASON_TIMEOUT = "status msg timeout"
REASON_NOT_RECEIVED = "status not received"
REASON_ID_MISMATCH = "dnodeId not match"
MISSED_CYCLES = 3  # a dnode missing this many status cycles goes offline
ALTERNATIVE_ROLE = "any"

DNODE_COLUMNS: tuple[Column, ...] = (
    Column("id", "smallint", 2),
    Column("end_point", "binary", 40),
    Column("vnodes", "smallint", 2),
    Column("cores", "smallint", 2),
    Column("status", "binary", 10),
    Column("role", "binary", 5),
    Column("create_time", "timestamp", 8),
    Column("offline reason", "binary", 24),
)
MNODE_COLUMNS: tuple[Column, ...] = (
    Column("id", "smallint", 2),
    Column("end_point", "binary", 40),
    Column("role", "binary", 12),
    Column("create_time", "timestamp", 8),
)


@dataclass
class DnodeRecord:
    """A registered dnode: id, endpoint string as given to ``create dnode``, creation ms."""

    id: int
    ep: str
    create_time: int


@dataclass
class MnodeRecord:
    """An mnode replica, hosted by dnode ``id``."""

    id: int
    create_time: int


@dataclass
class ClusterTable:
    """The mnode data every mnode replica holds and persists."""

    cluster_id: str
    term: int
    master_id: int
    next_id: int
    dnodes: dict[int, DnodeRecord] = field(default_factory=dict)  # id -> DnodeRecord
    mnodes: list[MnodeRecord] = field(default_factory=list)  # MnodeRecord, by dnode id (sdb order)
    version: int = 0
    catalog: Catalog = field(default_factory=Catalog)  # databases, vgroups, tables

    @classmethod
    def bootstrap(cls, cluster_id: str, local_ep: str, now_ms: int) -> ClusterTable:
        """First deploy: this dnode becomes dnode 1, hosts the master mnode and the monitor's
        ``log`` database."""
        table = cls(cluster_id=cluster_id, term=1, master_id=1, next_id=2, catalog=Catalog.bootstrap(now_ms, 1))
        table.dnodes[1] = DnodeRecord(1, local_ep, now_ms)
        table.mnodes.append(MnodeRecord(1, now_ms))
        return table

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        data = asdict(self)
        data["dnodes"] = [asdict(record) for record in self.dnodes.values()]
        data["catalog"] = self.catalog.to_json()
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ClusterTable:
        """Inverse of :meth:`to_json`; raises KeyError/TypeError/ValueError on bad data."""
        table = cls(
            cluster_id=str(data["cluster_id"]),
            term=int(data["term"]),
            master_id=int(data["master_id"]),
            next_id=int(data["next_id"]),
            version=int(data["version"]),
            catalog=Catalog.from_json(data["catalog"]) if "catalog" in data else Catalog(),
        )
        for item in data["dnodes"]:
            record = DnodeRecord(int(item["id"]), str(item["ep"]), int(item["create_time"]))
            table.dnodes[record.id] = record
        table.mnodes = [MnodeRecord(int(item["id"]), int(item["create_time"])) for item in data["mnodes"]]
        return table

    def mnode_ids(self) -> list[int]:
        """Ids of the dnodes hosting an mnode, in order."""
        return [mnode.id for mnode in self.mnodes]

    def mnode_eps(self) -> tuple[list[str], int]:
        """``(endpoint strings of the mnodes, index of the master)``."""
        eps = [self.dnodes[mnode.id].ep for mnode in self.mnodes if mnode.id in self.dnodes]
        ids = [mnode.id for mnode in self.mnodes if mnode.id in self.dnodes]
        return eps, ids.index(self.master_id) if self.master_id in ids else 0

    def find_by_ep(self, ep: str) -> DnodeRecord | None:
        """The dnode registered with exactly this endpoint string (case-sensitive), or None."""
        return next((record for record in self.dnodes.values() if record.ep == ep), None)

    def take_over(self, dnode_id: int) -> None:
        """Make ``dnode_id`` master in a new term."""
        self.term += 1
        self.master_id = dnode_id
        self.version += 1


def claim_beats(term: int, master_id: int, other_term: int, other_master_id: int) -> bool:
    """True when master claim (term, id) wins over the other: higher term, then lower id."""
    return term > other_term or (term == other_term and master_id < other_master_id)


def takeover_delay(mnode_ids: list[int], master_id: int, self_id: int, interval: float) -> float:
    """Seconds of silence from the master after which mnode ``self_id`` takes over.

    The last known master itself waits MISSED_CYCLES intervals (this matters after a restart
    of the whole cluster); the others wait one more interval per place they come after it,
    so that the next mnode in line takes over first and announces itself to the rest.
    """
    if master_id in mnode_ids:
        start = mnode_ids.index(master_id)
        rank = (mnode_ids.index(self_id) - start) % len(mnode_ids)
    else:
        rank = mnode_ids.index(self_id) + 1
    return (MISSED_CYCLES + rank) * interval


@dataclass
class Liveness:
    """What the master knows of a dnode from its status messages."""

    status: str = OFFLINE
    reason: str = REASON_NOT_RECEIVED
    last_access: float = 0.0
    cores: int = 0


class Mnode:
    """The master mnode's behaviour over a :class:`ClusterTable`."""

    def __init__(
        self,
        table: ClusterTable,
        local_id: int,
        server_port: int,
        num_of_mnodes: int,
        status_interval: float,
        now: float,
        cores: int,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        first_status_after: float = 0.0,
    ) -> None:
        self.table = table
        self.clock_ms = clock_ms
        self.local_id = local_id
        self.server_port = server_port
        self.num_of_mnodes = num_of_mnodes
        self.status_interval = status_interval
        self.liveness = {dnode_id: Liveness() for dnode_id in table.dnodes}
        # a freshly started dnode sends its first status one statusInterval after start: until
        # then the master's own dnode too is offline, "status not received"
        self.first_status_at = now + first_status_after
        # mnodes whose sync port answered the master's last replication to them: as in TDengine,
        # where a slave's role comes from the sync link, not from its dnode's status messages
        self.synced: set[int] = set()
        self.local_status(now, cores)

    def sync_outcome(self, endpoint: str, reached: bool) -> None:
        """Record whether the last replication to the mnode at `endpoint` reached it."""
        record = self.table.find_by_ep(endpoint)
        if record is not None:
            (self.synced.add if reached else self.synced.discard)(record.id)

    def local_status(self, now: float, cores: int) -> None:
        """The master's own dnode reports without the network (from its first status time on)."""
        if now < self.first_status_at:
            self.liveness.setdefault(self.local_id, Liveness())
            return
        live = self.liveness.setdefault(self.local_id, Liveness())
        live.last_access, live.cores = now, cores
        if live.status != READY:
            live.status, live.reason = READY, ""
            self._place_mnodes()

    def shell_epset(self) -> tuple[list[str], int]:
        """The mnode endpoints for clients: empty in a single-dnode cluster."""
        if len(self.table.dnodes) < 2:
            return [], 0
        return self.table.mnode_eps()

    def process_status(self, dnode_id: int, ep: str, cores: int, now: float) -> dict[str, Any]:
        """Handle a status message; return the status response body or raise TaosError.

        A dnode without an id (0) is matched by the exact endpoint string, one with an id by
        the id; the response tells it its id, the cluster and the mnode endpoints.
        """
        if dnode_id == 0:
            record = self.table.find_by_ep(ep)
        else:
            record = self.table.dnodes.get(dnode_id)
            if record is None:
                other = self.table.find_by_ep(ep)
                if other is not None and self.liveness[other.id].status != READY:
                    self.liveness[other.id].reason = REASON_ID_MISMATCH
        if record is None:
            raise TaosError(DNODE_NOT_EXIST)
        live = self.liveness[record.id]
        live.last_access, live.cores = now, cores
        if live.status != READY:
            live.status, live.reason = READY, ""
            self._place_mnodes()
        eps, in_use = self.table.mnode_eps()
        return {
            "dnode_id": record.id,
            "cluster_id": self.table.cluster_id,
            "mnodes": eps,
            "in_use": in_use,
            "mnode_ids": self.table.mnode_ids(),
        }

    def _place_mnodes(self) -> None:
        """Add mnodes on ready dnodes, lowest id first, until there are numOfMnodes; the
        list stays in id order, the order in which TDengine's sdb hands them out."""
        hosting = set(self.table.mnode_ids())
        for dnode_id in sorted(self.table.dnodes):
            if len(self.table.mnodes) >= self.num_of_mnodes:
                break
            if dnode_id not in hosting and self.liveness[dnode_id].status == READY:
                self.table.mnodes.append(MnodeRecord(dnode_id, self.clock_ms()))
                self.table.mnodes.sort(key=lambda mnode: mnode.id)
                self.table.version += 1

    def check_timeouts(self, now: float) -> list[DnodeRecord]:
        """Mark dnodes silent for MISSED_CYCLES status intervals offline; return them."""
        gone = []
        for dnode_id, live in self.liveness.items():
            if (
                dnode_id != self.local_id
                and live.status == READY
                and now - live.last_access > MISSED_CYCLES * self.status_interval
            ):
                live.status, live.reason = OFFLINE, REASON_TIMEOUT
                gone.append(self.table.dnodes[dnode_id])
        return gone

    def create_dnode(self, ep: str) -> DnodeRecord:
        """Register an endpoint (``fqdn`` alone gets the mnode's serverPort)."""
        ep = ep.strip()
        if ":" not in ep:
            ep = f"{ep.rstrip(';')}:{self.server_port}"
        if self.table.find_by_ep(ep) is not None:
            raise TaosError(DNODE_ALREADY_EXIST)
        record = DnodeRecord(self.table.next_id, ep, self.clock_ms())
        self.table.next_id += 1
        self.table.dnodes[record.id] = record
        self.liveness[record.id] = Liveness()
        self.table.version += 1
        return record

    def drop_dnode(self, target: str) -> DnodeRecord:
        """Remove a dnode given by endpoint or id; the master's own dnode cannot go."""
        record = self.table.find_by_ep(target)
        if record is None:
            digits = target.strip()
            digits = digits[: len(digits) - len(digits.lstrip("0123456789"))] or "0"
            record = self.table.dnodes.get(int(digits))
        if record is None:
            raise TaosError(DNODE_NOT_EXIST)
        if record.id == self.table.master_id:
            raise TaosError(NO_REMOVE_MASTER)
        del self.table.dnodes[record.id]
        del self.liveness[record.id]
        self.table.mnodes = [mnode for mnode in self.table.mnodes if mnode.id != record.id]
        self.table.version += 1
        return record

    def dnode_loads(self, mnode_ids: list[int] | None = None) -> list[DnodeLoad]:
        """Each dnode's cores, liveness and whether it counts as hosting an mnode (those of
        ``mnode_ids``; all mnodes when None), for vnode placement."""
        hosting = set(self.table.mnode_ids() if mnode_ids is None else mnode_ids)
        return [
            DnodeLoad(i, self.liveness[i].cores, self.liveness[i].status == READY, i in hosting)
            for i in sorted(self.table.dnodes)
        ]

    def online(self) -> dict[int, bool]:
        """Dnode id -> ready."""
        return {i: live.status == READY for i, live in self.liveness.items()}

    def dnode_rows(self) -> list[list[int | str]]:
        """Rows of ``show dnodes``, by id."""
        rows: list[list[int | str]] = []
        vnodes = self.table.catalog.vnode_counts()
        for dnode_id in sorted(self.table.dnodes):
            record, live = self.table.dnodes[dnode_id], self.liveness[dnode_id]
            rows.append(
                [
                    record.id,
                    record.ep[:40],
                    vnodes.get(dnode_id, 0),
                    live.cores,
                    live.status,
                    ALTERNATIVE_ROLE,
                    record.create_time,
                    live.reason,
                ]
            )
        return rows

    def mnode_rows(self) -> list[list[int | str]]:
        """Rows of ``show mnodes``: master, slave (its last replication reached it) or offline."""
        rows: list[list[int | str]] = []
        for mnode in self.table.mnodes:
            record = self.table.dnodes[mnode.id]
            if mnode.id == self.table.master_id:
                role = "master"
            else:
                role = "slave" if mnode.id in self.synced else "offline"
            rows.append([mnode.id, record.ep[:40], role, mnode.create_time])
        return rows
