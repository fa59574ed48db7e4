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
from .errors import FQDN_ERROR, NETWORK_UNAVAIL, REDIRECT, TaosError
from .protocol import (
    CONNECT,
    CREATE_DNODE,
    DROP_DNODE,
    HEADER_SIZE,
    HEARTBEAT,
    RETRIEVE,
    SHOW,
    TCP,
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

    def show(self, what: str) -> tuple[list[Column], list[list[Any]]]:
        """``show dnodes`` or ``show mnodes``: a show message, then a retrieve; both TCP."""
        meta = self.rpc.request(SHOW, dict(self.auth, what=what)).body
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
