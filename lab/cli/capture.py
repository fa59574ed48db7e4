"""`lab capture LAB NODE[:IFACE]`: live packets of a node's interface, as text or as pcap on stdout."""

from __future__ import annotations

import argparse
import subprocess

from ..errors import BuildError, InvalidInput
from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `capture` subparser."""
    capture = commands.add_parser(
        "capture",
        help="watch the packets of a node's interface in a live lab",
        description="Live packets of NODE's interface IFACE (default: any) in LAB, as tcpdump text, or with "
        "`-w -` as pcap on stdout (`| wireshark -k -i -`, `| tcpdump -r -`). Ctrl-C stops it. With --on HOST, in "
        "a lab on HOST: its bytes come here over SSH unchanged, and Ctrl-C stops tcpdump there.",
    )
    capture.add_argument("lab", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    capture.add_argument("where", metavar="NODE[:IFACE]", help="a node or container, and one of its interfaces")
    capture.add_argument("-w", dest="write", metavar="-", help="'-': pcap on stdout instead of text")
    capture.add_argument("filter", nargs="*", metavar="FILTER", help="a tcpdump filter (e.g. tcp port 6030)")
    add_remote_options(capture)
    return capture


def execute(args: argparse.Namespace) -> int:
    """Replaces this process with tcpdump in the node's network namespace; 2 on a wrong lab, node or -w."""
    from ..live import enter, registry
    from .exec import replace

    if args.write not in (None, "-"):
        raise InvalidInput(f"-w {args.write}: only '-' (pcap on stdout); redirect it to keep a file")
    lab = registry.live(args.lab)
    node, _, interface = args.where.partition(":")
    target = enter.check_target(lab, node)
    pid = lab.nodes.get(target)
    if pid is None:  # a container: its own network namespace, through its main process
        env = enter.engine_env(lab, target)
        found = subprocess.run(
            ["docker", "inspect", "--format", "{{.State.Pid}}", target], capture_output=True, text=True, env=env
        )
        if found.returncode != 0 or not found.stdout.strip().isdigit() or found.stdout.strip() == "0":
            raise BuildError(f"container {target} has no running process to capture in: {found.stderr.strip()}")
        pid = int(found.stdout)
    output = ["-U", "-w", "-"] if args.write == "-" else ["-l", "-n"]
    replace(
        [
            "nsenter",
            f"--target={pid}",
            "--net",
            "--",
            "tcpdump",
            "--immediate-mode",
            "-i",
            interface or "any",
            *output,
            *args.filter,
        ],
        None,
    )
    return 0  # not reached
