"""The package's layers: imports point inward only, and no modules import each
other in a circle. Imports inside functions count: a lazy import is still a
dependency.

The imports this does not yet hold for are listed below, each to be removed;
the test fails on any new one, and on a listed one that is gone (so the list
only shrinks)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ringi"

#: inner layers first: a module may import its own layer and those before it
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"domain"}),
    frozenset({"workflows"}),
    frozenset(
        {
            "",  # ringi/__init__.py and the package's own modules named below
            "activities",
            "audit",
            "config",
            "database",
            "delivery",
            "health",
            "logging",
            "projection",
            "recent",
            "register",
            "sealing",
            "starting",
            "store",
            "temporal",
        }
    ),
    frozenset({"service"}),
    frozenset({"worker"}),
    frozenset({"cli", "api", "web"}),  # the entry points for people, side by side
)

#: the one way up allowed: a workflow names the activities it runs by reference
#: (``execute_activity_method``), which the worker registers
BY_REFERENCE = ("workflows", "activities")

#: upward imports still to be removed: (importer, imported)
KNOWN_UPWARD = {
    # the delivery payloads are defined in the store; they belong in workflows.messages
    ("ringi.workflows.notify", "ringi.store"),
    ("ringi.workflows.notify", "ringi.config"),
    ("ringi.worker", "ringi.cli.exit"),
    ("ringi.audit.reconcile", "ringi.service"),
}

#: import circles still to be broken, each as the set of its modules
KNOWN_CIRCLES = {
    frozenset(
        {
            "ringi.database",
            "ringi.projection.catchup",
            "ringi.projection.checkpoints",
            "ringi.projection.outbox",
            "ringi.register.fold",
            "ringi.register.replay",
            "ringi.store",
        }
    ),
    frozenset({"ringi.cli.desk", "ringi.cli.remote"}),
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                full = f"{module}.{alias.name}"
                yield full if full in MODULES else module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)


GRAPH = {
    name: {m for m in _imports(name, path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def _top(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _layer(module: str) -> int:
    top = _top(module)
    for rank, layer in enumerate(LAYERS):
        if top in layer:
            return rank
    raise AssertionError(f"{module} is in no layer: add ringi.{top} to LAYERS")


def _circles() -> set[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer() -> None:
    for module in MODULES:
        _layer(module)


def test_no_module_imports_a_layer_above_its_own() -> None:
    upward = {
        (module, imported)
        for module, imports in GRAPH.items()
        for imported in imports
        if _layer(imported) > _layer(module) and (_top(module), _top(imported)) != BY_REFERENCE
    }
    assert upward - KNOWN_UPWARD == set(), "new upward imports"
    assert KNOWN_UPWARD - upward == set(), "gone: take them off KNOWN_UPWARD"


def test_no_new_import_circles() -> None:
    circles = _circles()
    assert circles - KNOWN_CIRCLES == set(), "new import circles"
    assert KNOWN_CIRCLES - circles == set(), "broken: take them off KNOWN_CIRCLES"


def test_the_domain_imports_nothing_outside_it() -> None:
    outside = {
        (module, imported)
        for module, imports in GRAPH.items()
        if module.startswith("ringi.domain")
        for imported in imports
        if not imported.startswith("ringi.domain")
    }
    assert outside == set()
