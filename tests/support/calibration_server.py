"""A local OpenAI-compatible server whose hidden sharing rules depend on traits AND event type.

It serves like :class:`llm_server.LLMServer` but answers from

    logit a = A0 + Σ_t α_t·[t high] + α_e,   logit b = B0 + Σ_t β_t·[t high] + β_e,
    P(post) = 1 - (1 - a·o)(1 - b)^m,

with different trait weights for a and b, in the parameterisation of
:mod:`spreadlab.analysis.trait_effects`
fits (traits 0/1, battles the baseline event). The event type is read from the prompt: the
headline of a catalog event appears in the report or in the feed's posts.

With ``logprobs=True`` it answers token log-probabilities when a request asks for them: the
boolean of the decision comes with ``true`` and ``false`` alternatives (and a stray third one)
whose normalised probabilities, at the request's temperature T, are the consultation's P(post)
(the log-probabilities are of the temperature-1 distribution, as vLLM reports them, so their
log-odds are T·logit P). With ``concentration`` κ, each consultation's P(post) is itself drawn
from Beta(κP, κ(1 - P)) by a hash of the request — the model reacting to the feed drawn for it
and to the call — so the cell's rule above holds on average and the sampled answers are still
Bernoulli(P), while probabilities vary from probe to probe as a real model's would.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from llm_server import LLMServer, ServerConfig, read_prompt
from scipy import stats

from spreadlab.jobs.persona_check import MINI_IPIP
from spreadlab.world.events import EVENT_TYPES, catalog
from spreadlab.world.personas import TRAIT_NAMES, TRAITS, trait_matrix

HIDDEN_A = {"intercept": -1.2, "O": 0.3, "C": -0.8, "E": 1.1, "A": -0.3, "N": 0.6}
HIDDEN_B = {"intercept": -2.3, "O": -0.4, "C": 0.5, "E": 0.9, "A": 0.2, "N": -0.7}
HIDDEN_EVENT_A = {
    "battles": 0.0,
    "explosions_remote_violence": 0.5,
    "violence_against_civilians": 0.9,
    "protests": -0.6,
    "riots": 0.3,
    "strategic_developments": -0.9,
}
HIDDEN_EVENT_B = {
    "battles": 0.0,
    "explosions_remote_violence": -0.4,
    "violence_against_civilians": 0.6,
    "protests": 0.4,
    "riots": 0.8,
    "strategic_developments": -0.5,
}
_TITLES = {e.title: e.type for e in catalog().values()}


def _sigmoid(x: float | np.ndarray) -> float | np.ndarray:
    return 1 / (1 + np.exp(-x))


def hidden_rates(traits: dict[str, bool], event_type: str) -> tuple[float, float]:
    """(a, b) of one profile and event type."""
    logit_a = HIDDEN_A["intercept"] + HIDDEN_EVENT_A[event_type]
    logit_b = HIDDEN_B["intercept"] + HIDDEN_EVENT_B[event_type]
    for t in TRAITS:
        high = traits[TRAIT_NAMES[t]]
        logit_a += HIDDEN_A[t] * high
        logit_b += HIDDEN_B[t] * high
    return 1 / (1 + math.exp(-logit_a)), 1 / (1 + math.exp(-logit_b))


def hidden_table() -> tuple[np.ndarray, np.ndarray]:
    """The hidden a and b as (32, 6) arrays in :data:`EVENT_TYPES` order."""
    traits = trait_matrix().astype(float)
    wa = np.array([HIDDEN_A[t] for t in TRAITS])
    wb = np.array([HIDDEN_B[t] for t in TRAITS])
    ea = np.array([HIDDEN_EVENT_A[t] for t in EVENT_TYPES])
    eb = np.array([HIDDEN_EVENT_B[t] for t in EVENT_TYPES])
    a = _sigmoid(HIDDEN_A["intercept"] + (traits @ wa)[:, None] + ea[None, :])
    b = _sigmoid(HIDDEN_B["intercept"] + (traits @ wb)[:, None] + eb[None, :])
    return a, b


def event_of(text: str) -> tuple[str, str]:
    """(headline, type) of the catalog event whose headline appears in ``text``."""
    found = {(title, etype) for title, etype in _TITLES.items() if title in text}
    if len(found) != 1:
        raise ValueError(f"prompt names {len(found)} events")
    return found.pop()


def inventory_score(traits: dict[str, bool], item: int, u: float, personas: bool) -> int:
    """A Mini-IPIP answer: 4 or 2 (high or low, for the item's keying) ± 1 at random; with
    ``personas`` off, uniform on 1–5 whatever the persona."""
    if not personas:
        return 1 + int(u * 5)
    trait, _, keyed = MINI_IPIP[item]
    agrees = traits[TRAIT_NAMES[trait]] == (keyed > 0)
    return (4 if agrees else 2) + int(u * 3) - 1


_TOKEN = re.compile(r"\s*\w+|\s*[^\w\s]+|\s+")
STRAY = 0.02  # probability of the stray third alternative at the boolean's position


def _uniforms(request: dict) -> tuple[float, float]:
    """Two independent uniforms from a hash of the request (one request, one pair)."""
    digest = json.dumps([request["messages"], request.get("seed"), request.get("temperature")])
    raw = hashlib.sha256(digest.encode()).digest()
    return int.from_bytes(raw[:8], "big") / 2**64, int.from_bytes(raw[8:16], "big") / 2**64


def _entry(token: str, alternatives: dict[str, float]) -> dict:
    """One token of an OpenAI ``logprobs.content`` list with its top alternatives."""
    top = [{"token": t, "logprob": lp, "bytes": list(t.encode())} for t, lp in alternatives.items()]
    own = alternatives.get(token, 0.0)
    return {"token": token, "logprob": own, "bytes": list(token.encode()), "top_logprobs": top}


class CalibrationServer(LLMServer):
    """:class:`LLMServer` answering from the trait × event-type rules above, and the Mini-IPIP
    in character; with ``personas=False`` it ignores the persona altogether; with ``logprobs``
    it answers token log-probabilities; ``concentration`` spreads P(post) between consultations
    (see the module docstring)."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        personas: bool = True,
        logprobs: bool = False,
        concentration: float | None = None,
    ) -> None:
        super().__init__(config)
        self.personas = personas
        self.logprobs = logprobs
        self.concentration = concentration

    def consultation_probability(self, request: dict) -> float:
        """This consultation's P(post): the hidden rule's, or a Beta draw around it."""
        traits, offline, m = read_prompt(request["messages"])
        if not self.personas:
            traits = dict.fromkeys(traits, False)
        text = "\n".join(str(msg.get("content", "")) for msg in request["messages"])
        try:
            _, event_type = event_of(text)
        except ValueError:  # the endpoint check's probe names no event
            return 0.0
        a, b = hidden_rates(traits, event_type)
        p = 1 - (1 - a * offline) * (1 - b) ** m
        if self.concentration is None or p in (0.0, 1.0):
            return p
        k = self.concentration
        return float(stats.beta.ppf(_uniforms(request)[1], k * p, k * (1 - p)))

    def _logprobs(self, request: dict, content: str) -> dict | None:
        if not self.logprobs:
            return None
        found = re.search(r'"post": (true|false)', content)
        if found is None:  # an inventory answer: its tokens, each certain
            return {"content": [_entry(t, {t: 0.0}) for t in _TOKEN.findall(content)]}
        p = min(max(self.consultation_probability(request), 1e-9), 1 - 1e-9)
        temperature = float(request.get("temperature") or 1.0)
        q = 1 / (1 + math.exp(-temperature * math.log(p / (1 - p))))  # temperature-1 P(true)
        alternatives = {
            " true": math.log(q * (1 - STRAY)),
            " false": math.log((1 - q) * (1 - STRAY)),
            ' "': math.log(STRAY),
        }
        at = found.start(1) - 1  # the value's token carries its leading space
        head, tail = content[:at], content[found.end(1) :]
        return {
            "content": [
                *(_entry(t, {t: 0.0}) for t in _TOKEN.findall(head)),
                _entry(content[at : found.end(1)], alternatives),
                *(_entry(t, {t: 0.0}) for t in _TOKEN.findall(tail)),
            ]
        }

    def _content(self, request: dict, *args: object, **kwargs: object) -> str:
        messages = request["messages"]
        traits = read_prompt(messages)[0]
        if not self.personas:
            traits = dict.fromkeys(traits, False)
        text = "\n".join(str(msg.get("content", "")) for msg in messages)
        u = _uniforms(request)[0]
        items = [i for i, (_, item, _) in enumerate(MINI_IPIP) if f'"{item}"' in text]
        if items:
            answer: dict = {"score": inventory_score(traits, items[0], u, self.personas)}
        else:
            try:
                title, _ = event_of(text)
            except ValueError:  # the endpoint check's probe names no event
                title = ""
            post = u < self.consultation_probability(request)
            answer = {"post": post, "text": f"Passing this on: {title}" if post else ""}
        reply = json.dumps(answer)
        fmt = (request.get("response_format") or {}).get("type", "text")
        return reply if fmt != "text" else f"```json\n{reply}\n```"


@contextmanager
def calibration_server(
    config: ServerConfig | None = None,
    personas: bool = True,
    logprobs: bool = False,
    concentration: float | None = None,
) -> Iterator[CalibrationServer]:
    """A started :class:`CalibrationServer`, stopped on exit."""
    server = CalibrationServer(config, personas, logprobs, concentration)
    server.start()
    try:
        yield server
    finally:
        server.stop()
