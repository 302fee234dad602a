"""The 32 Big Five profiles, their persona texts, and personality mixes.

A profile sets each of the five traits (Openness, Conscientiousness, Extraversion, Agreeableness,
Neuroticism) High or Low. Its code is a stable integer 0–31: bit ``4 - t`` is set when trait ``t``
(in the order O, C, E, A, N) is high, so code 0 is ``O-C-E-A-N-`` and code 31 is ``O+C+E+A+N+``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from spreadlab.errors import ConfigError, DataFormatError

TRAITS: tuple[str, ...] = ("O", "C", "E", "A", "N")
TRAIT_NAMES: dict[str, str] = {
    "O": "openness",
    "C": "conscientiousness",
    "E": "extraversion",
    "A": "agreeableness",
    "N": "neuroticism",
}
N_PROFILES = 32
MAX_WEIGHT = 1e12  # mix weights are relative; larger numbers only risk overflow

_DESCRIPTORS: dict[str, tuple[str, str]] = {
    "O": (
        "You prefer the familiar, trust established sources and rarely chase new ideas.",
        "You are curious and imaginative, drawn to new ideas and unusual stories.",
    ),
    "C": (
        "You are spontaneous and casual; you rarely double-check before acting.",
        "You are careful and disciplined; you check facts before you act or share.",
    ),
    "E": (
        "You are reserved and quiet online; you mostly read rather than post.",
        "You are outgoing and talkative; you like to share news and start conversations.",
    ),
    "A": (
        "You are blunt and sceptical of others, and you do not mind an argument.",
        "You are warm and cooperative, and you care how your words affect others.",
    ),
    "N": (
        "You are calm and emotionally steady; alarming news rarely rattles you.",
        "You are easily worried; alarming news stirs strong feelings in you.",
    ),
}


def trait_levels(code: int) -> dict[str, bool]:
    """High (True) or low (False) for each trait of profile ``code``."""
    _check_code(code)
    return {t: bool((code >> (4 - i)) & 1) for i, t in enumerate(TRAITS)}


def trait_matrix() -> np.ndarray:
    """A (32, 5) array of 0/1: row ``code``, column trait in the order O, C, E, A, N."""
    codes = np.arange(N_PROFILES)[:, None]
    shifts = np.arange(4, -1, -1)[None, :]
    return ((codes >> shifts) & 1).astype(np.int8)


def profile_label(code: int) -> str:
    """Readable label such as ``O+C-E+A-N+``."""
    levels = trait_levels(code)
    return "".join(f"{t}{'+' if levels[t] else '-'}" for t in TRAITS)


def profile_code(label: str) -> int:
    """Inverse of :func:`profile_label`."""
    text = label.strip().upper()
    if len(text) != 10 or any(text[2 * i] != t for i, t in enumerate(TRAITS)):
        raise ConfigError(f"profile label {label!r} is not of the form 'O+C-E+A-N+'")
    code = 0
    for i in range(5):
        sign = text[2 * i + 1]
        if sign not in "+-":
            raise ConfigError(f"profile label {label!r}: use '+' (high) or '-' (low) per trait")
        code |= (sign == "+") << (4 - i)
    return code


def persona_text(code: int) -> str:
    """The persona paragraph given to an LLM agent of profile ``code``.

    Each trait is named with its level ("high in extraversion") and described in plain words, so
    the prompt is self-explanatory and a test server can read the profile back from it.
    """
    levels = trait_levels(code)
    named = ", ".join(f"{'high' if levels[t] else 'low'} in {TRAIT_NAMES[t]}" for t in TRAITS)
    described = " ".join(_DESCRIPTORS[t][int(levels[t])] for t in TRAITS)
    return (
        f"You are a member of an online social network. Your personality is {named} "
        f"(profile {profile_label(code)}). {described}"
    )


def _check_code(code: int) -> None:
    if not 0 <= int(code) < N_PROFILES:
        raise ConfigError(f"profile code {code} is outside 0–31")


def _number(value: object, what: str) -> float:
    """``value`` as a float, or a :class:`ConfigError` naming ``what``."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        return float(value)
    except (TypeError, OverflowError):
        raise ConfigError(f"{what} = {repr(value)[:40]}: give a number") from None


@dataclass(frozen=True)
class PersonalityMix:
    """A probability distribution over the 32 profiles."""

    name: str
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        if w.shape != (N_PROFILES,):
            raise ConfigError(f"mix {self.name!r} needs 32 weights, got {w.size}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or np.any(w > MAX_WEIGHT):
            raise ConfigError(
                f"mix {self.name!r}: weights must be non-negative numbers up to {MAX_WEIGHT:g} "
                "(only their ratios matter)"
            )
        if w.sum() <= 0:
            raise ConfigError(
                f"mix {self.name!r} has all-zero weights: give some profile weight > 0"
            )
        object.__setattr__(self, "weights", tuple(float(x) for x in w / w.sum()))

    @property
    def probabilities(self) -> np.ndarray:
        return np.asarray(self.weights)

    @classmethod
    def uniform(cls) -> PersonalityMix:
        return cls("uniform", (1.0,) * N_PROFILES)

    @classmethod
    def from_trait_probabilities(
        cls, probabilities: dict[str, float], name: str | None = None
    ) -> PersonalityMix:
        """Traits independent, each high with the given probability (0.5 where not given)."""
        unknown = set(probabilities) - set(TRAITS)
        if unknown:
            raise ConfigError(f"unknown trait(s) {sorted(unknown)}: use O, C, E, A, N")
        p = np.array([_number(probabilities.get(t, 0.5), f"trait {t}") for t in TRAITS])
        if np.any((p < 0) | (p > 1)) or not np.all(np.isfinite(p)):
            raise ConfigError(f"trait probabilities must lie in [0, 1], got {probabilities}")
        m = trait_matrix()
        w = np.prod(np.where(m == 1, p, 1 - p), axis=1)
        label = name or "traits:" + ",".join(f"{t}={p[i]:g}" for i, t in enumerate(TRAITS))
        return cls(label, tuple(w))

    @classmethod
    def from_weights(
        cls, weights: dict[str, float] | dict[int, float] | list[float], name: str = "weights"
    ) -> PersonalityMix:
        """Explicit weights, by profile code or label; profiles not named get weight 0."""
        if isinstance(weights, list):
            return cls(name, tuple(_number(v, "weight") for v in weights))
        if not isinstance(weights, dict):
            raise ConfigError(
                f"mix {name!r}: 'weights' must be a list of 32 numbers or an object mapping "
                "profile labels (e.g. 'O+C-E+A-N+') or codes to numbers"
            )
        w = [0.0] * N_PROFILES
        for key, value in weights.items():
            code = profile_code(key) if isinstance(key, str) and not key.isdigit() else int(key)
            _check_code(code)
            w[code] = _number(value, f"weight of {key}")
        return cls(name, tuple(w))

    def assign(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw a profile code for each of ``n`` agents (int8 array), independently."""
        return rng.choice(N_PROFILES, size=n, p=self.probabilities).astype(np.int8)


PRESETS: dict[str, PersonalityMix] = {
    "uniform": PersonalityMix.uniform(),
    "extraverted": PersonalityMix.from_trait_probabilities({"E": 0.85}, name="extraverted"),
    "neurotic-disagreeable": PersonalityMix.from_trait_probabilities(
        {"N": 0.85, "A": 0.15}, name="neurotic-disagreeable"
    ),
    "conscientious-agreeable": PersonalityMix.from_trait_probabilities(
        {"C": 0.85, "A": 0.85}, name="conscientious-agreeable"
    ),
}


def parse_mix(spec: str) -> PersonalityMix:
    """A mix from a command-line spec.

    Parameters
    ----------
    spec : str
        ``uniform`` or another preset name; ``traits:E=0.8,N=0.3`` (per-trait probabilities);
        ``weights:O+C-E+A-N+=2,7=1`` (explicit weights, by profile label or code); or a path to
        a JSON file holding either ``{"traits": {...}}`` or ``{"weights": {...}}``.

    Returns
    -------
    PersonalityMix

    Examples
    --------
    >>> mix = parse_mix("traits:E=0.8,N=0.3")
    >>> round(float(mix.probabilities @ trait_matrix()[:, TRAITS.index("E")]), 2)
    0.8
    >>> mix = parse_mix("weights:O+C-E+A-N+=2,7=1")
    >>> {profile_label(code): round(float(p), 3) for code, p in enumerate(mix.probabilities) if p}
    {'O-C-E+A+N+': 0.333, 'O+C-E+A-N+': 0.667}
    >>> float(parse_mix("uniform").probabilities.max())  # 1/32 for each profile
    0.03125
    """
    text = spec.strip()
    if text in PRESETS:
        return PRESETS[text]
    if text.startswith(("traits:", "weights:")):
        kind, _, body = text.partition(":")
        pairs = _parse_pairs(body, spec)
        if kind == "traits":
            return PersonalityMix.from_trait_probabilities(pairs, name=text)
        return PersonalityMix.from_weights(pairs, name=text)
    path = Path(text)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataFormatError(
                f"cannot read mix file {path}: {exc}; save it as UTF-8 JSON"
            ) from None
        if isinstance(data, dict) and "traits" in data:
            if not isinstance(data["traits"], dict):
                raise DataFormatError(
                    f"mix file {path}: 'traits' must be an object such as {{\"E\": 0.8}}"
                )
            return PersonalityMix.from_trait_probabilities(data["traits"], name=path.stem)
        if isinstance(data, dict) and "weights" in data:
            return PersonalityMix.from_weights(data["weights"], name=path.stem)
        raise DataFormatError(f"mix file {path} needs a 'traits' or 'weights' object")
    raise ConfigError(
        f"unknown mix {spec!r}: use one of {sorted(PRESETS)}, 'traits:E=0.8,...', "
        "'weights:O+C-E+A-N+=2,...' or a .json file"
    )


def _parse_pairs(body: str, spec: str) -> dict[str, float]:
    pairs: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, sep, value = item.rpartition("=")
        try:
            if not sep:
                raise ValueError
            pairs[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(f"mix {spec!r}: cannot read {item!r}; write key=number") from None
    if not pairs:
        raise ConfigError(f"mix {spec!r} is empty: give at least one key=number")
    return pairs
