"""P(post) from token log-probabilities: how likely the model was to answer ``"post": true``.

An OpenAI-compatible endpoint asked for ``logprobs`` returns, per generated token, the token, its
log-probability and the ``top_logprobs`` alternatives at that position. The token where the value
of ``"post"`` begins is found by re-assembling the reply from its tokens; among that position's
alternatives (the chosen token among them), those reading ``true`` and those reading ``false`` are
summed and normalised:

    P(post) = Σ_true exp(ℓ/T) / (Σ_true exp(ℓ/T) + Σ_false exp(ℓ/T)),

at the request's temperature T (the endpoint's log-probabilities are taken as the model's
temperature-1 distribution, as vLLM documents them; a schema-constrained reply can only continue
with ``true`` or ``false`` there, hence the normalisation). Everything is untrusted: entries
without a string token, log-probabilities that are not finite numbers ≤ 0 and malformed
structures are ignored. Where one side is missing from the alternatives (its probability is
then unknown, not 0) or nothing usable remains, there is no probability (None), never an error:
the calibration uses the sampled answer instead.
"""

from __future__ import annotations

import math
import re
from typing import TypeGuard

_KEY = re.compile(r'"post"\s*:\s*"?', re.IGNORECASE)
_THINK_END = "</think>"
_WORD = re.compile(r"[a-z]+")
MAX_TOKENS = 4096  # a decision is a few dozen tokens; longer lists are not read past this
MAX_ALTERNATIVES = 20  # the OpenAI API's own limit on top_logprobs

Entry = tuple[str, float | None, list[tuple[str, float]]]


def post_probability(logprobs: object, temperature: float) -> float | None:
    """P(post) from a choice's ``logprobs`` field at ``temperature``; None when unusable."""
    entries = _entries(logprobs)
    if not entries:
        return None
    text = "".join(token for token, _, _ in entries)
    think = text.lower().rfind(_THINK_END)
    found = _KEY.search(text, 0 if think < 0 else think + len(_THINK_END))
    if found is None:
        return None
    offset = 0
    for token, logprob, alternatives in entries:
        if offset + len(token) > found.end():
            chosen = [(token, logprob)] if logprob is not None else []
            prefix = text[offset : found.end()]
            return _share(token, prefix, chosen + alternatives, temperature)
        offset += len(token)
    return None


def _entries(logprobs: object) -> list[Entry] | None:
    """(token, its log-probability or None, valid alternatives) per generated token; None when
    the structure is unusable (a token without a string cannot be placed in the reply)."""
    content = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(content, list):
        return None
    out: list[Entry] = []
    for item in content[:MAX_TOKENS]:
        if not isinstance(item, dict) or not isinstance(item.get("token"), str):
            return None
        alternatives = item.get("top_logprobs")
        valid = [
            (alt["token"], float(alt["logprob"]))
            for alt in (alternatives if isinstance(alternatives, list) else [])[:MAX_ALTERNATIVES]
            if isinstance(alt, dict)
            and isinstance(alt.get("token"), str)
            and _is_logprob(alt.get("logprob"))
        ]
        own = item.get("logprob")
        out.append((item["token"], float(own) if _is_logprob(own) else None, valid))
    return out


def _is_logprob(value: object) -> TypeGuard[float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value <= 0
    )


def _side(token: str, prefix: str) -> bool | None:
    """True / False when ``token`` (at the value's position, after ``prefix``) reads as the
    start of ``true`` / ``false``; None otherwise."""
    rest = token[len(prefix) :] if token.startswith(prefix) else token
    word = _WORD.match(rest.strip().strip('"').lower())
    if word is None:
        return None
    if "true".startswith(word.group()):
        return True
    if "false".startswith(word.group()):
        return False
    return None


def _share(
    chosen: str, prefix: str, candidates: list[tuple[str, float]], temperature: float
) -> float | None:
    """The normalised probability of the ``true`` side among ``candidates``, or None when the
    chosen token is no boolean or a side is missing (then the sampled answer stands in)."""
    if _side(chosen, prefix) is None:
        return None
    sides: dict[bool, list[float]] = {True: [], False: []}
    seen: set[str] = set()
    for token, logprob in candidates:
        side = _side(token, prefix)
        if token in seen or side is None:
            continue
        seen.add(token)
        sides[side].append(logprob)
    if not sides[True] or not sides[False]:
        return None  # the missing side's probability is unknown: no estimate beats 0 or 1
    if temperature <= 0:  # greedy decoding: the likelier side is certain
        best = {s: max(v, default=-math.inf) for s, v in sides.items()}
        return 0.5 if best[True] == best[False] else float(best[True] > best[False])
    true, false = (_logsumexp([v / temperature for v in sides[s]]) for s in (True, False))
    return 1.0 / (1.0 + math.exp(min(false - true, 700.0)))


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))
