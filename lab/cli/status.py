"""`lab status [LAB]`: the live labs of this machine, or one in detail."""

from __future__ import annotations

import argparse
import time

from ..console import out
from ..remote import add_options as add_remote_options


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `status` subparser (also `ls`)."""
    status = commands.add_parser(
        "status",
        aliases=["ls"],
        help="list the live labs, or show one",
        description="List the live labs, or show one; with --on HOST, those of HOST (its paths marked (on HOST)).",
    )
    status.add_argument("lab", nargs="?", metavar="LAB", help="a lab's name (or a unique prefix of it)")
    add_remote_options(status)
    return status


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def execute(args: argparse.Namespace) -> int:
    """0; 2 when LAB names no lab."""
    from ..live import registry

    if args.lab:
        lab = registry.find(args.lab)
        from .up import describe

        _, variant = registry.variant_of(lab)
        text = describe(lab, variant)
        if lab.state != "up":
            text = text.replace(" is up:", f" is {lab.state}:", 1) + (f"\n  failed: {lab.failed}" if lab.failed else "")
        out.print(text, markup=False)
        return 0
    every = registry.labs()
    if not every:
        out.print("no live labs (`lab up SCENARIO` starts one)")
        return 0
    out.print(
        f"{'LAB':<44} {'STATE':<9} {'SCENARIO':<32} {'VARIANT':<16} {'AGE':>7} {'NODES':>5} {'PID':>7}", markup=False
    )
    for lab in every:
        scenario = lab.scenario.rsplit("/", 1)[-1].removesuffix(".yaml")
        out.print(
            f"{lab.name:<44} {lab.state:<9} {scenario:<32} {lab.variant:<16} {_age(time.time() - lab.started_at):>7} "
            f"{len(lab.nodes) + len(lab.containers):>5} {lab.keeper:>7}",
            markup=False,
        )
    return 0
