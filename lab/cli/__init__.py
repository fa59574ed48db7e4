"""The command line: `lab COMMAND ...` (also `python -m lab ...`), one module per command.

Each command module has `add_to(commands)` (its subparser, with help) and `execute(args)`
(returns the exit status); COMMANDS lists them in the order `--help` shows them.

Exit status (lab.errors.ExitStatus): 0 every expectation met; 1 an expectation not met
(or a variant failed to build); 2 invalid input or usage; 3 the machine cannot run a lab;
130 interrupted. Every LabError becomes a message and its exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import signal
import sys
from types import ModuleType

from ..console import report as report_error  # `report` is the command module lab.cli.report
from ..errors import ExitStatus, LabError
from . import capture, clean, down, explain, fetch, report, run, shell, status, steps, up, validate
from . import exec as exec_

COMMANDS: tuple[ModuleType, ...] = (
    run,
    validate,
    clean,
    fetch,
    explain,
    report,
    up,
    status,
    shell,
    exec_,
    capture,
    steps,
    down,
)

LIVE = {command.execute for command in (up, status, shell, exec_, capture, steps, down)}  # --on: lab.remote.live


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2 with the usage line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(ExitStatus.INVALID, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in COMMANDS."""
    parser = _Parser(
        prog="lab",
        description="Rebuild a network incident on this machine and replay it.",
        epilog="exit status: 0 all expectations met, 1 some not met, 2 invalid input, "
        "3 machine unfit (not root, missing programs), 130 interrupted",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_to(commands).set_defaults(execute=command.execute)
    return parser


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` tears the lab down like Ctrl-C does
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "identity", None) or getattr(args, "accept_new_host_key", False):
        if not getattr(args, "on", None):
            parser.error("--identity and --accept-new-host-key only apply with --on HOST")
    try:
        if getattr(args, "on", None) and args.execute in LIVE:  # a live lab on another machine
            from ..remote.live import main as live_remotely

            return live_remotely(args)
        if getattr(args, "on", None):  # on another machine over SSH (lab/remote)
            from ..remote.command import main as run_remotely

            return run_remotely(args)
        return int(args.execute(args))
    except LabError as error:
        return report_error(error)


def console_main() -> None:
    """The `lab` console script."""
    sys.exit(main())
