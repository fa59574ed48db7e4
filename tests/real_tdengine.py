"""The real TDengine 2.0.20.0 for tests: found beside the repository, never copied into it.

`../shared/tdengine-2.0.20.0/taos` (or the folder LAB_TEST_TDENGINE_HOME names) holds the
official package's install folder: bin/taosd, bin/taos, driver/libtaos.so*, cfg/taos.cfg.
Tests that need it skip without it, saying how to get it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import REPO

SHARED_HOME = REPO.parent / "shared" / "tdengine-2.0.20.0" / "taos"
HOW_TO_GET = (
    "the real TDengine 2.0.20.0 is not here: put the official package's install folder (bin/, driver/, cfg/, "
    "e.g. from TDengine-server-2.0.20.0-Linux-x64.tar.gz) at ../shared/tdengine-2.0.20.0/taos beside the "
    "repository, or name it with LAB_TEST_TDENGINE_HOME"
)
LINK_STUB_MAX_BYTES = 64


def shared_home() -> Path:
    """The folder of the real TDengine, or a pytest skip saying how to get it."""
    home = Path(os.environ.get("LAB_TEST_TDENGINE_HOME") or SHARED_HOME)
    if not (home / "bin" / "taosd").is_file() or not (home / "bin" / "taos").is_file():
        pytest.skip(HOW_TO_GET)
    return home


def usable_copy(home: Path, destination: Path) -> Path:
    """A writable copy of `home` at `destination` with its library links in place.

    A copy of the package stored without symbolic links keeps each link as a small text
    file naming its target (`libtaos.so.1` holding `libtaos.so.2.0.20.0`); such stubs are
    turned back into the links the official tarball has. Real links are copied as links.
    """
    shutil.copytree(home, destination, symlinks=True)
    for path in (destination / "driver").iterdir():
        if path.is_symlink() or not path.is_file() or path.stat().st_size > LINK_STUB_MAX_BYTES:
            continue
        target = path.read_text().strip()
        if target and "/" not in target and (path.parent / target).exists():
            path.unlink()
            path.symlink_to(target)
    for path in destination.rglob("*"):
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)
    return destination


@pytest.fixture(scope="session")
def tdengine_home(tmp_path_factory) -> Path:
    """A usable TDengine home folder (the test session's own copy of the real one)."""
    return usable_copy(shared_home(), tmp_path_factory.mktemp("tdengine") / "taos")
