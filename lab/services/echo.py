"""An echo service on one port, TCP and UDP: `python3 -m lab.services.echo PORT`.

Standard library only; it runs inside the lab's containers as "any small real program
listening on tcp and udp". Each TCP connection and each datagram gets its bytes back.
"""

from __future__ import annotations

import asyncio
import signal
import sys


class _EchoDatagram(asyncio.DatagramProtocol):
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def _echo_stream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    """Echo on 0.0.0.0:`port` over TCP and UDP until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set_result, None)
    server = await asyncio.start_server(_echo_stream, "0.0.0.0", port)
    transport, _ = await loop.create_datagram_endpoint(_EchoDatagram, local_addr=("0.0.0.0", port))
    print(f"echo: listening on tcp and udp port {port}", flush=True)
    await stop
    transport.close()
    server.close()


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("usage: python3 -m lab.services.echo PORT", file=sys.stderr)
        return 2
    asyncio.run(serve(int(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
