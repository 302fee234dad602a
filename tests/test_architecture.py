"""Architecture contracts that keep the package's layers honest, checked on the source (AST)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SQL_METHODS = {"execute", "executemany", "sql"}
SQL_HOME = ROOT / "spreadlab" / "store"


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
