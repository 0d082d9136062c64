"""The shape of ``build_support``: its imports, read with ``ast``, form no circle; the
plumbing below the stages imports no stage; no module of a stage folder is over ~550 lines.

Every import counts, also one inside a function or under ``TYPE_CHECKING``: a lazy import
hides a circle from the interpreter, not from a reader. The one exception is a package's
``__init__`` importing its own submodules (the lazy ``main`` of ``publish/__init__.py``):
a package holds its children, which import it implicitly anyway.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from tests.helpers import ROOT

PACKAGE = ROOT / "build_support"

#: The stage folders whose modules stay short enough to read in one sitting.
BUILD_FOLDERS = ("locks", "wheels", "jars", "images", "containers")
MAX_LINES = 550

#: The folders a stage lives in; the flat modules below them (plumbing, shared readers
#: and records) import none of them. The boundary (cli, pipeline) names stages by string.
#: ``store/`` is not one: the artifact store is a service every stage uses.
STAGE_FOLDERS = (*BUILD_FOLDERS, "releasetests", "publish", "ciplan")
BOUNDARY = {"build_support.cli", "build_support.pipeline", "build_support.__main__"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``path`` (module ``name``) imports anywhere."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if sub in known else module)
    return {m for m in found if m in known and m != name}


def import_graph(root: Path, package: str = "build_support") -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports (a package's own children left out)."""
    paths = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    known = set(paths)
    return {
        name: {m for m in imports_of(path, name, known) if not m.startswith(name + ".")}
        for name, path in paths.items()
    }


def circles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Every strongly connected component of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_checker_finds_a_circle_through_a_lazy_import(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("def main():\n    from pkg.sub import run\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "run.py").write_text("from pkg import low\n")
    (pkg / "low.py").write_text("def f():\n    from .sub import run\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg"] == set()  # a package's lazy import of its own child is no edge
    assert circles(graph) == [["pkg.low", "pkg.sub.run"]]


def test_build_support_imports_form_no_circle() -> None:
    assert circles(import_graph(ROOT)) == []


def test_the_plumbing_below_the_stages_imports_no_stage() -> None:
    graph = import_graph(ROOT)
    flat = {m for m in graph if m.count(".") == 1} - BOUNDARY
    upward = sorted(
        f"{m} imports {t}" for m in flat for t in graph[m] if t.split(".")[1] in STAGE_FOLDERS
    )
    assert upward == []


def test_containers_import_no_stage_and_stage_folders_start_light() -> None:
    """``containers/`` sits below the stages that use it; a stage folder's ``__init__`` is a
    docstring and a lazy ``main`` (it imports the config, nothing else)."""
    graph = import_graph(ROOT)
    up = sorted(
        f"{m} imports {t}"
        for m in graph
        if m.startswith("build_support.containers")
        for t in graph[m]
        if t.split(".")[1] in set(STAGE_FOLDERS) - {"containers"}
    )
    assert up == []
    for folder in BUILD_FOLDERS:
        assert graph[f"build_support.{folder}"] <= {"build_support.config"}, folder


def test_the_wheel_build_driver_imports_the_standard_library_only() -> None:
    """wheels/driver.py is mounted into build images that have no harness installed."""
    path = PACKAGE / "wheels" / "driver.py"
    tops: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            tops.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            tops.add(node.module.split(".")[0])
    assert tops - {"__future__"} <= set(sys.stdlib_module_names)


def test_no_module_of_a_build_stage_folder_is_over_550_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in BUILD_FOLDERS
        for p in sorted((PACKAGE / folder).rglob("*.py"))
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
