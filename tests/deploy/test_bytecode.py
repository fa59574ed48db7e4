"""lab.deploy.bytecode: the programs the lab starts in nodes read the bytecode a deployment compiled.

The node's own python3 imports the emulated TDengine, the probe and the echo service with
PYTHONDONTWRITEBYTECODE, as in a node, and `python3 -v` says where each module's code came from.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from lab import SOURCE_ROOT
from lab.deploy.bytecode import NODE_PACKAGES, compile_node_code
from lab.software.base import SYSTEM_PATH

NODE_MODULES = "lab.tdengine.taos, lab.tdengine.taosd, lab.steps.probe, lab.services.echo"
CODE_FROM = re.compile(r"^# code object from '?([^'\n]+?)'?$", re.MULTILINE)


def loaded_from(root: Path) -> list[str]:
    """The files the node's python3 took the code of each lab module under `root` from."""
    python = shutil.which("python3", path=SYSTEM_PATH)
    assert python, f"no python3 on {SYSTEM_PATH}"
    result = subprocess.run(
        [python, "-v", "-c", f"import {NODE_MODULES}"],
        env={"PATH": SYSTEM_PATH, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"},
        cwd=root,  # not the repository, whose lab would come first
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [path for path in CODE_FROM.findall(result.stderr) if path.startswith(str(root))]


def test_node_programs_compile_from_source_without_it_and_read_bytecode_after_it(tmp_path: Path) -> None:
    (tmp_path / "lab").mkdir()
    shutil.copy(SOURCE_ROOT / "lab" / "__init__.py", tmp_path / "lab")
    for package in NODE_PACKAGES:
        shutil.copytree(
            SOURCE_ROOT / "lab" / package, tmp_path / "lab" / package, ignore=shutil.ignore_patterns("__pycache__")
        )

    before = loaded_from(tmp_path)
    assert before and all(path.endswith(".py") for path in before), before

    compile_node_code(tmp_path)

    after = loaded_from(tmp_path)
    assert len(after) == len(before), (before, after)
    assert all(path.endswith(".pyc") and "/__pycache__/" in path for path in after), after
