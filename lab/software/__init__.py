"""Every software a scenario can ask for, one module each, listed once in SOFTWARE.

A new software is a module defining a `Software` subclass and one line in SOFTWARE
(CONTRIBUTING.md: "Adding a software").
"""

from __future__ import annotations

from .. import SOURCE_ROOT
from ..scenario import model
from . import tdengine
from .base import SYSTEM_PATH, Software

SOFTWARE: tuple[Software, ...] = (tdengine.SOFTWARE,)


def software(name: str) -> Software:
    """The software called `name`."""
    return next(s for s in SOFTWARE if s.name == name)


def check_software(choices: tuple[model.SoftwareChoice, ...]) -> None:
    """Raise MachineUnfit when this machine cannot provide one of `choices`."""
    for choice in choices:
        software(choice.name).check(choice)


def container_mounts(choices: tuple[model.SoftwareChoice, ...]) -> list[model.Mount]:
    """Read-only mounts every container gets: the machine's /usr, the lab's code, and what software adds."""
    mounts = [model.Mount("/usr", "/usr", True), model.Mount(str(SOURCE_ROOT), str(SOURCE_ROOT), True)]
    for choice in choices:
        mounts += software(choice.name).mounts(choice)
    return mounts


def node_environment(choices: tuple[model.SoftwareChoice, ...]) -> dict[str, str]:
    """The environment of every program the lab runs in a node or container."""
    dirs = [d for choice in choices for d in software(choice.name).path_dirs(choice)]
    return {
        "PATH": ":".join([*dirs, SYSTEM_PATH]),
        "PYTHONPATH": str(SOURCE_ROOT),
        "HOME": "/root",
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
