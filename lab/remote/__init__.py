"""Driving a lab machine over SSH: `python -m lab run|validate|clean|fetch|up|status|shell|exec|capture|steps|down
... --on [USER@]HOST[:PORT]`.

connection.py  SSH and SFTP with paramiko (keys, ~/.ssh/config, known_hosts)
install.py     this version of the lab installed there, keyed by a content hash; its virtualenv
               keyed by its dependencies; old versions pruned
runs.py        a folder per command there, locked while it runs; what dead runs left, brought home
scenario_files.py  the local files a scenario brings along
tether.py      runs there: stops the lab when the SSH session ends, holds its folder's lock,
               hands that folder back to the SSH user (stdlib only)
command.py     the commands, their output relayed live with local paths, results copied back
live.py        the live lab commands: a lab kept there in a folder of its own until `down`, a
               terminal over SSH for `shell`, pcap bytes passed through for `capture`
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_options(parser: argparse.ArgumentParser) -> None:
    """The options that send a command to another machine."""
    group = parser.add_argument_group("on another machine (over SSH)")
    group.add_argument(
        "--on",
        metavar="[USER@]HOST[:PORT]",
        help="run there instead (a Host alias of ~/.ssh/config works); the lab is installed "
        "there at this version, as root or with passwordless sudo",
    )
    group.add_argument(
        "--identity",
        type=Path,
        metavar="FILE",
        help="private key file, tried before the keys in ~/.ssh and the SSH agent",
    )
    group.add_argument(
        "--accept-new-host-key",
        action="store_true",
        help="accept a host that is not in ~/.ssh/known_hosts yet and record its key there",
    )
