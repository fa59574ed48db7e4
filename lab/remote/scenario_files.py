"""The local files a scenario refers to, so they can travel with it to the lab machine.

Those are `from:` sources of `files` entries and the sources of container mounts. The
loader keeps them inside the scenario's folder, so each is given by its path relative
to that folder, and the scenario finds them at the same place beside its copy.
"""

from __future__ import annotations

import posixpath
from pathlib import Path

from ..scenario import model
from ..scenario.loader import VAR_REF_RE
from ..scenario.source import load_yaml, merge


def referenced_files(path: Path, scenario: model.Scenario) -> list[str]:
    """Every local file the scenario at `path` (already loaded, so checked) refers to, relative to its folder."""
    base = path.parent.resolve()
    found = set()
    for variant in scenario.variants:
        for container in variant.deployment.containers:
            for mount in container.mounts:
                source = Path(mount.source)
                members = source.rglob("*") if source.is_dir() else [source]
                found |= {member.relative_to(base).as_posix() for member in members if member.is_file()}
    found |= {name for name in _from_sources(path) if (path.parent / name).is_file()}
    return sorted(found)


def _from_sources(path: Path) -> set[str]:
    """`from:` paths as every variant's variables make them.

    The model keeps a file's content, not where it was read from, so the paths are read
    from the scenario's YAML; load_scenario has checked them all before this runs.
    """
    document = load_yaml(path.read_text(), str(path))
    overrides = [spec["set"] for spec in (document.get("variants") or {}).values()
                 if isinstance(spec, dict) and isinstance(spec.get("set"), dict)]
    found = set()
    for merged in (document, *(merge(document, override) for override in overrides)):
        variables = {str(name): str(value) for name, value in (merged.get("vars") or {}).items()}
        for text in _from_values(merged):
            resolved = VAR_REF_RE.sub(lambda match, known=variables: known.get(match.group(1), match.group(0)), text)
            found.add(posixpath.normpath(resolved))
    return found


def _from_values(node) -> list[str]:
    """The `from:` values of every `files` mapping in a YAML tree."""
    values = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "files" and isinstance(value, dict):
                values += [spec["from"] for spec in value.values()
                           if isinstance(spec, dict) and isinstance(spec.get("from"), str)]
            values += _from_values(value)
    elif isinstance(node, list):
        for item in node:
            values += _from_values(item)
    return values
