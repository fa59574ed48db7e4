"""Every error the lab reports to its user, and the exit status each one means.

One hierarchy: `LabError` and its kinds. The command line turns any of them into a
message and its exit status; nothing else is ever shown to the user as a traceback.
Standard library only (parts of the package run inside minimal containers).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitStatus(IntEnum):
    """What the lab's exit status means (README: "Exit status")."""

    OK = 0  # every expectation met
    UNMET = 1  # some expectation not met, or a variant could not be built
    INVALID = 2  # invalid scenario, usage, configuration or results folder
    UNFIT = 3  # the machine cannot run a lab (not root, a missing program, an unusable lab machine)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: everything was torn down


class LabError(Exception):
    """An error the lab explains to its user; `exit_status` is what the command exits with."""

    exit_status = ExitStatus.UNMET


class InvalidInput(LabError):
    """What the user gave (a file, an option, a folder) cannot be used; the message says what to change."""

    exit_status = ExitStatus.INVALID


class MachineUnfit(LabError):
    """The machine lacks something the lab needs (root, a program, a package); the message says what to install."""

    exit_status = ExitStatus.UNFIT


class BuildError(LabError):
    """Building or tearing down a lab failed; the message holds the evidence (command, output, log tail)."""


@dataclass(frozen=True)
class Where:
    """A position in a scenario file (1-based line and column)."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One mistake in a scenario file, at its position."""

    where: Where
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ScenarioInvalid(InvalidInput):
    """A scenario file has problems; `problems` lists every one found, in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.where.file, p.where.line, p.where.column))
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def at(cls, where: Where, message: str) -> ScenarioInvalid:
        """The error of a single problem (one that stops reading the file at once)."""
        return cls([Problem(where, message)])
