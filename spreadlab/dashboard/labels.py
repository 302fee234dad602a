"""Text the dashboard shows about runs: Markdown escaping, engine messages in the form's words,
run and scenario labels, and the synthetic-runs banner. No Streamlit, no database."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from spreadlab.errors import SpreadLabError
from spreadlab.glossary import provenance


def _describe(row: Mapping[str, Any]) -> str:
    return (
        f"{row['event_id']} · {row['mix_name']} · N={int(row['n_agents'])} "
        f"k={float(row['mean_degree']):g} · q={float(row['q']):g}"
    )


def _backend(row: Mapping[str, Any]) -> str:
    return str(row["backend"]) + (" · synthetic" if bool(row["synthetic"]) else "")


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


# Streamlit turns bare URLs and e-mail addresses into links after unescaping (GFM autolink
# literals); an invisible word joiner after the scheme, 'www' or '@' stops that.
_AUTOLINK = re.compile(r"(?i)(https?|ftp|mailto|www)(?=\\[:.])|(@)")


WORD_JOINER = "\u2060"


def md_escape(text: str) -> str:
    """``text`` with every Markdown (and Streamlit emoji / LaTeX) character backslash-escaped and
    automatic links broken, so run data shown in a Streamlit message renders as the literal text:
    no link, image or formatting can come from a report, a post or an imported file."""
    return _AUTOLINK.sub(lambda m: m.group(0) + WORD_JOINER, _MARKDOWN.sub(r"\\\1", text))


FIELDS = {
    "api_key": "the API key field",
    "base_url": "the endpoint base URL field",
    "model": "the Model field",
    "max_calls": "the budget field",
    "temperature": "the Temperature slider",
    "new_id": "the 'Another run id' field",
    "events": "the Events field",
    "repeats": "the Repeats field",
    "db": "SPREADLAB_DB, or the database given to 'spreadlab dashboard', when you start it",
}


_COMMAND = re.compile(
    r"(?::\s*)?'?spreadlab resume [^\s']+(?: --db [^\s;']+?)?'?(?=[.;,)]?(?:\s|$))"
)


def for_dashboard(exc: SpreadLabError) -> str:
    """An engine error as the dashboard shows it: 'spreadlab resume' replaced by the page's Resume
    button, then the form field that changes the error's setting, if it names one."""
    message = _COMMAND.sub(" with the Resume button under Stored runs", str(exc))
    if exc.setting is None:
        return message
    field = FIELDS.get(exc.setting, f"the {exc.setting.replace('_', ' ')} setting")
    return f"{message} (use {field})"


def run_label(row: Mapping[str, Any]) -> str:
    """A one-line label for a run: event, mix, network, replicate and backend."""
    return f"{_describe(row)} · rep {int(row['replicate'])} · {_backend(row)} · {row['run_id']}"


def scenario_label(row: Mapping[str, Any]) -> str:
    """A one-line label for a scenario (a group of replicate runs)."""
    return (
        f"{_describe(row)} · {int(row['replicates'])} replicate(s) · {_backend(row)} · "
        f"{row['scenario_id']}"
    )


def scenarios(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per scenario of ``runs`` (as from :meth:`RunStore.list_runs`) with its run ids."""
    columns = [
        "scenario_id",
        "event_id",
        "event_type",
        "mix_name",
        "n_agents",
        "mean_degree",
        "q",
        "backend",
        "synthetic",
    ]
    if runs.empty:
        return pd.DataFrame(columns=[*columns, "replicates", "run_ids"])
    grouped = runs.groupby("scenario_id", sort=False)
    out = grouped[columns[1:]].first().reset_index()
    out["replicates"] = grouped.size().to_numpy()
    out["run_ids"] = grouped["run_id"].agg(list).to_numpy()
    return out


def short_labels(scenario_rows: pd.DataFrame) -> dict[str, str]:
    """Short unique labels "event × mix" for scenario rows (from :func:`scenarios`), with N and
    then the scenario id added only where needed to tell two apart."""
    rows = scenario_rows.to_dict("records")
    labels = {r["scenario_id"]: f"{r['event_id']} × {r['mix_name']}" for r in rows}
    for extra in (lambda r: f" · N={int(r['n_agents'])}", lambda r: f" · {r['scenario_id']}"):
        taken = pd.Series(labels).duplicated(keep=False)
        for r in rows:
            if taken[r["scenario_id"]]:
                labels[r["scenario_id"]] += extra(r)
    return labels


SYNTHETIC_NOTE = (
    "Synthetic runs on screen: {count} of the {total} runs shown were made by {makers}, not by "
    "LLM agents. Read them as a demonstration of the method, not as measurements of how people "
    "or LLMs share news."
)


def provenance_note(runs: pd.DataFrame, provenances: list[dict[str, Any]] | None = None) -> str:
    """The banner text when any run in ``runs`` is synthetic, else an empty string.

    ``provenances`` (parsed provenance JSON of those runs) adds the parameter table's own words,
    led by its provenance code where they do not start with it, e.g. "illustrative: hand-set
    values ... not measured from LLM agents" or "surrogate: stochastic surrogate of ...".
    """
    if runs.empty or not runs["synthetic"].astype(bool).any():
        return ""
    synthetic = runs[runs["synthetic"].astype(bool)]
    makers = " and ".join(
        sorted(
            "the stochastic agent model" if b == "stochastic" else f"the '{b}' backend"
            for b in synthetic["backend"].unique()
        )
    )
    tables = sorted(
        {
            _table_words(str(p["parameter_table"]))
            for p in provenances or []
            if p.get("parameter_table")
        }
    )
    if tables:
        makers += f" (parameters: {'; '.join(tables)})"
    return SYNTHETIC_NOTE.format(count=len(synthetic), total=len(runs), makers=makers)


def _table_words(table: str) -> str:
    """A parameter table's provenance line, led by its provenance code (illustrative, user table,
    surrogate) unless it already starts with it."""
    code = provenance("stochastic", table)
    return table if table.startswith(code) else f"{code}: {table}"
