"""The client side (taosc): RPC over UDP/TCP with retries and redirects, and a connection.

Each endpoint is resolved with getaddrinfo (IPv4 only) every time a message is sent to it.
UDP: resend every rpcTimer, three resends, then the next endpoint; a UDP reply carries the
server's own port, and later UDP messages to that endpoint go to that port.  TCP: at most
3 s to connect.  A redirect replaces the endpoint set (at most 5 redirects); after every
endpoint failed, the last error is reported.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from typing import TYPE_CHECKING, cast

from .epset import EpSet
from .errors import (
    APP_NOT_READY,
    FQDN_ERROR,
    INVALID_TABLE_ID,
    INVALID_VGROUP_ID,
    NETWORK_UNAVAIL,
    REDIRECT,
    TaosError,
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
    QUERY,
    RETRIEVE,
    SHOW,
    SUBMIT,
    TABLE_META,
    TCP,
    USE_DB,
    Message,
    ProtocolError,
    choose_transport,
    decode,
    decode_body,
    decode_header,
    encode,
)
from .shellfmt import Column

if TYPE_CHECKING:
    from typing import Any

UDP_RESENDS = 3
TCP_CONNECT_TIMEOUT = 3.0
MAX_REDIRECTS = 5
MAX_RETRY = 5  # TSDB_MAX_REPLICA: a select tries 1 + 5 times, an insert 1 + 6 (needRetryInsert)
RETRIED = frozenset({NETWORK_UNAVAIL, INVALID_TABLE_ID, INVALID_VGROUP_ID, APP_NOT_READY})


def resolve_ipv4(fqdn: str) -> str:
    """The first IPv4 address of ``fqdn`` (hosts file, then DNS); FQDN error otherwise."""
    try:
        # AF_INET: the socket address is (host, port), the host a str
        return cast(str, socket.getaddrinfo(fqdn, None, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    except (OSError, UnicodeError):
        raise TaosError(FQDN_ERROR) from None


def _receive_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError("connection closed")
        data += chunk
    return data


class RpcClient:
    """Sends requests to an :class:`EpSet` the way taosc's RPC does.

    Each request works on its own copy of the set and publishes where it ended up (the
    endpoint that answered, or the set of a redirect), so that a heartbeat stuck on a silent
    endpoint does not hold up a query.
    """

    def __init__(self, epset: EpSet, rpc_timer_ms: int) -> None:
        self._epset = epset
        self.rpc_timer = rpc_timer_ms / 1000.0
        self.udp_ports: dict[tuple[str, int], int] = {}  # (fqdn, port) -> port the server put in its last UDP reply
        self._lock = threading.Lock()
        self._seq = itertools.count(1)

    @property
    def epset(self) -> EpSet:
        """A copy of the current endpoint set."""
        with self._lock:
            return self._epset.copy()

    def _publish(self, epset: EpSet) -> None:
        with self._lock:
            self._epset = epset.copy()

    def request(self, msg_type: int, body: dict[str, Any]) -> Message:
        """Send a request, trying endpoints and following redirects; return the response."""
        epset = self.epset
        redirects = tries = 0
        while True:
            message = Message(msg_type, body, seq=next(self._seq))
            try:
                response = self._send(epset.current(), message)
            except TaosError:
                tries += 1
                if tries >= len(epset):
                    raise
                epset.advance()
                continue
            if response.code == REDIRECT:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    raise TaosError(NETWORK_UNAVAIL)
                epset = self._epset_from(response.body) or epset
                self._publish(epset)
                continue
            self._publish(epset)
            if response.code:
                raise TaosError(response.code)
            return response

    def _epset_from(self, body: dict[str, Any]) -> EpSet | None:
        eps, in_use = body.get("epset"), body.get("in_use", 0)
        if not isinstance(eps, list) or not eps or not isinstance(in_use, int):
            return None
        try:
            return EpSet.from_strings([str(ep) for ep in eps], in_use, self.epset.current()[1])
        except ValueError:
            return None

    def replace_epset(self, body: dict[str, Any]) -> None:
        """Replace the endpoint set with the ``epset``/``in_use`` of a response, if any."""
        epset = self._epset_from(body)
        if epset is not None:
            self._publish(epset)

    def _send(self, endpoint: tuple[str, int], message: Message) -> Message:
        data = encode(message)
        address = resolve_ipv4(endpoint[0])
        if choose_transport(message.type, len(data)) == TCP:
            return self._send_tcp(address, endpoint[1], data)
        return self._send_udp(endpoint, address, data, message.seq)

    def _send_udp(self, endpoint: tuple[str, int], address: str, data: bytes, seq: int) -> Message:
        port = self.udp_ports.get(endpoint, endpoint[1])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _ in range(1 + UDP_RESENDS):
                try:
                    sock.sendto(data, (address, port))
                except OSError:
                    pass
                deadline = time.monotonic() + self.rpc_timer
                while (remaining := deadline - time.monotonic()) > 0:
                    sock.settimeout(remaining)
                    try:
                        response = decode(sock.recvfrom(65536)[0])
                    except (OSError, ProtocolError):  # timeouts, garbage
                        continue
                    if response.seq == seq:
                        if response.port:
                            self.udp_ports[endpoint] = response.port
                        return response
        raise TaosError(NETWORK_UNAVAIL)

    def _send_tcp(self, address: str, port: int, data: bytes) -> Message:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(TCP_CONNECT_TIMEOUT)
            try:
                sock.connect((address, port))
                sock.settimeout(self.rpc_timer * (1 + UDP_RESENDS))
                sock.sendall(data)
                header = decode_header(_receive_exactly(sock, HEADER_SIZE))
                return decode_body(header, _receive_exactly(sock, header[4]))
            except (OSError, ProtocolError):
                raise TaosError(NETWORK_UNAVAIL) from None


class Connection:
    """A connection to a cluster as the shell uses it."""

    def __init__(
        self, epset: EpSet, rpc_timer_ms: int, user: str, password: str, shell_activity_timer: int = 3
    ) -> None:
        self.rpc = RpcClient(epset, rpc_timer_ms)
        self.heartbeat_interval = shell_activity_timer / 2.0  # taosc: shellActivityTimer * 500 ms
        self.auth = {"user": user, "pass": password}
        self.server_version = ""
        self._stop = threading.Event()

    @property
    def epset(self) -> EpSet:
        """The management endpoint set currently used."""
        return self.rpc.epset

    def connect(self) -> None:
        """Connect; adopt the cluster's mnode endpoints (an empty set keeps ours)."""
        response = self.rpc.request(CONNECT, self.auth)
        self.server_version = str(response.body.get("version", ""))
        self.rpc.replace_epset(response.body)

    def heartbeat(self) -> None:
        """One heartbeat; its response replaces the endpoint set again."""
        self.rpc.replace_epset(self.rpc.request(HEARTBEAT, self.auth).body)

    def start_heartbeat(self) -> None:
        """Heartbeat every shellActivityTimer/2 s (1.5 s) in a thread until :meth:`close`."""

        def beat() -> None:
            while not self._stop.wait(self.heartbeat_interval):
                try:
                    self.heartbeat()
                except TaosError:
                    pass

        threading.Thread(target=beat, name="heartbeat", daemon=True).start()

    def close(self) -> None:
        """Stop the heartbeat."""
        self._stop.set()

    def show(self, what: str, db: str = "") -> tuple[list[Column], list[list[Any]]]:
        """``show dnodes|mnodes|databases|tables|stables|vgroups``: a show message, then a
        retrieve; both TCP, to the mnode."""
        meta = self.rpc.request(SHOW, dict(self.auth, what=what, db=db)).body
        rows = self.rpc.request(RETRIEVE, dict(self.auth, show_id=meta.get("show_id"))).body
        try:
            columns = [Column(str(name), str(kind), int(size)) for name, kind, size in meta["columns"]]
            return columns, [list(row) for row in rows["rows"]]
        except (KeyError, TypeError, ValueError):
            raise TaosError(NETWORK_UNAVAIL) from None

    def create_dnode(self, ep: str) -> None:
        """``create dnode EP``."""
        self.rpc.request(CREATE_DNODE, dict(self.auth, ep=ep))

    def drop_dnode(self, target: str) -> None:
        """``drop dnode ID|EP``."""
        self.rpc.request(DROP_DNODE, dict(self.auth, ep=target))

    def mnode_request(self, msg_type: int, **body: Any) -> dict[str, Any]:
        """A request to the mnode; the response body."""
        return self.rpc.request(msg_type, dict(self.auth, **body)).body

    def create_db(self, name: str, if_not_exists: bool, replica: int, keep: int) -> None:
        """``create database``."""
        self.mnode_request(CREATE_DB, name=name, if_not_exists=if_not_exists, replica=replica, keep=keep)

    def drop_db(self, name: str, if_exists: bool) -> None:
        """``drop database``."""
        self.mnode_request(DROP_DB, name=name, if_exists=if_exists)

    def use_db(self, name: str) -> None:
        """``use``: the mnode checks the database."""
        self.mnode_request(USE_DB, name=name)

    def create_table(self, **table: Any) -> None:
        """``create table|stable``: the mnode places it in a vgroup."""
        self.mnode_request(CREATE_TABLE, **table)

    def table_meta(self, db: str, name: str) -> dict[str, Any]:
        """Schema, tags and, per (child) table, the vgroup and its endpoints (TCP, mnode)."""
        return self.mnode_request(TABLE_META, db=db, name=name)

    def vnode_request(self, part: dict[str, Any], msg_type: int, body: dict[str, Any]) -> dict[str, Any]:
        """A request to the dnodes of a table's vgroup, by their fqdn:serverPort."""
        try:
            epset = EpSet.from_strings([str(ep) for ep in part["epset"]], 0, self.rpc.epset.current()[1])
        except (KeyError, ValueError):
            raise TaosError(NETWORK_UNAVAIL) from None
        rpc = RpcClient(epset, int(self.rpc.rpc_timer * 1000))
        return rpc.request(msg_type, dict(self.auth, vg_id=part.get("vg_id"), **body)).body

    def insert(self, db: str, name: str, convert: Any) -> int:
        """``insert``: table meta from the mnode, then a submit to the vnode (UDP); on a
        network error the meta is fetched again and the submit retried, 7 tries in all.
        ``convert(meta)`` turns the written rows into typed ones (and raises the parser's errors)."""
        meta = self.table_meta(db, name)
        rows = convert(meta)
        for attempt in itertools.count():
            try:
                part = meta["tables"][0]
                body = {"table": part["name"], "rows": rows, "keep": meta["keep"], "days": meta["days"]}
                return int(self.vnode_request(part, SUBMIT, body).get("affected", len(rows)))
            except TaosError as exc:
                if exc.code not in RETRIED or attempt > MAX_RETRY:
                    raise
            meta = self.table_meta(db, name)
        raise AssertionError("unreachable")

    def query(
        self, meta: dict[str, Any], after: int | None, db: str, name: str
    ) -> list[tuple[list[Any], list[list[Any]]]]:
        """The rows of a table (or of a super table's children) from their vnodes (TCP), as
        (tag values, rows); a network error renews the meta and retries, 6 tries in all."""
        for attempt in itertools.count(1):
            try:
                result = []
                for part in meta["tables"]:
                    rows = self.vnode_request(part, QUERY, {"tables": [part["name"]], "after": after})["rows"]
                    result.append((list(part.get("tag_values", [])), list(rows.get(part["name"], []))))
                return result
            except TaosError as exc:
                if exc.code not in RETRIED or attempt > MAX_RETRY:
                    raise
            meta = self.table_meta(db, name)
        raise AssertionError("unreachable")
