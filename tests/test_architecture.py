"""The import graph of our code: no module imports one that imports it back.

Every import counts, at the top of a module or inside a function, but those under
``if TYPE_CHECKING:`` (never run). The same holds between top-level packages. The layering
(chatapi -> search -> messages_app -> chats -> applications -> pipeline -> core) is checked by
import-linter (``lint-imports``, contracts in pyproject.toml), which scripts/test.sh runs.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

PACKAGES = ("chatapi", "core", "applications", "chats", "messages_app", "search", "pipeline")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (Path(settings.BASE_DIR) / package).rglob("*.py"):
            parts = path.relative_to(settings.BASE_DIR).with_suffix("").parts
            if "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(tree: ast.Module) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement that can run, and whether it runs when the module is loaded."""
    pending: list[tuple[ast.AST, bool]] = [(node, True) for node in tree.body]
    while pending:
        node, at_load = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_load
        elif isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        else:
            inner = at_load and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            pending += [(child, inner) for child in ast.iter_child_nodes(node)]


def _resolve(target: str, modules: dict[str, Path]) -> str | None:
    """The module of ours an imported name lives in (the longest prefix that is a module)."""
    while target and target not in modules:
        target = target.rpartition(".")[0]
    return target or None


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node, _at_load in _imports(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names}
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets |= {f"{base}.{alias.name}" for alias in node.names} | {base}
        graph[name] = {m for t in targets if (m := _resolve(t, modules)) and m != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(import_graph()) == []


def test_no_package_imports_one_that_imports_it_back():
    """Test modules left out: a test may reach any layer (as import-linter allows)."""
    graph = {m: t for m, t in import_graph().items() if ".tests" not in m}
    packages: dict[str, set[str]] = {module.split(".")[0]: set() for module in graph}
    for module, targets in graph.items():
        package = module.split(".")[0]
        packages[package] |= {target.split(".")[0] for target in targets} - {package}
    assert cycles(packages) == []


def test_the_graph_sees_imports_inside_functions():
    graph = import_graph()
    assert {"pipeline.journal", "pipeline.registry", "pipeline.dead_letters"} <= graph[
        "pipeline.drain"
    ]
    # Inside the drain task's body: counted like any other import.
    assert "pipeline.drain" in graph["pipeline.tasks"]
    assert "pipeline.tasks" not in graph["pipeline.drain"]
    # The apps register with the engine from AppConfig.ready(), inside a function.
    assert "pipeline.registry" in graph["messages_app.apps"]


def test_a_cycle_is_found_and_only_type_checking_imports_are_left_out():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = (
        "import os\n"
        "if TYPE_CHECKING:\n    import never\n"
        "def f():\n    import later\n    from app.tasks import task\n"
        "try:\n    import z\nexcept ImportError:\n    pass\n"
    )
    found = {
        (alias.name, at_load)
        for node, at_load in _imports(ast.parse(source))
        for alias in node.names
    }
    assert found == {("os", True), ("later", False), ("task", False), ("z", True)}
