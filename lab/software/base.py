"""What the lab knows about one software a scenario can ask for: its modes, what it needs on the
machine, and what it adds to every node and container (PATH entries, read-only mounts, the
files and empty folders an installer would have made)."""

from __future__ import annotations

from pathlib import Path

from ..scenario import model

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOME_MODE = "home"  # the mode whose programs come from a folder (`{home: DIR}`, or --<name>-home DIR)


class Software:
    """One software; subclasses (one module each) say what its modes mean.

    A mode is chosen in the scenario (`software: {NAME: MODE}`, or `{NAME: {home: DIR}}` for
    a software with the `home` mode); `default` applies when the scenario says nothing.
    """

    name: str = ""
    modes: tuple[str, ...] = ()
    default: str = ""
    description: str = ""

    def choice(self, mode: str, home: str = "") -> model.SoftwareChoice:
        """The model's record of this software in `mode` (with its folder, for the home mode)."""
        return model.SoftwareChoice(self.name, mode, home)

    def check(self, choice: model.SoftwareChoice) -> None:
        """Raise MachineUnfit, saying what to install, when this machine cannot provide `choice`."""

    def path_dirs(self, choice: model.SoftwareChoice) -> list[str]:
        """Folders to put first on PATH in every node and container."""
        return []

    def mounts(self, choice: model.SoftwareChoice) -> list[model.Mount]:
        """Read-only folders of the machine that containers need at the same place (beyond /usr)."""
        return []

    def files(self, choice: model.SoftwareChoice, given: tuple[model.FileSpec, ...]) -> list[model.FileSpec]:
        """Files a node or container with the files `given` needs besides them (what an installer writes)."""
        return []

    def directories(self, choice: model.SoftwareChoice, given: tuple[model.FileSpec, ...]) -> list[str]:
        """Empty folders, private to each node and container, that the software needs to start."""
        return []

    def versions(self, choice: model.SoftwareChoice) -> dict[str, str]:
        """What ran, for results.json: the mode, the folder and the programs' own version lines."""
        return {"mode": choice.mode, **({"home": choice.home} if choice.home else {})}


def is_home(path: Path, programs: tuple[str, ...]) -> bool:
    """Whether `path` holds bin/<program> for each of `programs`."""
    return all((path / "bin" / program).is_file() for program in programs)
