"""The layout ARCHITECTURE.md describes, held against the code: imports point one way
(demo -> webhooks -> analytics -> plays -> sms -> crm -> core) and no module imports itself back through
others. Imports inside functions count too: a deferred import is still a dependency."""

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("core", "crm", "sms", "plays", "analytics", "webhooks", "demo")  # each may import those before it


def _modules() -> dict[str, Path]:
    found = {}
    for app in (*LAYERS, "config"):
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports() -> dict[str, set[str]]:
    modules = _modules()
    graph = defaultdict(set)
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
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

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def test_imports_point_down_the_layers_only():
    rank = {app: position for position, app in enumerate(LAYERS)}
    upward = sorted(
        (module, target)
        for module, targets in _imports().items()
        for target in targets
        if module.split(".")[0] in rank
        and target.split(".")[0] in rank
        and rank[target.split(".")[0]] > rank[module.split(".")[0]]
    )
    assert not upward, f"imports against the layers ({' -> '.join(reversed(LAYERS))}): {upward}"


def test_no_module_imports_itself_back():
    assert not _cycles(_imports())


def test_the_checks_see_a_loop_and_an_upward_import():
    # The checks above must be able to fail.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    graph = _imports()
    assert "core.bulk" in graph["plays.engine"] and "sms.inbox.services" in graph["sms.inbound"]
