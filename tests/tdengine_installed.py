"""Run the lab with a TDengine home installed in the official package layout, privately.

    unshare --mount -- python tests/tdengine_installed.py HOME WORK -- LAB ARGS...

Inside the private mount namespace `unshare` made, an overlay over /usr holds what the
official installer puts there: /usr/local/taos (bin, driver, cfg), the /usr/bin/taosd and
/usr/bin/taos links, and /usr/lib/libtaos.so.1. Then `python -m lab LAB ARGS...` runs, and
everything it starts (nodes, dockerd, containers) sees that /usr. The machine's own /usr is
never touched; the overlay ends with the namespace. WORK is an empty folder for the overlay.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def install(home: Path, work: Path) -> None:
    """Mount /usr with the TDengine of `home` installed as the official package installs it."""
    upper, scratch = work / "upper", work / "work"
    scratch.mkdir(parents=True)
    shutil.copytree(home, upper / "local" / "taos", symlinks=True)
    (upper / "bin").mkdir()
    for program in ("taosd", "taos"):
        (upper / "bin" / program).symlink_to(f"/usr/local/taos/bin/{program}")
    (upper / "lib").mkdir()
    (upper / "lib" / "libtaos.so.1").symlink_to("/usr/local/taos/driver/libtaos.so.1")
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", f"lowerdir=/usr,upperdir={upper},workdir={scratch}", "/usr"],
        check=True,
    )


def main(argv: list[str]) -> int:
    home, work, separator, *lab_args = argv
    if separator != "--":
        raise SystemExit("usage: tdengine_installed.py HOME WORK -- LAB ARGS...")
    if Path("/proc/self/ns/mnt").stat().st_ino == Path(f"/proc/{os.getppid()}/ns/mnt").stat().st_ino:
        raise SystemExit("refusing to mount over /usr in the caller's mount namespace: run it under unshare --mount")
    install(Path(home), Path(work))
    return subprocess.run([sys.executable, "-m", "lab", *lab_args]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
