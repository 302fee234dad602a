"""Persona fidelity: does the model take the 32 personalities on at all?

Each persona answers the 20-item Mini-IPIP (Donnellan, Oswald, Baird & Lucas 2006; items from the
public-domain International Personality Item Pool, ipip.ori.org) on the usual 1–5 accuracy scale,
``repeats`` times, through the same LLM stack as a run (replay cache, budget, retries,
concurrency). Per trait, personas set "high" should score higher than those set "low": the report
gives the difference of mean scale scores (each persona's scale averaged over its repeats: the
16 high personas against the 16 low ones), Cohen's d and Welch's t-test, and calls a trait taken
on when the difference is positive at p < ``alpha`` (0.01: about 0.05 over the five traits).
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import pandas as pd

from spreadlab.lazy import lazy_import
from spreadlab.llm.base import CallTag, ChatReply, ChatRequest
from spreadlab.llm.policy import LLMPolicy, sampling_seed
from spreadlab.store.calibrations import persona_check_rows, save_persona_check
from spreadlab.store.sharing import Connection
from spreadlab.world.personas import N_PROFILES, TRAIT_NAMES, TRAITS, persona_text, trait_levels

stats = lazy_import("scipy.stats")

# (trait, item, keyed +1 / -1): the Mini-IPIP; its Intellect/Imagination scale stands for O.
MINI_IPIP: tuple[tuple[str, str, int], ...] = (
    ("E", "Am the life of the party.", 1),
    ("A", "Sympathize with others' feelings.", 1),
    ("C", "Get chores done right away.", 1),
    ("N", "Have frequent mood swings.", 1),
    ("O", "Have a vivid imagination.", 1),
    ("E", "Don't talk a lot.", -1),
    ("A", "Am not interested in other people's problems.", -1),
    ("C", "Often forget to put things back in their proper place.", -1),
    ("N", "Am relaxed most of the time.", -1),
    ("O", "Am not interested in abstract ideas.", -1),
    ("E", "Talk to a lot of different people at parties.", 1),
    ("A", "Feel others' emotions.", 1),
    ("C", "Like order.", 1),
    ("N", "Get upset easily.", 1),
    ("O", "Have difficulty understanding abstract ideas.", -1),
    ("E", "Keep in the background.", -1),
    ("A", "Am not really interested in others.", -1),
    ("C", "Make a mess of things.", -1),
    ("N", "Seldom feel blue.", -1),
    ("O", "Do not have a good imagination.", -1),
)
SCORE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"score": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["score"],
    "additionalProperties": False,
}
QUESTION = (
    "Describe yourself as you generally are now. How accurately does this statement describe "
    'you: "{item}"\n1 = very inaccurate, 2 = moderately inaccurate, 3 = neither, '
    "4 = moderately accurate, 5 = very accurate.\n"
    'Answer with one JSON object and nothing else: {{"score": <1-5>}}.'
)
INVENTORY_STREAM = 0x1F1E_1A1A  # the cache tags' stream of inventory answers
_SCORE = re.compile(r'"?score"?\s*:\s*"?([1-5])\b', re.IGNORECASE)


def inventory_messages(profile: int, item: str) -> tuple[tuple[str, str], ...]:
    """The persona as in a run's system message, and one inventory item."""
    return (("system", persona_text(profile)), ("user", QUESTION.format(item=item)))


def read_score(reply: str) -> int | None:
    """The 1–5 score in a reply (JSON or a loose ``score: n``), or None."""
    match = _SCORE.search(reply)
    return int(match.group(1)) if match else None


async def _ask(policy: LLMPolicy, seed: int, repeat: int, profile: int, item: int) -> int | None:
    config = policy.config
    for attempt in range(config.parse_attempts):
        tag = CallTag(seed, INVENTORY_STREAM, repeat, profile * len(MINI_IPIP) + item, attempt)
        request = ChatRequest(
            messages=inventory_messages(profile, MINI_IPIP[item][1]),
            model=config.model,
            temperature=config.temperature,
            max_tokens=config.max_reply_tokens,
            schema=SCORE_SCHEMA,
            seed=sampling_seed(tag),
            tag=tag,
        )
        reply: ChatReply = await policy.complete(request)
        if reply.rejected is not None:
            return None
        score = read_score(reply.text)
        if score is not None:
            return score
    return None


PROFILES_PER_BATCH = 8
"""Personas whose answers are asked together (160 requests): the progress is reported, and a
cancel can take effect, between batches."""


def ask_inventory(
    policy: LLMPolicy,
    repeats: int,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every persona answers every item ``repeats`` times; one row per answer (score NaN when
    no usable answer came). ``on_progress(done, total)`` follows the batches of personas."""
    keys = [
        (r, p, i) for r in range(repeats) for p in range(N_PROFILES) for i in range(len(MINI_IPIP))
    ]
    size = PROFILES_PER_BATCH * len(MINI_IPIP)
    batches = [keys[start : start + size] for start in range(0, len(keys), size)]

    async def answers(batch: list[tuple[int, int, int]]) -> list[int | None]:
        return await asyncio.gather(*(_ask(policy, seed, r, p, i) for r, p, i in batch))

    scores: list[int | None] = []
    try:
        for done, batch in enumerate(batches, start=1):
            scores += policy.run(answers(batch))
            if on_progress is not None:
                on_progress(done, len(batches))
    finally:
        policy.flush()
    return pd.DataFrame(
        {
            "repeat": [k[0] for k in keys],
            "profile": [k[1] for k in keys],
            "item": [k[2] for k in keys],
            "trait": [MINI_IPIP[k[2]][0] for k in keys],
            "keyed": [MINI_IPIP[k[2]][2] for k in keys],
            "score": [np.nan if s is None else float(s) for s in scores],
        }
    )


@dataclass(frozen=True)
class TraitFidelity:
    """High versus low personas on one trait's scale (mean of its keyed items, 1–5)."""

    trait: str
    mean_high: float
    mean_low: float
    cohens_d: float
    p_value: float
    taken_on: bool

    def line(self) -> str:
        verdict = "taken on" if self.taken_on else "NOT taken on"
        return (
            f"{TRAIT_NAMES[self.trait]}: {verdict} — high personas {self.mean_high:.2f}, low "
            f"{self.mean_low:.2f} (1–5 scale), Cohen's d {self.cohens_d:.2f}, Welch p "
            f"{self.p_value:.2g}"
        )


def fidelity(answers: pd.DataFrame, alpha: float = 0.01) -> list[TraitFidelity]:
    """Per trait: scale scores of high and low personas compared (see the module docstring)."""
    keyed = answers.assign(
        score=np.where(answers["keyed"] > 0, answers["score"], 6 - answers["score"])
    )
    # the unit is the persona: its repeats are not independent answers of different people
    scales = keyed.groupby(["trait", "profile"])["score"].mean().dropna().reset_index()
    out = []
    for t in TRAITS:
        rows = scales[scales["trait"] == t]
        high_mask = np.array([trait_levels(int(p))[t] for p in rows["profile"]], dtype=bool)
        high, low = rows["score"].to_numpy()[high_mask], rows["score"].to_numpy()[~high_mask]
        diff = float(high.mean() - low.mean())
        pooled = math.sqrt((high.var(ddof=1) + low.var(ddof=1)) / 2)
        d = diff / pooled if pooled > 0 else (math.copysign(math.inf, diff) if diff else 0.0)
        p = (
            float(stats.ttest_ind(high, low, equal_var=False).pvalue)
            if pooled > 0
            else (0.0 if diff else 1.0)
        )
        out.append(
            TraitFidelity(t, float(high.mean()), float(low.mean()), d, p, diff > 0 and p < alpha)
        )
    return out


def summary(report: list[TraitFidelity]) -> str:
    """One sentence: which traits the model takes on."""
    taken = [TRAIT_NAMES[r.trait] for r in report if r.taken_on]
    if not taken:
        return "the model takes none of the five traits on: its personas are labels only"
    if len(taken) == len(report):
        return "the model takes every trait on"
    return f"the model takes on {', '.join(taken)} only"


def save_check(
    con: Connection, calibration_id: str, answers: pd.DataFrame, report: list[TraitFidelity]
) -> None:
    """Store the persona check of ``calibration_id`` (table ``persona_checks``), shown with it."""
    save_persona_check(
        con,
        calibration_id,
        [asdict(r) for r in report],
        answers=int(answers["score"].notna().sum()),
        repeats=int(answers["repeat"].nunique()),
    )


def stored_report(con: Connection, calibration_id: str) -> list[TraitFidelity]:
    """The persona check stored with ``calibration_id`` (empty when it had none)."""
    rows = persona_check_rows(con, calibration_id)
    names = [f.name for f in fields(TraitFidelity)]
    return [
        TraitFidelity(**{n: r[n] for n in names})
        for r in rows.astype({"taken_on": bool}).to_dict("records")
    ]
