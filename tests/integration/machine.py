"""Snapshots of the machine's own network and of what a lab run may leave behind."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
from pathlib import Path


def _out(*argv: str) -> str:
    return subprocess.run(list(argv), capture_output=True, text=True, check=True).stdout


def root_network() -> dict[str, object]:
    """The root namespace's addresses, links, routes, iptables and nftables rules."""
    links = sorted((link["ifname"], link.get("operstate")) for link in json.loads(_out("ip", "-j", "link", "show")))
    addresses = sorted(
        (a["ifname"], i["local"], i["prefixlen"])
        for a in json.loads(_out("ip", "-j", "address", "show"))
        for i in a.get("addr_info", [])
    )
    routes = sorted(_out("ip", "route", "show", "table", "all").splitlines())
    iptables = [line for line in _out("iptables-save").splitlines() if not line.startswith("#")]
    iptables = [re.sub(r"\[\d+:\d+\]", "", line) for line in iptables]  # counters move, rules must not
    nft = re.sub(r"packets \d+ bytes \d+", "", _out("nft", "list", "ruleset"))
    return {"links": links, "addresses": addresses, "routes": routes, "iptables": iptables, "nft": nft}


def network_namespaces() -> set[int]:
    """Inodes of every network namespace some process is in."""
    found = set()
    for path in glob.glob("/proc/[0-9]*/ns/net"):
        try:
            found.add(os.stat(path).st_ino)
        except OSError:
            pass
    return found


def root_mounts() -> list[str]:
    """Mount points of the root mount namespace."""
    return sorted(line.split()[4] for line in Path("/proc/1/mountinfo").read_text().splitlines())


def lab_processes(markers: tuple[str, ...] = ("mininet:", "/tmp/lab-", "--containerd-namespace lab-")) -> list[str]:
    """Command lines of live processes that belong to some lab run."""
    found = []
    for path in glob.glob("/proc/[0-9]*/"):
        try:
            cmdline = Path(path, "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(path, "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(marker in cmdline for marker in markers):
            found.append(f"{path.split('/')[2]}: {cmdline.strip()}")
    return found


def lab_temp_dirs() -> list[str]:
    """Temporary folders of lab runs."""
    return sorted(glob.glob("/tmp/lab-*"))


def snapshot() -> dict[str, object]:
    """Everything a run must leave as it found it."""
    return {
        "network": root_network(),
        "netns": network_namespaces(),
        "mounts": root_mounts(),
        "processes": lab_processes(),
        "tmp": lab_temp_dirs(),
    }


def uptime() -> float:
    """Seconds since boot (the clock of processes' start times)."""
    return float(Path("/proc/uptime").read_text().split()[0])


def namespaces_of_processes_older_than(inodes: set[int], since_boot: float) -> set[int]:
    """Those of `inodes` held by a process that started before `since_boot`.

    Namespace inode numbers are reused: once one of ours is gone, a namespace that another lab
    on the machine makes can carry its number, but the processes of that new namespace started
    after ours were freed, so after `since_boot` when that is the moment the run was killed.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    held = set()
    for path in glob.glob("/proc/[0-9]*/"):
        try:
            inode = os.stat(Path(path, "ns", "net")).st_ino
            started = int(Path(path, "stat").read_text().rsplit(")", 1)[1].split()[19]) / ticks
        except (OSError, ValueError):
            continue
        if inode in inodes and started < since_boot:
            held.add(inode)
    return held
