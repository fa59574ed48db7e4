"""Every software a scenario can ask for, one module each, listed once in SOFTWARE.

A new software is a module defining a `Software` subclass and one line in SOFTWARE
(CONTRIBUTING.md: "Adding a software").
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from .. import SOURCE_ROOT
from ..errors import InvalidInput
from ..scenario import model
from . import tdengine
from .base import HOME_MODE, SYSTEM_PATH, Software

SOFTWARE: tuple[Software, ...] = (tdengine.SOFTWARE,)


def software(name: str) -> Software:
    """The software called `name`."""
    return next(s for s in SOFTWARE if s.name == name)


def home_option(software: Software) -> tuple[str, str]:
    """The command-line option and environment variable that give `software` a home folder."""
    return f"--{software.name}-home", f"LAB_{software.name.upper()}_HOME"


def with_homes(scenario: model.Scenario, homes: dict[str, str]) -> model.Scenario:
    """`scenario` with each software named in `homes` run from that folder (the home mode) in every variant.

    Raises InvalidInput when a folder does not exist.
    """
    folders = {}
    for name, home in homes.items():
        folder = Path(home).resolve()
        if not folder.is_dir():
            option, variable = home_option(software(name))
            raise InvalidInput(f"{option} (or {variable}) {home!r} is not a folder")
        folders[name] = str(folder)
    if not folders:
        return scenario

    def chosen(choice: model.SoftwareChoice) -> model.SoftwareChoice:
        return software(choice.name).choice(HOME_MODE, folders[choice.name]) if choice.name in folders else choice

    variants = tuple(
        dataclasses.replace(
            v, deployment=dataclasses.replace(v.deployment, software=tuple(chosen(c) for c in v.deployment.software))
        )
        for v in scenario.variants
    )
    return dataclasses.replace(scenario, variants=variants)


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


def software_files(
    choices: tuple[model.SoftwareChoice, ...], given: tuple[model.FileSpec, ...]
) -> tuple[tuple[model.FileSpec, ...], tuple[str, ...]]:
    """What every node or container with the files `given` also needs: files, and empty private folders."""
    files = [f for choice in choices for f in software(choice.name).files(choice, given)]
    folders = [d for choice in choices for d in software(choice.name).directories(choice, given)]
    return tuple(files), tuple(dict.fromkeys(folders))


def software_versions(choices: tuple[model.SoftwareChoice, ...]) -> dict[str, dict[str, str]]:
    """Which build of each software ran, for results.json."""
    return {choice.name: software(choice.name).versions(choice) for choice in choices}


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
