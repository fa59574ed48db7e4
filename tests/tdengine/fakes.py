"""A fake TDengine server on loopback for client tests: answers with a given function."""

import socket
import threading

from lab.tdengine import protocol


class FakeServer:
    """Answers each request with ``handler(message, server)`` (None: no answer)."""

    def __init__(self, kind, handler):
        self.kind = kind
        self.handler = handler
        self.received = []
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        if kind == socket.SOCK_STREAM:
            self.sock.listen()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _answer(self, message):
        self.received.append(message)
        return self.handler(message, self)

    def _serve(self):
        while not self._stop.is_set():
            try:
                if self.kind == socket.SOCK_DGRAM:
                    data, peer = self.sock.recvfrom(65536)
                    response = self._answer(protocol.decode(data))
                    if response is not None:
                        self.sock.sendto(protocol.encode(response), peer)
                else:
                    connection, _ = self.sock.accept()
                    with connection:
                        self._serve_stream(connection)
            except (OSError, protocol.ProtocolError):
                continue

    def _serve_stream(self, connection):
        connection.settimeout(2)
        buffer = b""
        while not self._stop.is_set():
            chunk = connection.recv(65536)
            if not chunk:
                return
            buffer += chunk
            while len(buffer) >= protocol.HEADER_SIZE:
                header = protocol.decode_header(buffer[: protocol.HEADER_SIZE])
                end = protocol.HEADER_SIZE + header[4]
                if len(buffer) < end:
                    break
                message = protocol.decode_body(header, buffer[protocol.HEADER_SIZE : end])
                buffer = buffer[end:]
                response = self._answer(message)
                if response is not None:
                    connection.sendall(protocol.encode(response))

    def close(self):
        """Stop serving."""
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
