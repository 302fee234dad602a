"""The glossary: every symbol has words, docs/glossary.md matches it, p-values never read 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from spreadlab import glossary
from spreadlab.analysis.models import MODELS

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
