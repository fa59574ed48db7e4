"""`lab exec LAB NODE -- CMD ARGS...`: run one program in a node or container of a live lab."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import InvalidInput
from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `exec` subparser."""
    run = commands.add_parser(
        "exec",
        help="run a command in a node of a live lab",
        description="Run CMD in NODE of LAB as a step would (the node's hosts file, resolver, host name, PATH); "
        "its output streams here and its exit status is lab's. With --on HOST (before LAB), in a lab on HOST: "
        "from a terminal, on a pseudo-terminal there (as `lab shell --on`); else its output relayed unchanged "
        "and its stdin empty; Ctrl-C stops it there.",
    )
    run.add_argument("lab", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    run.add_argument("node", metavar="NODE", help="a node or container of the lab")
    run.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD ARGS", help="the program and its arguments")
    add_remote_options(run)
    return run


def execute(args: argparse.Namespace) -> int:
    """Replaces this process with the program (its exit status is ours); 2 on a wrong lab, node or command."""
    from ..live import enter, registry

    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not argv:
        raise InvalidInput("lab exec LAB NODE -- CMD ARGS...: give the command after --")
    lab = registry.live(args.lab)
    target = enter.check_target(lab, args.node)
    _, variant = registry.variant_of(lab)
    command = enter.node_argv(lab, variant, target, argv, terminal=sys.stdin.isatty() and sys.stdout.isatty())
    replace(command, enter.engine_env(lab, target))
    return 0  # not reached


def replace(argv: list[str], env: dict[str, str] | None) -> None:
    """Become `argv` (the terminal, signals and exit status are the program's from here on)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execvpe(argv[0], argv, {**os.environ, **env} if env else dict(os.environ))
