"""The package's imports flow one way: no module imports, even inside a function, one that imports it back.

The graph is read from the source with ``ast`` (never by importing), so an import hidden in a
function body or under ``TYPE_CHECKING`` counts as much as one at the top of the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "derive"


def module_names(root: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, not ``__init__``)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name a ``from ... import`` names before its ``import``."""
    if not node.level:
        return node.module or ""
    base = module.split(".")
    # A package's ``.`` is itself; a plain module's ``.`` is its package.
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            source = resolve(module, is_package, node)
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {name for name in found if name in known and name != module}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imports(name, path, set(modules)) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of modules (first repeated last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_package_has_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


#: The renderers and the views built on them; only the front ends above them may import them.
RENDERERS = ("derive.render", "derive.serialize", "derive.display")
FRONT_ENDS = {"derive", "derive.__main__", "derive.display", "derive.build", "derive.cli", "derive.verify"}


def reached(graph: dict[str, set[str]], start: str) -> set[str]:
    """Every module ``start`` imports, directly or through others."""
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph[name])
    return seen


def test_data_modules_never_reach_a_renderer():
    """Spec -> expressions -> derivation data -> renderers: below the renderers, nothing imports
    one, even through another module (the derivation is data; ``derive.display`` shows it)."""
    graph = import_graph()
    below = [m for m in graph if m not in FRONT_ENDS and not m.startswith(RENDERERS)]
    # Only a module's own imports are named, so a message points at the line to change.
    wrong = {m: sorted(r for r in graph[m] if r.startswith(RENDERERS) or r == "derive") for m in below}
    assert {m: r for m, r in wrong.items() if r} == {}
    # And through others: a data module reaches no renderer at all.
    assert not [m for m in below if any(r.startswith(RENDERERS) for r in reached(graph, m))]


def test_the_graph_sees_imports_inside_functions_and_relative_ones(tmp_path):
    """The checker itself can fail: a cycle made only by a function-level relative import is found."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .sub import b\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "b.py").write_text("def f():\n    from ..a import g\n")
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.sub.b"} and graph["pkg.sub.b"] == {"pkg.a"}
    assert find_cycle(graph) == ["pkg.a", "pkg.sub.b", "pkg.a"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from . import b\n", {"pkg.b"}),
        ("import pkg.b\n", {"pkg.b"}),
        ("from .b import x\n", {"pkg.b"}),
        ("from pkg import b\n", {"pkg.b"}),
    ],
)
def test_each_form_of_import_is_an_edge(tmp_path, source, expected):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(source)
    (package / "b.py").write_text("x = 1\n")
    assert import_graph(package)["pkg.a"] == expected
