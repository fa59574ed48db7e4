"""taosd: one emulated TDengine 2.0.20 dnode (asyncio, standard library only).

Usage: ``python3 -m lab.tdengine.taosd [-c CONFIG_DIR]``.  Ports, all bound on 0.0.0.0 and
derived from serverPort (P): P TCP and P..P+n-1 UDP for clients (n RPC threads, see
:func:`~lab.tdengine.config.rpc_thread_count`), P+5 TCP and UDP between dnodes (status
messages), P+10 TCP for mnode replication, P+11 TCP for a minimal HTTP answer.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING, cast

from . import VERSION
from .catalog import (
    DATABASE_COLUMNS,
    STABLE_COLUMNS,
    TABLE_COLUMNS,
    Table,
)
from .client import resolve_ipv4 as blocking_resolve_ipv4
from .cluster import DNODE_COLUMNS, MNODE_COLUMNS, READY, ClusterTable, Mnode, claim_beats, takeover_delay
from .config import DEFAULT_CONFIG_DIR, ConfigError, load_config, parse_endpoint, rpc_thread_count
from .epset import EpSet
from .errors import (
    AUTH_FAILURE,
    DB_NOT_SELECTED,
    FQDN_ERROR,
    INVALID_MSG_TYPE,
    INVALID_SHOWOBJ,
    INVALID_USER,
    NETWORK_UNAVAIL,
    NO_RIGHTS,
    REDIRECT,
    TIMESTAMP_OUT_OF_RANGE,
    TaosError,
    error_text,
)
from .protocol import (
    CONNECT,
    CREATE_DB,
    CREATE_DNODE,
    CREATE_TABLE,
    DROP_DB,
    DROP_DNODE,
    HEADER_SIZE,
    HEARTBEAT,
    MNODE_SYNC,
    QUERY,
    RETRIEVE,
    SHELL_REQUESTS,
    SHOW,
    STATUS,
    TABLE_META,
    USE_DB,
    VNODE_REQUESTS,
    Message,
    ProtocolError,
    decode,
    decode_body,
    decode_header,
    encode,
    is_request,
    reply,
)
from .store import StateError, StateStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Sequence
    from typing import Any, TypeVar

    from .config import TaosConfig

    T = TypeVar("T")
    Handler = Callable[[Message, int], Message]  # (request, the port it came to) -> response

log = logging.getLogger("taosd")

PEER_PORT_OFFSET = 5
SYNC_PORT_OFFSET = 10
HTTP_PORT_OFFSET = 11
TCP_CONNECT_TIMEOUT = 3.0
PEER_REPLY_TIMEOUT = 3.0
IDLE_TIMEOUT = 60.0
MAX_REDIRECTS = 5
MAX_SHOWS = 64
MAX_REFUSED_LOGGED = 256
LOG_FILE = "taosdlog.0"
LOG_FORMAT = "%(asctime)s.%(msecs)03d taosd %(message)s"
MS_PER_DAY = 86_400_000
BALANCE_AFTER_INTERVALS = 5  # a vgroup may move 5 status intervals after it was made (bnCheckVgroupReady)
USERS = {"root": "taosdata", "monitor": "secretkey"}  # 2.0's default users (monitor: internal)


def _field(body: dict[str, Any], name: str, kind: type[T]) -> T:
    """``body[name]`` checked to be of ``kind``; garbage raises ProtocolError."""
    value = body.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ProtocolError(f"field {name!r} missing or not {kind}")
    return value


def _string_list(body: dict[str, Any], name: str) -> list[str]:
    values = _field(body, name, list)
    if not all(isinstance(value, str) for value in values):
        raise ProtocolError(f"field {name!r} is not a list of strings")
    return values


async def resolve_ipv4(fqdn: str) -> str:
    """Resolve ``fqdn`` with getaddrinfo (hosts file, DNS), IPv4 only, in a daemon thread."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str | None] = loop.create_future()

    def settle(result: str | None) -> None:
        if not future.done():
            future.set_result(result)

    def lookup() -> None:
        result: str | None
        try:
            result = blocking_resolve_ipv4(fqdn)
        except TaosError:
            result = None
        try:
            loop.call_soon_threadsafe(settle, result)
        except RuntimeError:  # the loop closed while resolving
            pass

    threading.Thread(target=lookup, daemon=True).start()
    address = await future
    if address is None:
        raise TaosError(FQDN_ERROR)
    return address


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one message from a TCP stream."""
    header = decode_header(await reader.readexactly(HEADER_SIZE))
    return decode_body(header, await reader.readexactly(header[4]))


async def tcp_exchange(fqdn: str, port: int, message: Message) -> Message:
    """Send ``message`` over a new TCP connection to ``fqdn:port`` and return the reply."""
    try:
        address = await asyncio.wait_for(resolve_ipv4(fqdn), TCP_CONNECT_TIMEOUT)
    except TimeoutError:  # a resolver that does not answer (no DNS server) is given up like a connect
        raise TaosError(NETWORK_UNAVAIL) from None
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(address, port), TCP_CONNECT_TIMEOUT)
    except (TimeoutError, OSError):
        raise TaosError(NETWORK_UNAVAIL) from None
    try:
        writer.write(encode(message))
        await writer.drain()
        return await asyncio.wait_for(read_message(reader), PEER_REPLY_TIMEOUT)
    except (TimeoutError, OSError, asyncio.IncompleteReadError, ProtocolError):
        raise TaosError(NETWORK_UNAVAIL) from None
    finally:
        writer.close()


class UdpService(asyncio.DatagramProtocol):
    """Answers request datagrams; the reply carries this socket's port in its header."""

    def __init__(self, handler: Handler, port: int) -> None:
        self.handler = handler
        self.port = port
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # the endpoint made for this protocol

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            message = decode(data)
            if not is_request(message.type):
                return
            response = self.handler(message, self.port)
        except ProtocolError:
            return
        except Exception:  # a bug must not stop the service
            log.exception("error handling a datagram from %s:%s", *addr)
            return
        assert self.transport is not None  # datagrams arrive only once the endpoint is made
        self.transport.sendto(encode(response), addr)

    def error_received(self, exc: Exception) -> None:
        """ICMP errors for earlier replies: nothing to do."""


def tcp_service(handler: Handler, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection callback answering the request messages of one TCP connection."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                message = await asyncio.wait_for(read_message(reader), IDLE_TIMEOUT)
                if not is_request(message.type):
                    break
                writer.write(encode(handler(message, port)))
                await writer.drain()
        except (TimeoutError, ProtocolError, asyncio.IncompleteReadError, OSError):
            pass
        except Exception:  # a bug must not stop the service
            log.exception("error on a connection to port %d", port)
        finally:
            writer.close()

    return serve


async def serve_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Minimal HTTP on P+11: any request gets the answer of ``select server_version()``."""
    try:
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
        body = json.dumps({"status": "succ", "head": ["server_version()"], "data": [[VERSION]], "rows": 1}).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        await writer.drain()
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
        pass
    finally:
        writer.close()


class Dnode:
    """One dnode: its identity, the mnode endpoints it knows and, maybe, an mnode replica."""

    def __init__(self, config: TaosConfig, store: StateStore, cores: int) -> None:
        self.config = config
        self.store = store
        self.cores = cores
        self.local_ep = config.local_ep
        self.local_endpoint = parse_endpoint(self.local_ep, config.server_port)
        identity = store.load_dnode()
        try:
            self.dnode_id = int(identity.get("dnode_id", 0))
            self.cluster_id = str(identity.get("cluster_id", ""))
            eps = identity.get("mnode_eps") or [config.first_ep, config.second_ep]
            self.mnode_eps = EpSet.from_strings(eps, int(identity.get("mnode_in_use", 0)), config.server_port)
        except (TypeError, ValueError) as exc:
            raise StateError(f"{store.dnode_path}: {exc}") from None
        self.table = store.load_table()
        self.mnode: Mnode | None = None
        self.persisted_version = None if self.table is None else (self.table.term, self.table.version)
        self.shows: OrderedDict[int, list[list[int | str]]] = OrderedDict()
        self.next_show_id = 1
        self.next_seq = 1
        self.status_outcome: str | None = None
        self.refused_eps: set[str] = set()
        self.sync_event: asyncio.Event | None = None  # made by run(), in its event loop
        self.started = time.monotonic()
        self.tasks: set[asyncio.Task[Any]] = set()

    # ---- persistence and roles

    def save_identity(self) -> None:
        """Persist id, cluster id and mnode endpoints."""
        self.store.save_dnode(
            {
                "dnode_id": self.dnode_id,
                "cluster_id": self.cluster_id,
                "mnode_eps": self.mnode_eps.as_strings(),
                "mnode_in_use": self.mnode_eps.in_use,
            }
        )

    def set_mnode_eps(self, eps: list[str], in_use: int) -> None:
        """Adopt a new mnode endpoint set (from the table, a status reply or a redirect)."""
        if not eps:
            return
        new = EpSet.from_strings(eps, in_use, self.config.server_port)
        if new != self.mnode_eps:
            self.mnode_eps = new
            self.save_identity()

    def table_changed(self) -> None:
        """Persist the table when it changed and refresh the mnode endpoints."""
        assert self.table is not None  # called only while this dnode holds the table
        if (self.table.term, self.table.version) != self.persisted_version:
            self.store.save_table(self.table)
            self.persisted_version = (self.table.term, self.table.version)
        self.set_mnode_eps(*self.table.mnode_eps())

    def become_master(self, takeover: bool) -> None:
        """Run the master mnode (after a takeover: in a new term, with fresh liveness)."""
        assert self.table is not None  # a master runs on the table it holds
        if takeover:
            self.table.take_over(self.dnode_id)
        self.mnode = Mnode(
            self.table,
            self.dnode_id,
            self.config.server_port,
            self.config.num_of_mnodes,
            self.config.status_interval,
            time.monotonic(),
            self.cores,
            first_status_after=0.0 if takeover else self.config.status_interval,
        )
        log.info("mnode: role master, dnode %d %s, term %d", self.dnode_id, self.local_ep, self.table.term)
        self.table_changed()

    def step_down(self, master_id: int) -> None:
        """Stop being master: another mnode has the better claim."""
        self.mnode = None
        log.info("mnode: role slave, master is dnode %d", master_id)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run ``coroutine`` as a task kept until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def redirect(self, message: Message, port: int) -> Message:
        """Send a client or peer to the mnode endpoints, the master marked in use."""
        eps = self.mnode_eps.copy()
        if eps.current() == self.local_endpoint and len(eps) > 1:
            eps.advance()
        return reply(message, {"epset": eps.as_strings(), "in_use": eps.in_use}, code=REDIRECT, port=port)

    # ---- client requests (P, TCP and UDP)

    def handle_shell(self, message: Message, port: int) -> Message:
        """Connect, heartbeat, show/retrieve, create/drop dnode, databases and tables: the
        master answers; submit and query: the dnode holding the vnode answers."""
        if message.type in VNODE_REQUESTS:
            return self._vnode_request(message, port)
        if message.type not in SHELL_REQUESTS:
            return reply(message, code=INVALID_MSG_TYPE, port=port)
        if self.mnode is None:
            return self.redirect(message, port)
        user = _field(message.body, "user", str)
        if user not in USERS:
            return reply(message, code=INVALID_USER, port=port)
        if _field(message.body, "pass", str) != USERS[user]:
            return reply(message, code=AUTH_FAILURE, port=port)
        try:
            body = self._shell_request(message, user == "root")
        except TaosError as exc:
            return reply(message, code=exc.code, port=port)
        return reply(message, body, port=port)

    def _shell_request(self, message: Message, is_root: bool) -> dict[str, Any]:
        assert self.mnode is not None and self.table is not None  # only the master answers (handle_shell)
        body = message.body
        if message.type in (CONNECT, HEARTBEAT):
            eps, in_use = self.mnode.shell_epset()
            return {"epset": eps, "in_use": in_use, "version": VERSION, "cluster_id": self.table.cluster_id}
        if message.type == RETRIEVE:
            rows = self.shows.pop(_field(body, "show_id", int), None)
            if rows is None:
                raise TaosError(INVALID_SHOWOBJ)
            return {"rows": rows}
        if message.type in (CREATE_DB, DROP_DB, USE_DB, CREATE_TABLE, TABLE_META):
            return self._catalog_request(message)
        if message.type == SHOW:
            what = _field(body, "what", str)
            if what in ("dnodes", "mnodes") and not is_root:
                raise TaosError(NO_RIGHTS)
            return self._show(what, str(body.get("db", "")))
        if not is_root:
            raise TaosError(NO_RIGHTS)
        target = _field(body, "ep", str)
        if message.type == CREATE_DNODE:
            record = self.mnode.create_dnode(target)
            log.info("mnode: dnode %d %s is created", record.id, record.ep)
        else:
            record = self.mnode.drop_dnode(target)
            log.info("mnode: dnode %d %s is dropped", record.id, record.ep)
        self.table_changed()
        self.spawn(self.push_sync(dropped=record.ep if message.type == DROP_DNODE else None))
        return {}

    def _catalog_request(self, message: Message) -> dict[str, Any]:
        """Databases and tables, kept in the replicated cluster table."""
        assert self.mnode is not None and self.table is not None  # only the master answers (handle_shell)
        catalog, body = self.table.catalog, message.body
        now_ms = int(time.time() * 1000)
        if message.type == TABLE_META:
            return self._table_meta(_field(body, "db", str), _field(body, "name", str))
        if message.type == USE_DB:
            catalog.use_db(_field(body, "name", str))
            return {}
        if message.type == CREATE_DB:
            catalog.create_db(
                _field(body, "name", str),
                bool(body.get("if_not_exists")),
                _field(body, "replica", int),
                _field(body, "keep", int),
                now_ms,
            )
        elif message.type == DROP_DB:
            catalog.drop_db(_field(body, "name", str), bool(body.get("if_exists")))
        else:
            table = Table(
                _field(body, "db", str),
                _field(body, "name", str),
                now_ms,
                columns=_field(body, "columns", list),
                tags=_field(body, "tags", list),
                is_stable=bool(body.get("stable")),
                using=str(body.get("using", "")),
                tag_values=_field(body, "tag_values", list),
            )
            catalog.create_table(table, bool(body.get("if_not_exists")), self.mnode.dnode_loads(), self.table.version)
            log.info("mnode: table %s.%s created, vgroup %d", table.db, table.name, table.vg_id)
        self.table.version += 1
        self.table_changed()
        self.spawn(self.push_sync())
        return {}

    def _table_meta(self, db: str, name: str) -> dict[str, Any]:
        """A table's schema and its vgroup's endpoints; a super table's child tables."""
        assert self.table is not None  # only the master answers (handle_shell)
        catalog = self.table.catalog
        table = catalog.table(db, name)
        database = catalog.database(db)
        members = catalog.children(table) if table.is_stable else [table]
        parts = []
        for member in members:
            vgroup = catalog.vgroups[member.vg_id]
            eps = [self.table.dnodes[i].ep for i in vgroup.dnode_ids if i in self.table.dnodes]
            parts.append({"name": member.name, "vg_id": member.vg_id, "epset": eps, "tag_values": member.tag_values})
        return {
            "columns": table.columns,
            "tags": table.tags,
            "stable": table.is_stable,
            "keep": database.keep,
            "days": database.days,
            "tables": parts,
        }

    def _vnode_request(self, message: Message, port: int) -> Message:
        """Submit and query, answered from this dnode's vnode files."""
        user = _field(message.body, "user", str)
        if USERS.get(user) != _field(message.body, "pass", str):
            return reply(message, code=AUTH_FAILURE, port=port)
        vg_id = _field(message.body, "vg_id", int)
        rows = self.store.load_vnode(vg_id)
        if message.type == QUERY:
            after = message.body.get("after")
            selected = {}
            for name in _string_list(message.body, "tables"):
                selected[name] = [row for row in rows.get(name, []) if after is None or row[0] > after]
            return reply(message, {"rows": selected}, port=port)
        name = _field(message.body, "table", str)
        new_rows = _field(message.body, "rows", list)
        now_ms = int(time.time() * 1000)
        keep, days = _field(message.body, "keep", int), _field(message.body, "days", int)
        if any(not now_ms - keep * MS_PER_DAY <= row[0] <= now_ms + days * MS_PER_DAY for row in new_rows):
            return reply(message, code=TIMESTAMP_OUT_OF_RANGE, port=port)
        table_rows = {row[0]: row for row in rows.get(name, [])}
        for row in new_rows:
            table_rows.setdefault(row[0], row)  # update 0: a timestamp already there is kept
        rows[name] = [table_rows[ts] for ts in sorted(table_rows)]
        self.store.save_vnode(vg_id, rows)
        return reply(message, {"affected": len(new_rows)}, port=port)

    def _show(self, what: str, db: str = "") -> dict[str, Any]:
        assert self.mnode is not None and self.table is not None  # only the master answers (handle_shell)
        catalog = self.table.catalog
        if what == "dnodes":
            columns, rows = DNODE_COLUMNS, self.mnode.dnode_rows()
        elif what == "mnodes":
            columns, rows = MNODE_COLUMNS, self.mnode.mnode_rows()
        elif what == "databases":
            columns, rows = DATABASE_COLUMNS, catalog.database_rows(len(self.table.dnodes))
        elif not db:
            raise TaosError(DB_NOT_SELECTED)
        elif what == "tables":
            columns, rows = TABLE_COLUMNS, catalog.table_rows(db)
        elif what == "stables":
            columns, rows = STABLE_COLUMNS, catalog.stable_rows(db)
        elif what == "vgroups":
            columns, rows = tuple(catalog.vgroup_columns(db)), catalog.vgroup_rows(db, self.mnode.online())
        else:
            raise TaosError(INVALID_MSG_TYPE)
        show_id, self.next_show_id = self.next_show_id, self.next_show_id + 1
        self.shows[show_id] = rows
        while len(self.shows) > MAX_SHOWS:
            self.shows.popitem(last=False)
        return {"show_id": show_id, "columns": [[column.name, column.type, column.bytes] for column in columns]}

    # ---- dnode to dnode (P+5): status messages

    def handle_peer(self, message: Message, port: int) -> Message:
        """Status messages: the master matches them to registered dnodes."""
        if message.type != STATUS:
            return reply(message, code=INVALID_MSG_TYPE, port=port)
        if self.mnode is None:
            return self.redirect(message, port)
        assert self.table is not None  # the master's table
        dnode_id = _field(message.body, "dnode_id", int)
        ep = _field(message.body, "ep", str)
        cores = _field(message.body, "cores", int)
        was_ready = {i for i, live in self.mnode.liveness.items() if live.status == READY}
        version = (self.table.term, self.table.version)
        try:
            body = self.mnode.process_status(dnode_id, ep, cores, time.monotonic())
        except TaosError as exc:
            if ep not in self.refused_eps:
                if len(self.refused_eps) >= MAX_REFUSED_LOGGED:
                    self.refused_eps.clear()
                self.refused_eps.add(ep)
                log.info("mnode: status from %s (dnode id %d) refused: %s", ep, dnode_id, exc.text)
            return reply(message, code=exc.code, port=port)
        self.refused_eps.discard(ep)
        if body["dnode_id"] not in was_ready:
            log.info("mnode: status from %s accepted, dnode %d is ready", ep, body["dnode_id"])
        if (self.table.term, self.table.version) != version:
            self.table_changed()
            self.spawn(self.push_sync())
        return reply(message, body, port=port)

    async def send_status(self) -> None:
        """Send this dnode's status to the mnode endpoints (port +5), following redirects.

        Within one round every endpoint is asked at most once: one that fails or redirects
        is not asked again, so a round ends when the master answered or all were tried.
        """
        body = {"dnode_id": self.dnode_id, "ep": self.local_ep, "cluster_id": self.cluster_id, "cores": self.cores}
        asked: set[tuple[str, int]] = set()
        outcome = "no mnode endpoint"
        while len(asked) < len(set(self.mnode_eps.endpoints)) and len(asked) <= MAX_REDIRECTS:
            while self.mnode_eps.current() in asked:
                self.mnode_eps.advance()
            endpoint = self.mnode_eps.current()
            asked.add(endpoint)
            target = f"{endpoint[0]}:{endpoint[1] + PEER_PORT_OFFSET}"
            self.next_seq += 1
            try:
                response = await tcp_exchange(
                    endpoint[0], endpoint[1] + PEER_PORT_OFFSET, Message(STATUS, body, seq=self.next_seq)
                )
                result = self._status_response(response, target)
            except TaosError as exc:
                outcome = f"status to mnode {target} failed: {exc.text}"
                self.mnode_eps.advance()
                continue
            except ProtocolError:
                outcome = f"status to mnode {target}: malformed response"
                continue
            if result is not None:
                outcome = result
                break
        if outcome != self.status_outcome:
            self.status_outcome = outcome
            log.info("dnode: %s", outcome)

    def _status_response(self, response: Message, target: str) -> str | None:
        """Apply a status response; None means: redirected, try again."""
        if response.code == REDIRECT:
            self.set_mnode_eps(_string_list(response.body, "epset"), _field(response.body, "in_use", int))
            return None
        if response.code:
            return (
                f"status of {self.local_ep} refused by mnode {target}: "
                f"{error_text(response.code)}, retrying every {self.config.status_interval}s"
            )
        dnode_id = _field(response.body, "dnode_id", int)
        cluster_id = _field(response.body, "cluster_id", str)
        if (dnode_id, cluster_id) != (self.dnode_id, self.cluster_id):
            self.dnode_id, self.cluster_id = dnode_id, cluster_id
            self.save_identity()
        self.set_mnode_eps(_string_list(response.body, "mnodes"), _field(response.body, "in_use", int))
        return f"status of {self.local_ep} accepted by mnode {target}, this is dnode {dnode_id}"

    # ---- mnode replication (P+10)

    def handle_sync(self, message: Message, port: int) -> Message:
        """A master's copy of the cluster table; adopt it unless we know a better master."""
        if message.type != MNODE_SYNC:
            return reply(message, code=INVALID_MSG_TYPE, port=port)
        try:
            incoming = ClusterTable.from_json(_field(message.body, "table", dict))
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("malformed cluster table") from None
        own = self.table
        refusal = reply(message, {"accepted": False, "term": 0, "master_id": 0}, port=port)
        if self.dnode_id == 0 or (self.cluster_id and incoming.cluster_id != self.cluster_id):
            return refusal
        if (
            own is not None
            and (own.term, own.master_id) != (incoming.term, incoming.master_id)
            and not claim_beats(incoming.term, incoming.master_id, own.term, own.master_id)
        ):
            return reply(message, {"accepted": False, "term": own.term, "master_id": own.master_id}, port=port)
        if self.dnode_id not in incoming.mnode_ids():
            if own is not None:
                log.info("mnode: dnode %d no longer hosts an mnode", self.dnode_id)
                self.mnode = self.table = None
                self.store.remove_table()
                self.set_mnode_eps(*incoming.mnode_eps())
            return refusal
        if self.mnode is not None and incoming.master_id != self.dnode_id:
            self.step_down(incoming.master_id)
        if own is None:
            log.info("mnode: role slave, master is dnode %d", incoming.master_id)
        self.table = incoming
        self.table_changed()
        assert self.sync_event is not None  # run() makes it before any port is bound
        self.sync_event.set()
        return reply(message, {"accepted": True}, port=port)

    async def push_sync(self, dropped: str | None = None) -> None:
        """Send the table to the other mnodes (and a ``dropped`` dnode's endpoint, so that
        it gives up its mnode); step down if one of them knows a better master."""
        if self.mnode is None:
            return
        assert self.table is not None  # the master's table
        others = [
            self.table.dnodes[i].ep for i in self.table.mnode_ids() if i != self.dnode_id and i in self.table.dnodes
        ]
        if dropped is not None:
            others.append(dropped)
        message = Message(MNODE_SYNC, {"table": self.table.to_json()})
        results = await asyncio.gather(*(self._sync_one(ep, message) for ep in others))
        for term, master_id in filter(None, results):
            if self.mnode is not None and claim_beats(term, master_id, self.table.term, self.table.master_id):
                self.step_down(master_id)

    async def _sync_one(self, ep: str, message: Message) -> tuple[int, int] | None:
        """Send the table to the mnode at `ep` (noting whether it answered); the better claim
        (term, master) it knows, if any."""
        fqdn, port = parse_endpoint(ep, self.config.server_port)
        try:
            response = await tcp_exchange(fqdn, port + SYNC_PORT_OFFSET, message)
        except (TaosError, ProtocolError):
            if self.mnode is not None:
                self.mnode.sync_outcome(ep, reached=False)
            return None
        if self.mnode is not None:
            self.mnode.sync_outcome(ep, reached=True)
        if response.body.get("accepted") is False:
            return _field(response.body, "term", int), _field(response.body, "master_id", int)
        return None

    # ---- periodic work

    async def status_loop(self) -> None:
        """Every statusInterval: report to the mnode (the master reports locally)."""
        while True:
            if self.mnode is None:
                await self.send_status()
            await asyncio.sleep(self.config.status_interval)

    async def mnode_loop(self) -> None:
        """Master: liveness and replication every interval.  Slave: take over on silence."""
        interval = self.config.status_interval
        assert self.sync_event is not None  # run() makes it before starting this loop
        while True:
            if self.mnode is not None:
                now = time.monotonic()
                self.mnode.local_status(now, self.cores)
                for record in self.mnode.check_timeouts(now):
                    log.info("mnode: dnode %d %s is offline: status msg timeout", record.id, record.ep)
                self.balance(now)
                self.table_changed()
                # A dead or unresolvable peer must not delay the beat the live slaves wait for:
                # a sync that has not finished within the interval is given up.
                try:
                    await asyncio.wait_for(self.push_sync(), interval)
                except TimeoutError:
                    pass
                await asyncio.sleep(max(0.0, now + interval - time.monotonic()))
                continue
            if self.table is None:
                await self.sync_event.wait()
                self.sync_event.clear()
                continue
            delay = takeover_delay(self.table.mnode_ids(), self.table.master_id, self.dnode_id, interval)
            try:
                await asyncio.wait_for(self.sync_event.wait(), delay)
                self.sync_event.clear()
            except TimeoutError:
                if self.table is not None and self.dnode_id in self.table.mnode_ids():
                    log.info("mnode: no word from master dnode %d for %.0fs, taking over", self.table.master_id, delay)
                    self.become_master(takeover=True)

    def balance(self, now: float) -> None:
        """Move the monitor's vgroup off the master's dnode once others joined, as the
        balancer does (it counts the master's mnode only: the new ones are not yet in its view)."""
        assert self.mnode is not None and self.table is not None  # the master's work
        if now - self.started < BALANCE_AFTER_INTERVALS * self.config.status_interval:
            return
        moved = self.table.catalog.balance_monitor_vgroup(self.mnode.dnode_loads([self.dnode_id]))
        if moved is not None:
            log.info("mnode: vgroup of the log database moved from dnode %d to dnode %d", *moved)
            self.table.version += 1

    # ---- start and stop

    def start_roles(self) -> None:
        """First deploy, or resume the mnode role from saved data."""
        if self.table is None and self.dnode_id == 0 and self.local_ep == self.config.first_ep:
            self.table = ClusterTable.bootstrap(str(uuid.uuid4()), self.local_ep, int(time.time() * 1000))
            self.dnode_id, self.cluster_id = 1, self.table.cluster_id
            self.save_identity()
            log.info("mnode: first deploy, dnode 1 is %s, cluster %s", self.local_ep, self.cluster_id)
        if self.table is not None and self.dnode_id not in self.table.mnode_ids():
            self.table = None
            self.store.remove_table()
        if self.table is None:
            log.info("dnode: no mnode here, mnode endpoints %s", self.mnode_eps.as_strings())
        elif self.table.mnode_ids() == [self.dnode_id]:
            self.become_master(takeover=False)
        else:
            log.info("mnode: role slave until the master is heard, last master dnode %d", self.table.master_id)

    async def listen(self) -> tuple[list[asyncio.Server], list[asyncio.DatagramTransport]]:
        """Bind every port; return the servers and datagram transports."""
        loop = asyncio.get_running_loop()
        port = self.config.server_port
        threads = rpc_thread_count(self.config, self.cores)
        servers = [
            await asyncio.start_server(tcp_service(self.handle_shell, port), "0.0.0.0", port),
            await asyncio.start_server(
                tcp_service(self.handle_peer, port + PEER_PORT_OFFSET), "0.0.0.0", port + PEER_PORT_OFFSET
            ),
            await asyncio.start_server(
                tcp_service(self.handle_sync, port + SYNC_PORT_OFFSET), "0.0.0.0", port + SYNC_PORT_OFFSET
            ),
            await asyncio.start_server(serve_http, "0.0.0.0", port + HTTP_PORT_OFFSET),
        ]
        datagram_ports = [(self.handle_shell, port + i) for i in range(threads)]
        datagram_ports.append((self.handle_peer, port + PEER_PORT_OFFSET))
        transports = []
        for handler, udp_port in datagram_ports:
            transport, _ = await loop.create_datagram_endpoint(
                functools.partial(UdpService, handler, udp_port), local_addr=("0.0.0.0", udp_port)
            )
            transports.append(transport)
        log.info(
            "listening on 0.0.0.0: shell tcp %d udp %d-%d (%d rpc thread%s), dnode tcp/udp %d, "
            "mnode sync tcp %d, http tcp %d",
            port,
            port,
            port + threads - 1,
            threads,
            "" if threads == 1 else "s",
            port + PEER_PORT_OFFSET,
            port + SYNC_PORT_OFFSET,
            port + HTTP_PORT_OFFSET,
        )
        return servers, transports

    async def run(self) -> int:
        """Serve until SIGTERM or SIGINT; return the exit status."""
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        self.sync_event = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info(
            "taosd %s (emulated) starting: local endpoint %s, firstEp %s, secondEp %s",
            VERSION,
            self.local_ep,
            self.config.first_ep,
            self.config.second_ep,
        )
        try:
            servers, transports = await self.listen()
        except OSError as exc:
            log.error("cannot listen: %s", exc)
            return 1
        self.start_roles()
        self.spawn(self.status_loop())
        self.spawn(self.mnode_loop())
        await stop.wait()
        log.info("taosd stopping")
        for server in servers:
            server.close()
        for transport in transports:
            transport.close()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return 0


def make_dir(path: str) -> None:
    """Create `path` unless it exists, its parent only if it exists, as TDengine does (mkdir, no parents).

    Raises OSError when it cannot: the real taosd then fails to start.
    """
    if not os.path.isdir(path):
        os.mkdir(path, 0o755)


def log_to_dir(log_dir: str) -> None:
    """Also log to logDir/taosdlog.0 (the folder must exist or be creatable, as for the real taosd)."""
    try:
        handler = logging.FileHandler(os.path.join(log_dir, LOG_FILE))
    except OSError as exc:
        log.warning("not logging to %s: %s", log_dir, exc)
        return
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%m/%d %H:%M:%S"))
    logging.getLogger().addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python3 -m lab.tdengine.taosd``."""
    parser = argparse.ArgumentParser(prog="taosd", description="Emulated TDengine 2.0.20 dnode.")
    parser.add_argument(
        "-c",
        "--config-dir",
        default=DEFAULT_CONFIG_DIR,
        help="configuration directory holding taos.cfg (default /etc/taos)",
    )
    parser.add_argument("-V", "--version", action="store_true", help="print the version and exit")
    args = parser.parse_args(argv)
    if args.version:
        print(f"community version: {VERSION} compatible_version: 2.0.0.0\ngitinfo: (emulated by the lab)")
        return 0
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format=LOG_FORMAT, datefmt="%m/%d %H:%M:%S")
    try:
        config = load_config(args.config_dir)
        for option, folder in (("logDir", config.log_dir), ("dataDir", config.data_dir)):
            try:
                make_dir(folder)
            except OSError as exc:
                # what TDengine 2.0.20 prints (on stdout) before it exits with status 1
                print(
                    f"ERROR config option:{option}, input value:{folder}, directory not exist, "
                    f"create fail:{exc.strerror}",
                    flush=True,
                )
                print(f"Failed to start TDengine, please check the log at:{folder}", flush=True)
                print(f"failed to create dir: {folder}, reason: {exc.strerror}", flush=True)
                return 1
        log_to_dir(config.log_dir)
        dnode = Dnode(config, StateStore(config.data_dir), os.cpu_count() or 1)
        return asyncio.run(dnode.run())
    except (ConfigError, StateError) as exc:
        print(f"taosd: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
