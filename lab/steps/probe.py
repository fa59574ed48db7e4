"""Built-in probes, run as real processes inside a node: `python3 -m lab.steps.probe KIND HOST [PORT]`.

Standard library only (it also runs inside containers). Names are resolved with the
node's own resolver (getaddrinfo, so its /etc/hosts). The verdict is printed on one line
that says what the network did: connected, refused, unreachable, or no answer.
Exit status 0 when the target answered, 1 when it did not, 2 for a name that does not resolve.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import time
from typing import cast

MODULE = "lab.steps.probe"  # how the lab starts this file in a node: python3 -m MODULE


def probe_argv(kind: str, host: str, port: int, timeout_s: float) -> list[str]:
    """The command that probes `host`:`port` over `kind` (tcp or udp) from inside a node."""
    return ["python3", "-m", MODULE, kind, host, str(port), "--timeout", str(timeout_s)]


ERRNO_WORDS: dict[int | None, str] = {  # looked up with an OSError's errno, maybe None
    errno.ECONNREFUSED: "refused (RST or ICMP port unreachable)",
    errno.EHOSTUNREACH: "unreachable (no route to host)",
    errno.ENETUNREACH: "unreachable (network unreachable)",
    errno.ETIMEDOUT: "no answer (timed out)",
}


def resolve(host: str) -> str:
    """The IPv4 address of `host` as this node's resolver gives it."""
    return cast(str, socket.getaddrinfo(host, None, socket.AF_INET)[0][4][0])  # AF_INET: (host, port)


def describe_error(error: OSError) -> str:
    """A short verdict for a socket error."""
    return ERRNO_WORDS.get(error.errno, f"failed ({error.strerror or error})")


def tcp(address: str, port: int, timeout: float) -> tuple[bool, str]:
    """Open a TCP connection; success when the handshake completes."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
        except TimeoutError:
            return False, "no answer (timed out)"
        except OSError as error:
            return False, describe_error(error)
        return True, f"connected from {sock.getsockname()[0]}:{sock.getsockname()[1]}"


def udp(address: str, port: int, timeout: float) -> tuple[bool, str]:
    """Send a datagram and wait for any reply; ICMP port unreachable shows as refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.send(b"lab-probe\n")
            reply, sender = sock.recvfrom(65535)
        except TimeoutError:
            return False, "no answer (timed out)"
        except OSError as error:
            return False, describe_error(error)
        return True, f"reply of {len(reply)} bytes from {sender[0]}:{sender[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python3 -m {MODULE}", description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("tcp", "udp"))
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        address = resolve(args.host)
    except socket.gaierror as error:
        print(f"{args.kind} {args.host}:{args.port}: cannot resolve {args.host} ({error.strerror})")
        return 2
    shown = args.host if args.host == address else f"{args.host} ({address})"
    ok, verdict = (tcp if args.kind == "tcp" else udp)(address, args.port, args.timeout)
    print(f"{args.kind} {shown}:{args.port}: {verdict} after {time.monotonic() - started:.3f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
