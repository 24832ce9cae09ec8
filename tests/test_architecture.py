"""The import graph of our code: no module imports one that imports it back.

Every import counts, at the top of a module or inside a function, but two kinds: those under
``if TYPE_CHECKING:`` (never run), and a task module imported inside a function, which is how
a service queues a task whose module imports the service (HackSoft's styleguide does the
same; it runs after both modules are loaded). The layering between the apps is checked by
import-linter (``lint-imports``, contracts in pyproject.toml), which scripts/test.sh runs.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

PACKAGES = ("chatapi", "applications", "chats", "messages_app", "search", "pipeline")


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


def _is_task_module(node: ast.Import | ast.ImportFrom) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").endswith(".tasks")
    return all(alias.name.endswith(".tasks") for alias in node.names)


def import_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node, at_load in _imports(ast.parse(path.read_text())):
            if not at_load and _is_task_module(node):
                continue
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


def test_the_graph_sees_the_pipelines_imports():
    graph = import_graph()
    assert {"pipeline.numbering", "pipeline.persist", "pipeline.dead_letters"} <= graph[
        "pipeline.drain"
    ]
    # Inside drain_queue, to queue the drain task: the one kind of import left out.
    assert "pipeline.tasks" not in graph["pipeline.drain"]
    # Inside edits.message_update, to queue the edit task: left out as well.
    assert "pipeline.tasks" not in graph["pipeline.edits"]
    assert "pipeline.edits" in graph["pipeline.tasks"]


def test_a_cycle_is_found_and_only_a_task_import_in_a_function_is_left_out():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = (
        "import os\n"
        "if TYPE_CHECKING:\n    import never\n"
        "def f():\n    import later\n    from app.tasks import task\n"
        "try:\n    import z\nexcept ImportError:\n    pass\n"
    )
    found = {
        (alias.name, at_load, _is_task_module(node))
        for node, at_load in _imports(ast.parse(source))
        for alias in node.names
    }
    assert found == {
        ("os", True, False),
        ("later", False, False),
        ("task", False, True),
        ("z", True, False),
    }
