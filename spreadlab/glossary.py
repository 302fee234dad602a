"""Words for every symbol SpreadLab shows, shared by the dashboard, the command line and the docs.

A parameter is shown by meaning first and symbol second ("offline rate α"); its longer
explanation goes next to it or into a tooltip. ``docs/glossary.md`` is written from
:func:`markdown_table` (a test keeps the two in step).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """One symbol: how it is written, its name in words, its unit and what it means."""

    symbol: str
    words: str
    unit: str
    meaning: str

    @property
    def label(self) -> str:
        """Meaning first, symbol second: "offline rate α"."""
        return f"{self.words} {self.symbol}"


TERMS: dict[str, Term] = {
    "a": Term(
        "a",
        "offline posting probability",
        "probability per round",
        "chance that an agent who read the report offline posts about it in that round; it "
        "depends on the agent's personality and the event type",
    ),
    "o": Term(
        "o",
        "offline exposure",
        "0 or 1",
        "1 if the report reached the agent offline in this round, else 0",
    ),
    "b": Term(
        "b",
        "online posting probability",
        "probability per round per posting neighbour",
        "chance that one posting neighbour's post makes the agent post in that round",
    ),
    "m": Term(
        "m",
        "posting neighbours",
        "count",
        "number of the agent's neighbours who have posted (their posts are in its feed)",
    ),
    "q": Term(
        "q",
        "offline reach",
        "probability per round",
        "chance per round that the report reaches an agent who has not posted yet, outside the "
        "network; 0 means the news travels through the network only",
    ),
    "qa": Term(
        "q·a",
        "offline posting rate",
        "probability per round",
        "chance per round that an agent who has not posted is reached offline and posts on it "
        "(offline reach q times offline posting probability a)",
    ),
    "alpha": Term(
        "α",
        "offline rate",
        "per round",
        "rate at which news reaches agents from outside the network, whatever their neighbours "
        "do (an effective continuous rate)",
    ),
    "beta": Term(
        "β",
        "online rate",
        "per round per informed neighbour",
        "rate at which one informed neighbour passes the news on (an effective continuous rate)",
    ),
    "tau": Term(
        "τ",
        "edge rate",
        "per round per informed-uninformed link",
        "rate at which the news crosses one link from an informed to an uninformed agent",
    ),
    "f": Term("f", "share of fast sharers", "fraction 0–1", "fraction of agents in the fast class"),
    "beta1": Term(
        "β₁",
        "fast sharers' rate",
        "per round per informed neighbour",
        "online rate of the fast class",
    ),
    "beta2": Term(
        "β₂",
        "slow sharers' rate",
        "per round per informed neighbour",
        "online rate of the slow class",
    ),
    "v": Term(
        "v",
        "spread of susceptibility",
        "no unit",
        "how much agents differ in how easily they share (variance over squared mean of a gamma "
        "distribution; 0 means all alike)",
    ),
    "n0": Term(
        "n₀",
        "seed agents",
        "agents",
        "agents who read the report offline in round 0 and decide whether to post",
    ),
    "N": Term("N", "agents", "agents", "number of agents in the network"),
    "k": Term(
        "k",
        "degree",
        "neighbours per agent",
        "number of neighbours of each agent (the mean, for networks where it varies)",
    ),
    "i": Term("i", "informed fraction", "fraction 0–1", "share of all agents who have posted"),
}
"""Every symbol, by the name the engine uses for it."""


def term(name: str) -> Term:
    """The term for ``name`` (an engine name such as ``"alpha"`` or ``"qa"``)."""
    return TERMS[name]


def label(name: str) -> str:
    """Meaning first, symbol second ("offline rate α"); unknown names as they are."""
    return TERMS[name].label if name in TERMS else name


def explain(*names: str) -> str:
    """The named symbols in words, for a tooltip: "a: offline posting probability, chance ..."."""
    return "; ".join(explain_lines(*names))


def explain_lines(*names: str) -> list[str]:
    """One line per named symbol: its symbol, words and meaning."""
    return [f"{TERMS[n].symbol}: {TERMS[n].words}, {TERMS[n].meaning}" for n in names]


P_FLOOR = 1e-16


def p_text(p: float) -> str:
    """A p-value as people read it: "p = 0.0312", and "p < 1e-16" below what double precision
    resolves (never "p = 0")."""
    if math.isnan(p):
        return "p not available"
    return "p < 1e-16" if p < P_FLOOR else f"p = {p:.3g}"


SURROGATE_OF = "stochastic surrogate of "


def surrogate_name(parameters: str) -> str:
    """The words "stochastic surrogate of <model>" from a run's parameter-table provenance, or ""
    when the table is not a stored calibration's (see :mod:`spreadlab.engine.surrogate`)."""
    if not parameters.startswith(SURROGATE_OF):
        return ""
    return parameters.partition(" (calibration ")[0]


def data_source(backend: str, synthetic: bool, parameters: str = "") -> str:
    """Where a row's numbers come from, in the words every CSV uses; ``parameters`` (the runs'
    parameter-table provenance) names a calibrated model's surrogate."""
    surrogate = surrogate_name(parameters)
    if synthetic and surrogate:
        return f"synthetic ({surrogate}, not LLM agents)"
    return f"synthetic ({backend} model, not LLM agents)" if synthetic else f"{backend} agents"


PROVENANCE_MEANINGS: dict[str, str] = {
    "llm": "LLM agents made the decisions",
    "illustrative": "the stochastic agent model with the hand-set illustrative table",
    "user table": "the stochastic agent model with any other parameter table (edited, hand-made "
    "or of unknown origin)",
    "surrogate": "the stochastic agent model with a table whose numbers match a calibration "
    "stored in the database (a stochastic surrogate of that model)",
    "observed": "real data a user supplied (the bundled example is marked synthetic in its "
    "data_source)",
}
"""What each provenance code means."""

PROVENANCES = tuple(PROVENANCE_MEANINGS)
"""Where a row's numbers come from: one code each in every run, fit, CSV (the ``provenance``
column, beside the ``data_source`` words) and banner."""


def provenance(backend: str, parameters: str = "") -> str:
    """The :data:`PROVENANCES` code of a row made by ``backend`` with parameter table
    ``parameters`` (the runs' parameter-table provenance, or a table's source label).

    Anything not recognised is a ``user table``: the code never claims LLM agents or a
    calibrated surrogate without the backend or the stored label saying so.

    Examples
    --------
    >>> provenance("llm")
    'llm'
    >>> provenance("stochastic", "illustrative: hand-set values for demonstration")
    'illustrative'
    >>> provenance("stochastic", "stochastic surrogate of gpt-4o-mini (calibration c1: ...)")
    'surrogate'
    >>> provenance("stochastic", "user table my.csv")
    'user table'
    """
    if backend in ("llm", "observed"):
        return backend
    text = parameters.strip()
    if text.startswith("illustrative"):
        return "illustrative"
    if surrogate_name(text) or text == "surrogate":
        return "surrogate"
    return "user table"


def markdown_table() -> str:
    """The glossary as a Markdown table (the body of docs/glossary.md)."""
    rows = [f"| {t.symbol} | {t.words} | {t.unit} | {t.meaning} |" for t in TERMS.values()]
    kinds = [f"| `{code}` | {meaning} |" for code, meaning in PROVENANCE_MEANINGS.items()]
    return "\n".join(
        [
            "| symbol | in words | unit | meaning |",
            "|---|---|---|---|",
            *rows,
            "",
            "Provenance: the `provenance` column of every CSV and the kind every banner names.",
            "",
            "| provenance | where the numbers come from |",
            "|---|---|",
            *kinds,
        ]
    )
