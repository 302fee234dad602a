"""The glossary: every symbol has words, docs/glossary.md matches it, p-values never read 0,
and dashboard messages name form fields, not command-line options."""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadlab import glossary
from spreadlab.analysis.models import MODELS
from spreadlab.dashboard import labels

DOC = Path(__file__).resolve().parent.parent / "docs" / "glossary.md"


def test_every_symbol_and_model_parameter_has_words():
    wanted = {"a", "o", "b", "m", "q", "qa", "alpha", "beta", "tau", "f", "beta1", "beta2", "v"}
    wanted |= {"n0", "N", "k"} | {p.name for m in MODELS.values() for p in m.params}
    for name in wanted:
        t = glossary.term(name)
        assert t.words and t.unit and t.meaning
    assert glossary.label("alpha") == "offline rate α"
    assert glossary.label("qa") == "offline posting rate q·a"


def test_docs_glossary_is_written_from_the_module():
    assert glossary.markdown_table() in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("p", "text"),
    [(0.0, "p < 1e-16"), (3e-20, "p < 1e-16"), (0.0312, "p = 0.0312"), (1.0, "p = 1")],
)
def test_p_values(p, text):
    assert glossary.p_text(p) == text


@pytest.mark.parametrize(
    ("message", "shown"),
    [
        (
            "no API key: set OPENAI_API_KEY (or pass --api-key), or point OPENAI_BASE_URL / "
            "--base-url at a local server",
            "no API key: set OPENAI_API_KEY (or use the API key field), or point OPENAI_BASE_URL "
            "/ the endpoint base URL field at a local server",
        ),
        (
            "budget spent; raise --max-calls and resume",
            "budget spent; use the budget field and resume",
        ),
        (
            "run x stopped and can be continued: spreadlab resume x --db /tmp/a.duckdb",
            "run x stopped and can be continued with the Resume button under Stored runs",
        ),
        (
            "pick one with --response-format (auto",
            "pick one with the response format setting (auto",
        ),
    ],
)
def test_dashboard_messages_name_fields_not_flags(message, shown):
    assert labels.for_dashboard(message) == shown
    assert "--" not in labels.for_dashboard(message)
