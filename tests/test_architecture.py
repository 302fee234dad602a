"""Architecture contracts that keep the package's layers honest, checked on the source (AST):
SQL only in the store; imports only downwards between the layers, counting every import (at the
top of a module or inside a function, and deferred ones: ``lazy_import("...")`` and
``importlib.import_module("...")``); no module over 500 lines and no function over 60."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SQL_METHODS = {"execute", "executemany", "sql"}
SQL_HOME = ROOT / "spreadlab" / "store"
PACKAGE = ROOT / "spreadlab"
LAYERS = ("world", "engine", "analysis", "store", "llm", "jobs", "dashboard", "cli")
FOUNDATION = tuple(
    f"spreadlab.{name}" for name in ("errors", "lazy", "validate", "memory", "glossary", "settings")
)
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 60
DEFERRED_IMPORTERS = {"lazy_import", "import_module", "__import__"}


def sql_calls(source: str) -> list[int]:
    """Lines of Python ``source`` that call ``.execute``, ``.executemany`` or ``.sql`` on
    anything (a DuckDB connection, a cursor, the duckdb module)."""
    tree = ast.parse(source)
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SQL_METHODS
    ]


def test_the_sql_finder_sees_every_spelling():
    source = "con.execute('x')\nstore.con.sql('x')\nduckdb.sql('x')\ncur.executemany('x', [])\n"
    assert sql_calls(source + "text = 'con.execute(x)'\n") == [1, 2, 3, 4]


def test_sql_only_in_the_store():
    """SQL on a DuckDB connection is written only in spreadlab/store/ (and nowhere in pages/):
    every other module asks a store function, so the schema has one owner."""
    sources = [*(ROOT / "spreadlab").rglob("*.py"), *(ROOT / "pages").rglob("*.py")]
    found = {
        path.relative_to(ROOT).as_posix(): lines
        for path in sources
        if SQL_HOME not in path.parents and (lines := sql_calls(path.read_text(encoding="utf-8")))
    }
    assert not found, f"SQL outside spreadlab/store/ (move it into a store function): {found}"


@dataclass(frozen=True)
class Import:
    """One import: the file (relative to the checkout), its line and the module imported."""

    path: str
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def _sources() -> list[Path]:
    return sorted([*PACKAGE.rglob("*.py"), *(ROOT / "pages").glob("*.py"), ROOT / "app.py"])


def _module_name(path: Path) -> str:
    """The dotted name of a module under spreadlab/ (its package's name for an ``__init__``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.AST, path: Path) -> list[str]:
    """The modules one node imports (``from a import b`` counts as ``a`` and ``a.b``, since ``b``
    may be a submodule); relative imports are resolved against the file's package."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = _module_name(path).split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
        return [base, *(f"{base}.{alias.name}" for alias in node.names)]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in DEFERRED_IMPORTERS and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def _imports() -> dict[str, list[Import]]:
    """Every import of every source, keyed by the importing file's path relative to the checkout."""
    found: dict[str, list[Import]] = {}
    for path in _sources():
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(), filename=rel)
        found[rel] = [
            Import(rel, node.lineno, module)
            for node in ast.walk(tree)
            for module in _imported(node, path)
            if module
        ]
    return found


IMPORTS = _imports()


def _layer(rel: str) -> str:
    """The layer a file belongs to: a spreadlab/ subfolder, 'foundation' for the top-level
    modules, 'pages' for the dashboard's pages and app.py."""
    parts = rel.split("/")
    if parts[0] != "spreadlab":
        return "pages"
    if rel == "spreadlab/__main__.py":  # ``python -m spreadlab`` is the command line
        return "cli"
    return parts[1] if len(parts) > 2 else "foundation"


def _is(module: str, *prefixes: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _offenders(importers: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return [
        str(imp)
        for rel, imports in IMPORTS.items()
        if _layer(rel) in importers
        for imp in imports
        if _is(imp.module, *forbidden)
    ]


def _layer_modules(*layers: str) -> tuple[str, ...]:
    return tuple(f"spreadlab.{layer}" for layer in layers)


def test_the_import_finder_sees_every_spelling():
    source = (
        "import a.b, c\n"
        "from .records import RoundRecord\n"
        "from .. import errors\n"
        "def f():\n"
        "    from spreadlab.store import runs\n"
        "    return lazy_import('scipy.stats'), importlib.import_module('spreadlab.jobs')\n"
        "text = 'import streamlit'\n"
    )
    path = PACKAGE / "world" / "networks.py"
    found = [m for node in ast.walk(ast.parse(source)) for m in _imported(node, path)]
    assert sorted(found) == sorted(
        [
            *("a.b", "c", "spreadlab.world.records", "spreadlab.world.records.RoundRecord"),
            "spreadlab",
            *("spreadlab.errors", "spreadlab.store", "spreadlab.store.runs"),
            *("scipy.stats", "spreadlab.jobs"),
        ]
    )


def test_the_sources_are_found():
    layers = {_layer(rel) for rel in IMPORTS}
    assert layers >= {*LAYERS, "foundation", "pages"}, layers
    assert any(imp.module == "streamlit" for imp in IMPORTS["app.py"])


def test_only_the_dashboard_and_pages_import_streamlit():
    offenders = _offenders({*LAYERS, "foundation"} - {"dashboard"}, ("streamlit",))
    assert not offenders, "Streamlit outside spreadlab/dashboard/ and pages/:\n" + "\n".join(
        offenders
    )


def test_only_the_cli_imports_click():
    offenders = _offenders({*LAYERS, "foundation", "pages"} - {"cli"}, ("click",))
    assert not offenders, "click outside spreadlab/cli/:\n" + "\n".join(offenders)


# (importing layers, the layers they must not import, why)
CONTRACTS = [
    (
        {"world", "engine", "analysis"},
        ("store", "jobs", "llm", "dashboard", "cli"),
        "the science layers know nothing of storage, orchestration, LLMs or the interfaces",
    ),
    ({"analysis"}, ("engine",), "analysis fits data from any source, not only the engine's"),
    ({"engine"}, ("analysis",), "the engine simulates; fitting is analysis's job"),
    ({"store"}, ("jobs", "llm", "dashboard", "cli"), "the store sits below what uses it"),
    ({"llm"}, ("jobs", "dashboard", "cli"), "the LLM policy is used by jobs and interfaces"),
    ({"jobs"}, ("dashboard", "cli"), "jobs are called by the interfaces, not the reverse"),
    ({"foundation"}, LAYERS, "the foundation modules sit below every layer"),
]


@pytest.mark.parametrize(
    ("importers", "forbidden", "why"), CONTRACTS, ids=[" ".join(sorted(c[0])) for c in CONTRACTS]
)
def test_layers_import_downwards(importers, forbidden, why):
    offenders = _offenders(importers, _layer_modules(*forbidden))
    assert not offenders, f"{why}:\n" + "\n".join(offenders)


def test_world_imports_only_the_foundation_and_itself():
    offenders = [
        str(imp)
        for rel, imports in IMPORTS.items()
        if _layer(rel) == "world"
        for imp in imports
        if imp.module.startswith("spreadlab.")
        and not _is(imp.module, *FOUNDATION, "spreadlab.world")
    ]
    assert not offenders, "world/ is the bottom layer:\n" + "\n".join(offenders)


def _function_lengths(tree: ast.AST) -> list[tuple[int, str, int]]:
    return [
        (node.lineno, node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno
    ]


def test_no_module_over_500_lines():
    offenders = [
        f"{path.relative_to(ROOT)}: {n} lines"
        for path in sorted(PACKAGE.rglob("*.py"))
        if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_no_function_over_60_lines():
    offenders = [
        f"{path.relative_to(ROOT)}:{line} {name}: {n} lines"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, name, n in _function_lengths(ast.parse(path.read_text()))
        if n > MAX_FUNCTION_LINES
    ]
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)
