"""A NATS client that follows the cluster's gossip, written with nats-py's public API only.

    client.py discover URL            connect to URL, print the servers the cluster announced
                                      (INFO connect_urls), publish a message, and leave
    client.py failover URL SUBJECT    the same, then subscribe to SUBJECT and wait until the
                                      server goes away (the scenario stops it once it sees the
                                      subscription), and print where the client failed over to,
                                      or why no server took over

The scenario runs it as a `python` step: with the lab's own interpreter, which has nats-py.
"""

from __future__ import annotations

import asyncio
import sys

import nats

CONNECT_TIMEOUT_S = 2
RECONNECT_WAIT_S = 0.5
MAX_RECONNECTS = 2  # per server of the pool
LOSS_TIMEOUT_S = 20  # how long to wait for the server to go away
FAILOVER_TIMEOUT_S = 40


def say(text: str) -> None:
    print(text, flush=True)


async def connect(url: str, events: dict[str, asyncio.Event]) -> nats.NATS:
    async def error(exc: Exception) -> None:
        say(f"error: {type(exc).__name__}" + (f": {exc}" if str(exc) else ""))

    async def disconnected() -> None:
        events["lost"].set()

    async def reconnected() -> None:
        events["back"].set()

    async def closed() -> None:
        events["closed"].set()

    client = await nats.connect(
        servers=[url],
        connect_timeout=CONNECT_TIMEOUT_S,
        reconnect_time_wait=RECONNECT_WAIT_S,
        max_reconnect_attempts=MAX_RECONNECTS,
        error_cb=error,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        closed_cb=closed,
    )
    say(f"connected to {client.connected_url.geturl()}")
    for server in client.discovered_servers:
        say(f"discovered {server.geturl()}")
    return client


async def main(argv: list[str]) -> int:
    events = {name: asyncio.Event() for name in ("lost", "back", "closed")}
    if len(argv) == 2 and argv[0] == "discover":
        client = await connect(argv[1], events)
        await client.publish("lab.hello", b"hello")
        await client.flush()
        say(f"published lab.hello via {client.connected_url.geturl()}")
        await client.close()
        return 0
    if len(argv) != 3 or argv[0] != "failover":
        say(__doc__ or "")
        return 2
    url, subject = argv[1], argv[2]
    client = await connect(url, events)
    await client.subscribe(subject)
    await client.flush()
    say(f"subscribed to {subject}; waiting for {url} to go away")
    try:
        await asyncio.wait_for(events["lost"].wait(), LOSS_TIMEOUT_S)
    except TimeoutError:
        say(f"{url} did not go away within {LOSS_TIMEOUT_S}s")
        await client.close()
        return 2
    say(f"lost {url}; failing over to one of {', '.join(s.geturl() for s in client.servers)}")
    waits = [asyncio.create_task(events[name].wait()) for name in ("back", "closed")]
    await asyncio.wait(waits, timeout=FAILOVER_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
    if not events["back"].is_set():
        error = client.last_error
        say(f"no server took over: {type(error).__name__}" + (f": {error}" if str(error) else ""))
        await client.close()
        return 1
    await client.publish("lab.hello", b"hello again")
    await client.flush()
    say(f"failed over to {client.connected_url.geturl()}; published lab.hello")
    await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
