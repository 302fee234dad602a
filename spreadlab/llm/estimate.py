"""Before a run: an upper bound on calls and tokens, and what they would cost.

Bound on consultations of one replicate: the ``n0`` seeds in round 0, then at most every agent in
each of the ``rounds`` later rounds (only susceptible, exposed agents are consulted, so real runs
use far fewer). Each consultation makes one call, plus up to ``parse_attempts - 1`` re-asks after
unparseable replies; the bound counts them all. Prompt tokens are bounded by the longest possible
prompt (longest persona, the report, a full feed of full-length posts) at 3 characters per token;
completion tokens by ``max_reply_tokens``. Prices come from a user-editable CSV (bundled:
``spreadlab/data/prices.csv``): ``model`` (a name or a glob such as ``gpt-4o-mini*``),
``input_per_million``, ``output_per_million``, ``currency``.
"""

from __future__ import annotations

import csv
import fnmatch
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from spreadlab.engine.policy import FeedPost
from spreadlab.errors import DataFormatError
from spreadlab.llm.accounting import CHARS_PER_TOKEN_BOUND
from spreadlab.llm.prompt import build_messages
from spreadlab.world.events import Event
from spreadlab.world.personas import N_PROFILES

if TYPE_CHECKING:  # config imports this module for the price of a cost budget
    from spreadlab.llm.config import LLMConfig


@dataclass(frozen=True)
class Price:
    """Price per million tokens for models matching ``pattern``."""

    pattern: str
    input_per_million: float
    output_per_million: float
    currency: str

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """What these tokens cost, in :attr:`currency`."""
        return (
            prompt_tokens * self.input_per_million + completion_tokens * self.output_per_million
        ) / 1e6


@dataclass(frozen=True)
class RunEstimate:
    """Upper bounds for a run (all replicates); ``cost`` is None when no price is known."""

    consultations: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost: float | None
    price: Price | None

    def summary(self) -> str:
        money = (
            f"up to {self.cost:.2f} {self.price.currency} (price pattern {self.price.pattern!r})"
            if self.cost is not None and self.price
            else "no price known for this model (local servers cost nothing; add a row "
            "to the price table otherwise)"
        )
        return (
            f"upper bound: {self.consultations} consultations, {self.calls} calls "
            f"(with re-asks), {self.prompt_tokens} prompt + {self.completion_tokens} "
            f"completion tokens; {money}"
        )


def total_estimate(estimates: list[RunEstimate]) -> RunEstimate:
    """The bounds of several runs together (no cost when any of them has none)."""
    costs = [e.cost for e in estimates]
    return RunEstimate(
        sum(e.consultations for e in estimates),
        sum(e.calls for e in estimates),
        sum(e.prompt_tokens for e in estimates),
        sum(e.completion_tokens for e in estimates),
        None if not costs or None in costs else sum(c for c in costs if c is not None),
        estimates[0].price if estimates else None,
    )


def load_prices(path: str | Path | None = None) -> list[Price]:
    """The price table at ``path``, or the bundled one."""
    if path is None:
        text = resources.files("spreadlab").joinpath("data/prices.csv").read_text("utf-8")
        where = "bundled price table"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"cannot read price table {path}: {exc}") from exc
        where = str(path)
    prices = []
    for line, row in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            prices.append(
                Price(
                    row["model"].strip(),
                    float(row["input_per_million"]),
                    float(row["output_per_million"]),
                    (row.get("currency") or "USD").strip(),
                )
            )
        except (KeyError, ValueError, AttributeError) as exc:
            raise DataFormatError(
                f"{where}, line {line}: needs model, input_per_million, output_per_million ({exc})"
            ) from exc
    return prices


def price_for(model: str, prices: list[Price]) -> Price | None:
    """The exact row for ``model``, else the longest glob pattern that matches it."""
    exact = [p for p in prices if p.pattern == model]
    if exact:
        return exact[0]
    matches = [p for p in prices if fnmatch.fnmatchcase(model, p.pattern)]
    return max(matches, key=lambda p: len(p.pattern), default=None)


def estimate_run(
    config: LLMConfig,
    event: Event,
    *,
    n_agents: int,
    rounds: int,
    n0: int,
    replicates: int = 1,
    prices: list[Price] | None = None,
) -> RunEstimate:
    """Upper bounds on calls, tokens and cost of a run (see the module docstring)."""
    consultations = replicates * (n0 + rounds * n_agents)
    calls = consultations * config.parse_attempts
    feed_size = config.prompt.feed_size
    feed = [FeedPost(0, 10**6, "x" * config.prompt.post_chars)] * feed_size
    longest = max(
        sum(len(c) + 8 for _, c in build_messages(code, event, True, 10**6, feed, config.prompt))
        for code in range(N_PROFILES)
    )
    prompt_tokens = calls * (longest // CHARS_PER_TOKEN_BOUND + 1)
    completion_tokens = calls * config.max_reply_tokens
    price = price_for(config.model, load_prices() if prices is None else prices)
    cost = None
    if price is not None:
        cost = (
            prompt_tokens * price.input_per_million + completion_tokens * price.output_per_million
        ) / 1e6
    return RunEstimate(consultations, calls, prompt_tokens, completion_tokens, cost, price)
