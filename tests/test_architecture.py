"""The package's layers, read from its own imports: no cycles, no import that runs upward, the CLI on the API.

The graph is every `import` and `from ... import` in journey_sql/, at module
level, inside functions and under TYPE_CHECKING alike (a lazy import is still a
dependency). LAYERS is the one statement of the layering; docs/architecture.md
shows the same table (checked below) with the rule each layer keeps. Written as
a small test rather than a dependency (import-linter): it is sixty lines, reads
the same graph, and also checks what import-linter does not (private names,
the size of modules, what package __init__ files hold).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "journey_sql"

# Top to bottom. A module may import its own package and any layer below its own; packages sharing a
# layer are independent of each other. "journey_sql" itself holds only the version.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli",),
    ("api",),
    ("demo",),
    ("answers", "run", "dbt"),
    ("engines",),
    ("compile",),
    ("settings",),
    ("dialects",),
    ("core",),
    ("",),
)
MAX_LINES = 350
PLAIN_DATA: set[str] = set()  # modules that are a table of data may be longer: none is yet


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the journey_sql modules it imports (a name imported from a package resolves to its submodule)."""
    mods = modules()

    def resolve(name: str) -> str:
        while name not in mods:
            name = name.rsplit(".", 1)[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for module, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            graph[module] |= {resolve(t) for t in targets if t.split(".")[0] == "journey_sql"} - {module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> int:
    package = package_of(module)
    return next(i for i, layer in enumerate(LAYERS) if package in layer)


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that run upward, or sideways between two packages of one layer."""
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if package_of(module) == package_of(target) and package_of(module):
                continue
            if layer_of(target) <= layer_of(module):
                wrong.append(f"{module} imports {target}")
    return wrong


def test_every_module_has_a_layer() -> None:
    for module in modules():
        assert any(package_of(module) in layer for layer in LAYERS), f"{module}: add its package to LAYERS"


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_import_runs_upward_or_between_siblings() -> None:
    assert wrong_imports(import_graph()) == []


def test_the_checks_catch_what_they_exist_for() -> None:
    """Put back what the layering removed, on the real graph: each check reports it."""
    graph = import_graph()
    assert "journey_sql.compile.templates" in graph["journey_sql.compile.plan"]  # (the premise)
    # render reaching up into the plan again (the old render.render_script): a cycle, and sideways in compile
    graph["journey_sql.compile.templates"].add("journey_sql.compile.plan")
    assert ["journey_sql.compile.plan", "journey_sql.compile.templates"] in cycles(graph)
    # the engines' base importing the executor (an upward import, no cycle yet)
    graph = import_graph()
    graph["journey_sql.engines.base"].add("journey_sql.run.pipeline")
    assert wrong_imports(graph) == ["journey_sql.engines.base imports journey_sql.run.pipeline"]
    # cli <-> cli_answers, as it was
    graph = import_graph()
    graph["journey_sql.cli.answers"].add("journey_sql.cli.app")
    assert ["journey_sql.cli.answers", "journey_sql.cli.app"] in cycles(graph)
    # the answers reaching into the run (a sibling of theirs)
    graph = import_graph()
    graph["journey_sql.answers.queries"].add("journey_sql.run.steps")
    assert wrong_imports(graph) == ["journey_sql.answers.queries imports journey_sql.run.steps"]


def test_the_command_line_uses_only_the_public_api() -> None:
    for module, targets in import_graph().items():
        if package_of(module) == "cli":
            others = {t for t in targets if package_of(t) != "cli"}
            assert others <= {"journey_sql.api", "journey_sql"}, f"{module} imports {sorted(others)}"


def test_the_api_names_what_it_exports() -> None:
    import journey_sql.api as api

    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert not missing
    own = [getattr(api, name) for name in api.__all__ if getattr(getattr(api, name), "__module__", "") == api.__name__]
    assert own and api.__doc__ and all(f.__doc__ for f in own), [f for f in own if not f.__doc__]


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for module, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("journey_sql"):
                found += [f"{module}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_")]
    assert [f for f in found if not f.endswith(".__version__")] == []


def test_modules_are_short_enough_to_read_in_one_sitting() -> None:
    long = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert set(long) <= PLAIN_DATA, long


def test_package_init_files_hold_a_docstring_saying_what_lives_there() -> None:
    for path in PACKAGE.rglob("__init__.py"):
        tree = ast.parse(path.read_text())
        doc = ast.get_docstring(tree)
        assert doc and "import" in doc.lower(), f"{path}: say what lives here and what it may import"
        code = [n for n in tree.body[1:] if not isinstance(n, ast.Assign)]
        assert code == [], f"{path}: a package __init__ holds its docstring only (and the version)"


def test_the_architecture_page_shows_the_same_layers() -> None:
    """docs/architecture.md's table of layers (`| 1 | cli, __main__ | ...`) is LAYERS, in order."""
    text = (ROOT / "docs" / "architecture.md").read_text()
    rows = re.findall(r"^\| *\d+ *\| *([^|]+?) *\|", text, re.MULTILINE)
    shown = [tuple(name.strip(" `").removeprefix("journey_sql").lstrip(".") for name in row.split(",")) for row in rows]
    assert shown == list(LAYERS)
