"""Bytecode of the lab's code that runs in nodes and containers, compiled once before a variant is built.

Programs in nodes and containers (the emulated `taos` and `taosd`, the probes, the services)
are the lab's own modules run by the machine's python3 with PYTHONDONTWRITEBYTECODE (they
never write into the lab's tree, which containers mount read-only). Without bytecode every
one of them compiles its modules from source again: about half of an emulated `taos`'s
start-up, and a replay starts dozens. So the deployment compiles them first, with that same
python3, into the usual __pycache__ folders beside the sources, where the programs find them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .. import SOURCE_ROOT
from ..software.base import SYSTEM_PATH

NODE_PACKAGES = ("tdengine", "steps", "services")  # the lab's packages whose modules run in nodes
COMPILE_TIMEOUT_S = 60


def compile_node_code(root: Path = SOURCE_ROOT) -> None:
    """Compile what programs in nodes import (lab/__init__.py and NODE_PACKAGES of the lab under `root`).

    Bytecode only saves time: where it cannot be written (a read-only tree, no python3), the
    programs compile their modules in memory as before, and nothing fails.
    """
    python = shutil.which("python3", path=SYSTEM_PATH)
    if python is None:
        return
    package = root / "lab"
    try:
        subprocess.run(
            [
                python,
                "-m",
                "compileall",
                "-q",
                str(package / "__init__.py"),
                *(str(package / p) for p in NODE_PACKAGES),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=COMPILE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return
