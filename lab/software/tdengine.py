"""TDengine 2.x: `emulated` (the default), `installed`, or a TDengine home folder.

- `emulated`: the lab's emulated `taosd`/`taos` (lab/tdengine/, standard library only),
  first on PATH.
- `installed`: the TDengine installed on the lab machine in the official package layout
  (`/usr/local/taos`, with `/usr/bin/taosd` and `/usr/bin/taos` links, `libtaos.so.1` in
  /usr/lib); containers see the machine's /usr read-only, so the same programs run in them.
- `home` (`tdengine: {home: DIR}` or `--tdengine-home DIR`): an unpacked official package
  (bin/, driver/, cfg/), mounted read-only into containers at the same path and first on PATH.

Every node and container gets what the official installer makes: empty `dataDir` and
`logDir` folders (`/var/lib/taos`, `/var/log/taos`, or what the node's taos.cfg says):
taosd does not start without them (the emulated one neither), and the shell logs there
too; in the real modes also `/etc/taos/taos.cfg` (the package's default, all comments,
unless the scenario gives one).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from .. import SOURCE_ROOT
from ..errors import MachineUnfit
from ..scenario import model
from ..tdengine.config import ConfigError, parse_config
from .base import HOME_MODE, SYSTEM_PATH, Software, is_home

EMULATED_BIN = SOURCE_ROOT / "lab" / "tdengine" / "bin"
PROGRAMS = ("taosd", "taos")
CONFIG_FILE = "/etc/taos/taos.cfg"
INSTALLED_HOME = Path("/usr/local/taos")  # the official package's install folder
VERSION_TIMEOUT_S = 10
GET_TDENGINE = (
    "get TDengine 2.x: unpack the official TDengine-server-2.x Linux tarball and give its folder "
    "(the one holding bin/, driver/ and cfg/) with --tdengine-home DIR, or install its package"
)


class TDengine(Software):
    name = "tdengine"
    modes = ("emulated", "installed", HOME_MODE)
    default = "emulated"
    description = "TDengine 2.x: the lab's emulated taosd/taos, the installed TDengine, or a TDengine home folder"

    def _bin(self, choice: model.SoftwareChoice) -> Path:
        if choice.mode == HOME_MODE:
            return Path(choice.home) / "bin"
        if choice.mode == "installed":
            return Path("/usr/bin")
        return EMULATED_BIN

    def check(self, choice: model.SoftwareChoice) -> None:
        if choice.mode == "emulated":
            return
        if choice.mode == "installed":
            for program in PROGRAMS:
                found = shutil.which(program, path=SYSTEM_PATH)
                if not found or not found.startswith("/usr/"):
                    raise MachineUnfit(
                        f"software tdengine: installed needs '{program}' under /usr on this machine "
                        f"(found: {found or 'nothing'}); {GET_TDENGINE}; or use 'tdengine: emulated'"
                    )
        elif not is_home(Path(choice.home), PROGRAMS):
            raise MachineUnfit(
                f"software tdengine: {choice.home} is not a TDengine home folder (it has no "
                f"bin/taosd and bin/taos); {GET_TDENGINE}"
            )
        for program in PROGRAMS:
            self._version(self._bin(choice) / program)

    def _version(self, program: Path) -> str:
        """The first line `program -V` prints; MachineUnfit with its output when it cannot run."""
        try:
            result = subprocess.run([str(program), "-V"], capture_output=True, text=True, timeout=VERSION_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MachineUnfit(f"software tdengine: {program} cannot run: {exc}") from None
        if result.returncode != 0:
            raise MachineUnfit(
                f"software tdengine: `{program} -V` failed (exit {result.returncode}): "
                f"{(result.stdout + result.stderr).strip()[-500:]}"
            )
        return next((line.strip() for line in result.stdout.splitlines() if line.strip()), "")

    def path_dirs(self, choice: model.SoftwareChoice) -> list[str]:
        return [str(self._bin(choice))] if choice.mode in ("emulated", HOME_MODE) else []

    def mounts(self, choice: model.SoftwareChoice) -> list[model.Mount]:
        return [model.Mount(choice.home, choice.home, True)] if choice.mode == HOME_MODE else []

    def _default_config(self, choice: model.SoftwareChoice) -> Path | None:
        home = Path(choice.home) if choice.mode == HOME_MODE else INSTALLED_HOME
        path = home / "cfg" / "taos.cfg"
        return path if path.is_file() else None

    def files(self, choice: model.SoftwareChoice, given: tuple[model.FileSpec, ...]) -> list[model.FileSpec]:
        if choice.mode == "emulated" or any(spec.path == CONFIG_FILE for spec in given):
            return []
        default = self._default_config(choice)
        return [model.FileSpec(CONFIG_FILE, default.read_text() if default else "")]

    def directories(self, choice: model.SoftwareChoice, given: tuple[model.FileSpec, ...]) -> list[str]:
        text = next((spec.content for spec in given if spec.path == CONFIG_FILE), "")
        try:
            config = parse_config(text, CONFIG_FILE, hostname="localhost")
        except ConfigError:
            config = parse_config("", CONFIG_FILE, hostname="localhost")  # taosd itself reports the bad line
        return ["/etc/taos", config.data_dir, config.log_dir]

    def versions(self, choice: model.SoftwareChoice) -> dict[str, str]:
        found = super().versions(choice)
        for program in PROGRAMS:
            try:
                found[program] = self._version(self._bin(choice) / program)
            except MachineUnfit as exc:
                found[program] = str(exc)
        return found


SOFTWARE = TDengine()
