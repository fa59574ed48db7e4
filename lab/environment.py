"""Is this machine fit to run a lab? (root, Linux, the programs the lab starts)."""

from __future__ import annotations

import os
import shutil
import sys

REQUIRED_PROGRAMS = {
    "mnexec": "mininet", "ip": "iproute2", "nsenter": "util-linux", "mount": "mount",
    "sysctl": "procps", "iptables": "iptables", "dockerd": "docker.io", "docker": "docker.io",
    "tcpdump": "tcpdump", "ping": "iputils-ping",
}
CONTAINER_PYTHON = "/usr/bin/python3"


class EnvironmentUnfit(Exception):
    """The machine cannot run a lab; the message says what to do."""


def check_environment() -> None:
    """Raise EnvironmentUnfit naming everything that is missing."""
    problems = []
    if not sys.platform.startswith("linux"):
        problems.append("the lab needs Linux (network namespaces); use `--on HOST` to run it on a Linux machine")
    elif os.geteuid() != 0:
        problems.append("the lab needs root (namespaces, mounts, dockerd): run it with sudo")
    missing = sorted({package for program, package in REQUIRED_PROGRAMS.items() if not shutil.which(program)})
    if missing:
        problems.append(f"missing programs; install with: apt-get install {' '.join(missing)} (or run ./setup.sh)")
    if not os.path.exists(CONTAINER_PYTHON):
        problems.append(f"{CONTAINER_PYTHON} is missing (containers run the lab's services with it): apt-get install python3")
    if problems:
        raise EnvironmentUnfit("\n".join(problems))
