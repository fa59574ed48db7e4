"""`lab up SCENARIO`: build one variant and leave it running for `shell`, `exec`, `capture`, `steps`, `down`."""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from ..console import err, load_or_report, out
from ..errors import ExitStatus, InvalidInput
from ..machine import check_machine
from ..remote import add_options as add_remote_options
from ..software import SOFTWARE, check_software, home_option, with_homes
from ..software.base import HOME_MODE
from .run import DEFAULT_RESULTS, check_results_root

START_TIMEOUT_S = 600  # a build (images, containers, setup steps) that takes longer is given up


def add_to(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """The `up` subparser."""
    up = commands.add_parser(
        "up",
        help="build one variant and keep it running (a live lab)",
        description="Build one variant of the scenario and keep it running in the background (it outlives "
        "this terminal) until `lab down`. Prints its nodes, addresses and published ports. With --on HOST the lab "
        "lives on HOST: the scenario and its files go to a folder of the lab's own there (kept until `lab down "
        "--on HOST`), paths there are shown marked (on HOST), and its results folder stays there until `lab down "
        "--on HOST` brings it into that command's --results (a lab that did not come up brings it into --results "
        "at once). Ctrl-C, or a lost connection, while it is being built tears it down there.",
    )
    up.add_argument("scenario", type=Path, help="scenario YAML file")
    up.add_argument("--variant", metavar="NAME", help="the variant to build (default: the first)")
    up.add_argument("--steps", action="store_true", help="also run the setup steps (those before any client's)")
    up.add_argument("--name", metavar="NAME", help="the lab's name (default: SCENARIO-VARIANT, numbered if taken)")
    up.add_argument(
        "--results", type=Path, default=DEFAULT_RESULTS, metavar="DIR", help="where its results folder goes"
    )
    for software in SOFTWARE:
        if HOME_MODE in software.modes:
            option, variable = home_option(software)
            up.add_argument(option, metavar="DIR", default=os.environ.get(variable) or None, help=f"({variable})")
    add_remote_options(up)
    return up


def execute(args: argparse.Namespace) -> int:
    """0 when the lab is up, 1 when it could not be built (the keeper's log says why), 130 interrupted."""
    from ..live import registry
    from ..results.record import create_unique_dir

    scenario = load_or_report(args.scenario)
    if scenario is None:
        return ExitStatus.INVALID
    names = [v.name for v in scenario.variants]
    variant_name = args.variant or names[0]
    if variant_name not in names:
        raise InvalidInput(f"{args.scenario} has no variant '{variant_name}'; variants are: {', '.join(names)}")
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", args.name):
        raise InvalidInput(f"--name {args.name!r}: use letters, digits, '.', '_' and '-' (at most 63)")
    check_results_root(args.results)
    homes = {s.name: getattr(args, f"{s.name}_home") for s in SOFTWARE if getattr(args, f"{s.name}_home", None)}
    scenario = with_homes(scenario, homes)
    check_machine()
    variant = next(v for v in scenario.variants if v.name == variant_name)
    check_software(variant.deployment.software)
    with registry.naming():
        name = args.name or registry.free_name(f"{scenario.name}-{variant_name}")
        if args.name and any(lab.name == name for lab in registry.labs()):
            raise InvalidInput(f"a lab called {name} exists already; `lab down {name}` or another --name")
        results = create_unique_dir(args.results.resolve(), f"{time.strftime('%Y%m%d-%H%M%S')}-lab-{name}")
        log = results / "keeper.log"
        spec = {
            "name": name,
            "scenario": str(args.scenario.resolve()),
            "variant": variant_name,
            "results": str(results),
            "log": str(log),
            "homes": homes,
            "steps": args.steps,
        }
        with open(log, "w") as log_file:
            keeper = subprocess.Popen(
                [sys.executable, "-m", "lab.live.keeper", json.dumps(spec)],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # no terminal's hangup or Ctrl-C reaches it
                cwd="/",
            )
        err.print(f"starting lab {name} (keeper pid {keeper.pid}, log {log})")
        try:
            lab = _wait(registry, keeper, name, log)
        except KeyboardInterrupt:
            err.print("interrupted: tearing the lab down ...")
            keeper.terminate()
            keeper.wait()
            return ExitStatus.INTERRUPTED
    if lab is None:
        return ExitStatus.UNMET
    out.print(describe(lab, variant), markup=False)
    return ExitStatus.OK


def _wait(registry, keeper: subprocess.Popen, name: str, log: Path):
    """Follow the keeper's log on stderr until the lab is up (the lab) or the keeper has gone (None)."""
    pidfd = os.pidfd_open(keeper.pid)
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        with open(log) as follow:
            while True:
                for line in follow.readlines():
                    err.print(f"  {line.rstrip()}", markup=False)
                lab = next((lab for lab in registry.labs() if lab.name == name and lab.keeper == keeper.pid), None)
                if lab is not None and lab.ready:
                    return lab
                if keeper.poll() is not None:
                    for line in follow.readlines():
                        err.print(f"  {line.rstrip()}", markup=False)
                    err.print(f"lab {name} could not be built (keeper exit {keeper.returncode}; log {log})")
                    return None
                if time.monotonic() > deadline:
                    keeper.terminate()
                    keeper.wait()
                    err.print(f"lab {name} was not up within {START_TIMEOUT_S}s; torn down (log {log})")
                    return None
                select.select([pidfd], [], [], 0.2)  # wakes at once when the keeper exits
    finally:
        os.close(pidfd)


def describe(lab, variant) -> str:
    """What is up and how to reach it: nodes and addresses, containers and published ports, the commands."""
    deployment = variant.deployment
    lines = [f"lab {lab.name} is up: {variant.name} of {Path(lab.scenario).name} (keeper pid {lab.keeper})"]
    for node in deployment.nodes:
        addresses = ", ".join(f"{i.address} ({i.subnet})" for i in node.interfaces)
        lines.append(f"  {node.kind:<12} {node.name:<16} {addresses}")
    for host in deployment.docker_hosts:
        for container in host.containers:
            ports = ", ".join(container.publish) or "none"
            lines.append(f"  {'container':<12} {container.name:<16} {container.ip} on {host.name}; published: {ports}")
    lines += [
        f"  results: {lab.results}",
        f"reach it: lab shell {lab.name} NODE | lab exec {lab.name} NODE -- CMD | lab capture {lab.name} NODE[:IFACE]"
        f" | lab steps {lab.name} | lab down {lab.name}",
    ]
    return "\n".join(lines)
