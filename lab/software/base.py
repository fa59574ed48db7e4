"""What the lab knows about one software a scenario can ask for: its modes, what it needs on the
machine, and what it adds to every node and container (PATH entries, read-only mounts)."""

from __future__ import annotations

from ..scenario import model

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Software:
    """One software; subclasses (one module each) say what its modes mean.

    A mode is chosen in the scenario (`software: {NAME: MODE}`); `default` applies when
    the scenario says nothing.
    """

    name: str = ""
    modes: tuple[str, ...] = ()
    default: str = ""
    description: str = ""

    def choice(self, mode: str) -> model.SoftwareChoice:
        """The model's record of this software in `mode`."""
        return model.SoftwareChoice(self.name, mode)

    def check(self, choice: model.SoftwareChoice) -> None:
        """Raise MachineUnfit, saying what to install, when this machine cannot provide `choice`."""

    def path_dirs(self, choice: model.SoftwareChoice) -> list[str]:
        """Folders to put first on PATH in every node and container."""
        return []

    def mounts(self, choice: model.SoftwareChoice) -> list[model.Mount]:
        """Read-only folders of the machine that containers need at the same place (beyond /usr)."""
        return []
