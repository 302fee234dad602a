"""Driving dashboard pages with Streamlit's AppTest, shared by every test folder that does."""

from __future__ import annotations

import re
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60


def app(page: str, **query: str) -> AppTest:
    """Run ``page`` the way ``streamlit run app.py`` does (so page links resolve)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    if page != "app.py":
        at.switch_page(page)
    return at.run()


def by_label(widgets, label: str):
    """The widget whose label starts with ``label``."""
    matches = [w for w in widgets if w.label.startswith(label)]
    assert matches, f"no widget labelled {label!r} in {[w.label for w in widgets]}"
    return matches[0]


def texts(elements) -> str:
    """The elements' text as shown (Markdown backslash escapes and link-breaking word joiners
    removed)."""
    shown = re.sub(r"\\(.)", r"\1", "\n".join(str(e.value) for e in elements))
    return shown.replace("\u2060", "")
