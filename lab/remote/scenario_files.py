"""The local files a scenario refers to, read so that they can travel with it to the lab machine.

Those are `from:` sources of `files` entries and the sources of container mounts. The
loader keeps them inside the scenario's folder, so each is given by its path relative
to that folder, and the scenario finds them at the same place beside its copy.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import InvalidInput
from ..scenario import model
from .connection import LocalFile


def referenced_files(path: Path, scenario: model.Scenario) -> list[str]:
    """Every local file the scenario at `path` (already loaded, so checked) refers to, relative to its folder."""
    base = path.parent.resolve()
    found = set()
    for variant in scenario.variants:
        deployment = variant.deployment
        for container in deployment.containers:
            for mount in container.mounts:
                source = Path(mount.source)
                members = source.rglob("*") if source.is_dir() else [source]
                found |= {member.relative_to(base).as_posix() for member in members if member.is_file()}
        for spec in (
            *(f for node in deployment.nodes for f in node.files),
            *(f for container in deployment.containers for f in container.files),
        ):
            if spec.source:
                found.add(spec.source)
    return sorted(found)


def files_to_send(path: Path, scenario: model.Scenario) -> list[LocalFile]:
    """The scenario at `path` and the files it brings, read now; InvalidInput for one leading outside its folder."""
    base = path.parent.resolve()
    files = []
    for name in [path.name, *referenced_files(path, scenario)]:
        real = (path.parent / name).resolve()
        if not real.is_relative_to(base):
            raise InvalidInput(
                f"{path.parent / name}: leads outside the scenario's folder (to {real}); --on sends only files "
                f"inside {path.parent}: copy the file there instead of linking to it"
            )
        files.append(LocalFile.read(path.parent, name))
    return files
