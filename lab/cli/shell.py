"""`lab shell LAB NODE`: an interactive shell in a node or container of a live lab."""

from __future__ import annotations

import argparse

from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `shell` subparser."""
    shell = commands.add_parser(
        "shell",
        help="open a shell in a node of a live lab",
        description="An interactive shell in NODE of LAB: the node's hosts file, resolver, host name and PATH, "
        "a prompt that names the node; this terminal is its terminal (line editing, Ctrl-C, window size). With --on "
        "HOST, in a lab on HOST: a pseudo-terminal there over SSH of this terminal's size and TERM, this terminal "
        "raw meanwhile (Ctrl-C reaches the program there), a resized window passed on; the exit status is the "
        "shell's.",
    )
    shell.add_argument("lab", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    shell.add_argument("node", metavar="NODE", help="a node or container of the lab")
    add_remote_options(shell)
    return shell


def execute(args: argparse.Namespace) -> int:
    """Replaces this process with the shell; 2 on a wrong lab or node."""
    from ..live import enter, registry
    from .exec import replace

    lab = registry.live(args.lab)
    target = enter.check_target(lab, args.node)
    _, variant = registry.variant_of(lab)
    replace(enter.shell_argv(lab, variant, target), enter.engine_env(lab, target))
    return 0  # not reached
