"""lab/ has no import cycle: every module imports on its own in a fresh interpreter, and the static
import graph (every `lab` import, those inside functions included) has no cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "lab"
NOT_PYTHON = [PACKAGE / "tdengine" / "bin"]  # shell scripts started in containers


def module_files(package: Path, skip: list[Path]) -> dict[str, Path]:
    """Every module under `package` by dotted name (a package by its own name), except those under `skip`."""
    modules = {}
    for path in sorted(package.rglob("*.py")):
        if any(folder in path.parents for folder in skip):
            continue
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = module_files(PACKAGE, NOT_PYTHON)


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The lab modules (of `modules`) that module `name` imports anywhere in its code, relative or absolute."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == "lab")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            if source.split(".")[0] != "lab":
                continue
            for alias in node.names:  # `from .pkg import module` imports that module; a name comes from `source`
                found.add(f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source)
    found.discard(name)
    return found


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules it imports."""
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for successor in sorted(graph.get(node, ())):
            cycle = visit(successor)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for start in sorted(graph):
        cycle = visit(start)
        if cycle:
            return cycle
    return None


def test_the_walk_finds_the_lab_package_and_its_layers():
    assert {"lab", "lab.cli", "lab.scenario.model", "lab.deploy.journal", "lab.analysis.explain"} <= set(MODULES)
    assert not [name for name in MODULES if name.startswith("lab.tdengine.bin")]


@pytest.mark.parametrize("module", sorted(name for name in MODULES if not name.endswith(".__main__")))
def test_module_imports_on_its_own_in_a_fresh_interpreter(module):
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"import {module} failed in a fresh interpreter:\n{result.stderr}"


def test_python_m_lab_imports_in_a_fresh_interpreter():
    """lab/__main__.py runs the command line when imported, so it is imported by `python -m lab --help`."""
    result = subprocess.run(
        [sys.executable, "-m", "lab", "--help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: lab")


def test_static_import_graph_has_no_cycle():
    graph = import_graph(MODULES)
    unknown = sorted(
        f"{name} -> {target}" for name, targets in graph.items() for target in targets if target not in MODULES
    )
    assert not unknown, f"imports of lab modules that do not exist: {unknown}"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in lab/: " + " -> ".join(cycle)


def test_the_checker_finds_cycles_through_function_level_relative_and_absolute_imports(tmp_path):
    """The checker itself, on a package of its own: each kind of import is an edge; a cycle is named."""
    sources = {
        "lab/__init__.py": "",
        "lab/a.py": "from . import b\n",
        "lab/b.py": "def later():\n    from .c import thing\n",
        "lab/c.py": "import lab.a\nthing = 1\n",
        "lab/sub/__init__.py": "from .d import other\n",
        "lab/sub/d.py": "from ..c import thing\nfrom lab import sub\nother = thing\n",
    }
    for name, text in sources.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    graph = import_graph(module_files(tmp_path / "lab", []))
    assert graph == {
        "lab": set(),
        "lab.a": {"lab.b"},
        "lab.b": {"lab.c"},
        "lab.c": {"lab.a"},
        "lab.sub": {"lab.sub.d"},
        "lab.sub.d": {"lab.c", "lab.sub"},
    }
    assert find_cycle(graph) == ["lab.a", "lab.b", "lab.c", "lab.a"]
    assert find_cycle({**graph, "lab.c": set()}) == ["lab.sub", "lab.sub.d", "lab.sub"]
    assert find_cycle({**graph, "lab.c": set(), "lab.sub.d": {"lab.c"}}) is None


def test_no_build_folder_in_the_lab_package():
    assert not [str(p.relative_to(REPO)) for p in PACKAGE.rglob("build") if p.is_dir()]
