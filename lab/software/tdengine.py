"""TDengine 2.x: `emulated` (the default) or `installed`.

`emulated` puts the lab's emulated `taosd`/`taos` (lab/tdengine/, standard library only)
first on PATH; `installed` uses the `taosd`/`taos` installed on the lab machine under /usr
(containers see the machine's /usr read-only, so the same programs run in them).
"""

from __future__ import annotations

import shutil

from .. import SOURCE_ROOT
from ..errors import MachineUnfit
from ..scenario import model
from .base import SYSTEM_PATH, Software

EMULATED_BIN = SOURCE_ROOT / "lab" / "tdengine" / "bin"
PROGRAMS = ("taosd", "taos")


class TDengine(Software):
    name = "tdengine"
    modes = ("emulated", "installed")
    default = "emulated"
    description = "TDengine 2.x: the lab's emulated taosd/taos, or the TDengine installed on the machine"

    def check(self, choice: model.SoftwareChoice) -> None:
        if choice.mode != "installed":
            return
        for program in PROGRAMS:
            found = shutil.which(program, path=SYSTEM_PATH)
            if not found or not found.startswith("/usr/"):
                raise MachineUnfit(
                    f"software tdengine: installed needs '{program}' under /usr on this machine "
                    f"(found: {found or 'nothing'}); install TDengine 2.x or use 'tdengine: emulated'"
                )

    def path_dirs(self, choice: model.SoftwareChoice) -> list[str]:
        return [str(EMULATED_BIN)] if choice.mode == "emulated" else []


SOFTWARE = TDengine()
