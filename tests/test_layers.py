"""Dependencies point down: the application's import graph, read with ``ast``.

Every import counts, at module level or inside a function (a function-local import that
dodges a cycle hides the cycle, it does not remove it), except inside ``AppConfig.ready()``
and in migrations. Three properties:

- the graph has no cycle;
- a module imports only modules of its own layer or of a layer below (``LAYERS``);
- no function-local import of the project is left without a comment saying why.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("collection", "activity", "config")

# Top to bottom. A module belongs to the first layer with a matching prefix (a prefix
# matches the module itself and everything under it).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "interfaces",
        (
            "config",
            "collection.admin",
            "collection.management",
            "activity.views",
            "activity.consumers",
            "activity.routing",
            "activity.urls",
            "activity.forms",
            "activity.templatetags",
            "collection.apps",
            "activity.apps",
        ),
    ),
    # Services, except the ones the engine and the store call (below).
    (
        "services",
        (
            "collection.services.control",
            "collection.services.foreground",
            "collection.services.dispatch",
            "collection.services.schedules",
            "collection.services.exports",
            "collection.services.sellers",
            "collection.services.presets",
        ),
    ),
    # A django.tasks Task is the worker's entry point and the address dispatch enqueues:
    # below dispatch, above the worker service it calls (one call, no logic).
    ("tasks", ("collection.tasks",)),
    ("worker", ("collection.services.worker", "collection.services.spread")),
    ("engine", ("collection.engine", "collection.quotas")),
    ("pipeline, store", ("collection.pipeline", "collection.store")),
    # The run state machine the engine and the store make their status changes with.
    (
        "lifecycle",
        (
            "collection.services.lifecycle",
            "collection.services.execution",
        ),
    ),
    ("events", ("activity.events",)),
    ("reads", ("activity.selectors", "collection.selectors", "collection.services.estimates")),
    ("publisher", ("activity.publish",)),
    (
        "leaves",
        (
            "activity.payloads",
            "activity.models",
            "activity.access",
            "activity.links",
            "activity.checks",
            "collection.matching",
            "collection.marketplaces",
            "collection.models",
            "collection.normalize",
            "collection.quota_windows",
            "activity",
            "collection",  # the packages' own __init__ (empty)
        ),
    ),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            found[_module_name(path)] = path
    return found


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module an import names (the longest existing prefix), or None."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


class _Imports(ast.NodeVisitor):
    """(target module, line, local?) for every project import, outside ``ready()``."""

    def __init__(self, module: str, path: Path, modules: dict[str, Path]) -> None:
        self.module, self.path, self.modules = module, path, modules
        self.found: list[tuple[str, int, bool]] = []
        self._depth = 0

    def _function(self, node) -> None:
        if node.name == "ready" and self.path.name == "apps.py":
            return  # AppConfig.ready(): where wiring at start-up belongs
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def _add(self, name: str, line: int) -> None:
        target = _resolve(name, self.modules)
        if target is not None and target != self.module:
            self.found.append((target, line, self._depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _absolute(self.module, self.path, node)
        for alias in node.names:
            # ``from collection import selectors`` imports the module collection.selectors.
            full = f"{base}.{alias.name}"
            self._add(full if full in self.modules else base, node.lineno)


@cache
def _graph() -> dict[str, list[tuple[str, int, bool]]]:
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        visitor = _Imports(module, path, modules)
        visitor.visit(ast.parse(path.read_text(), filename=str(path)))
        graph[module] = visitor.found
    return graph


def _layer(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def test_every_module_has_a_layer():
    for module in _modules():
        _layer(module)


def test_the_import_graph_has_no_cycle():
    graph = {m: sorted({t for t, _, _ in edges}) for m, edges in _graph().items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph.get(module, ()):
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_lower_layers_never_import_higher_ones():
    upward = [
        f"{module} ({LAYERS[_layer(module)][0]}) imports {target} "
        f"({LAYERS[_layer(target)][0]}), line {line}"
        for module, edges in sorted(_graph().items())
        for target, line, _ in edges
        if _layer(target) < _layer(module)
    ]
    assert not upward, "\n".join(upward)


def test_function_local_imports_say_why():
    """A function-local import of the project needs a comment on its line or above its
    group of imports; only AppConfig.ready() (skipped by the reader) needs none."""
    unexplained = []
    for module, edges in sorted(_graph().items()):
        lines = _modules()[module].read_text().splitlines()
        for _, line, local in edges:
            if not local:
                continue
            index = line - 1
            if "#" in lines[index]:
                continue
            while index > 0 and lines[index - 1].strip().startswith(("from ", "import ")):
                index -= 1  # the group of imports this one belongs to
            if index == 0 or not lines[index - 1].strip().startswith("#"):
                unexplained.append(f"{module}, line {line}: {lines[line - 1].strip()}")
    assert not unexplained, "\n".join(unexplained)


def test_the_reader_sees_local_and_relative_imports():
    """The test above cannot pass by not seeing imports."""
    graph = _graph()
    assert any(  # a function-local relative import
        local and t.startswith("collection.marketplaces.sandbox")
        for t, _, local in graph["collection.marketplaces.factory"]
    )
    assert any(t == "collection.selectors" for t, _, _ in graph["collection.admin"])
    assert any(t == "collection.store.clean" for t, _, _ in graph["collection.store.results"])
