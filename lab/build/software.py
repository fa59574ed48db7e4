"""Software the scenario asks for, made available under the same names in every node.

`tdengine: emulated` (the default) puts the lab's emulated `taosd`/`taos` first on PATH;
`installed` uses the `taosd`/`taos` installed on the lab machine under /usr (containers see
the machine's /usr read-only, so the same programs run in them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import __file__ as _package_init

PROJECT_ROOT = Path(_package_init).resolve().parent.parent
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class SoftwareMissing(Exception):
    """The machine lacks a program the scenario needs."""


def tool_dirs(software: tuple[tuple[str, str], ...]) -> list[str]:
    """Directories to put first on PATH in nodes and containers (TDengine: emulated by default)."""
    tdengine = dict(software).get("tdengine", "emulated")
    if tdengine == "emulated":
        return [str(PROJECT_ROOT / "lab" / "tdengine" / "bin")]
    for program in ("taosd", "taos"):
        found = shutil.which(program, path=SYSTEM_PATH)
        if not found or not found.startswith("/usr/"):
            raise SoftwareMissing(
                f"software tdengine: installed needs '{program}' under /usr on this machine "
                f"(found: {found or 'nothing'}); install TDengine 2.x or use 'tdengine: emulated'")
    return []


def node_environment(software: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """The environment of every program the lab runs in a node or container."""
    return {
        "PATH": ":".join([*tool_dirs(software), SYSTEM_PATH]),
        "PYTHONPATH": str(PROJECT_ROOT),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
