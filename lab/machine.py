"""Is this machine fit to run a lab? (Linux, root, the programs the lab starts: lab/packages.tsv)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .errors import MachineUnfit
from .software.base import SYSTEM_PATH

PACKAGES = Path(__file__).with_name("packages.tsv")


def find_program(program: str) -> str | None:
    """The path of `program` on PATH or, failing that, in the system folders (a user's PATH may lack
    /usr/sbin, where iptables and sysctl are; root's has it). An absolute path (packages.tsv also
    names files a package installs, like a font) is looked up as it is."""
    if program.startswith("/"):
        return program if os.path.exists(program) else None
    return shutil.which(program) or shutil.which(program, path=SYSTEM_PATH)


def required_programs(needed_for: str = "run") -> dict[str, str]:
    """Program -> Debian package, for the programs `needed_for` (run, scenarios, tests) needs."""
    programs = {}
    for line in PACKAGES.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            program, package, purpose = line.split("\t")
            if purpose == needed_for:
                programs[program] = package
    return programs


def check_machine() -> None:
    """Raise MachineUnfit naming everything that is missing."""
    problems = []
    if not sys.platform.startswith("linux"):
        problems.append("the lab needs Linux (network namespaces); use `--on HOST` to run it on a Linux machine")
    elif os.geteuid() != 0:
        problems.append("the lab needs root (namespaces, mounts, dockerd): run it with sudo")
    missing = sorted({package for program, package in required_programs().items() if not find_program(program)})
    if missing:
        problems.append(f"missing programs; install with: apt-get install {' '.join(missing)} (or run ./setup.sh)")
    if problems:
        raise MachineUnfit("\n".join(problems))
