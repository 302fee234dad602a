"""The stochastic policy (the agent-based model) and its parameter table.

An exposed agent posts with probability ``P = 1 - (1 - a·o)(1 - b)^m``: ``o`` is 1 when the
offline report reached it this round, ``m`` the number of neighbours who have posted; ``a``
(per-round probability of posting on the offline report) and ``b`` (per-round probability per
posting neighbour) depend on the agent's profile and the event type.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spreadlab.engine.policy import ConsultationBatch, Decisions
from spreadlab.errors import ConfigError, DataFormatError
from spreadlab.world.events import EVENT_TYPES, Event, event_type_index
from spreadlab.world.personas import N_PROFILES, TRAITS, profile_code, profile_label, trait_matrix

ILLUSTRATIVE = "illustrative: hand-set values for demonstration, not measured from LLM agents"

# Illustrative log-odds effects (traits coded +1 high / -1 low), chosen only to give plausible,
# visibly different spreads: extraversion and neuroticism raise sharing, conscientiousness
# lowers it.
_TRAIT_EFFECT_A = {"O": 0.15, "C": -0.35, "E": 0.45, "A": -0.10, "N": 0.30}
_TRAIT_EFFECT_B = {"O": 0.10, "C": -0.25, "E": 0.40, "A": -0.05, "N": 0.25}
_EVENT_EFFECT = {
    "battles": 0.0,
    "explosions_remote_violence": 0.35,
    "violence_against_civilians": 0.45,
    "protests": -0.30,
    "riots": 0.10,
    "strategic_developments": -0.45,
}
_BASE_LOGIT_A, _BASE_LOGIT_B = -0.4, -2.9


@dataclass(frozen=True)
class ParameterTable:
    """Per-round probabilities ``a[profile, event_type]`` and ``b[profile, event_type]``.

    Both arrays have shape (32, 6), columns in the order of :data:`EVENT_TYPES`. ``provenance``
    travels with the table into every run that uses it; ``source`` is its label in the shared
    vocabulary (illustrative, surrogate, user table; see :mod:`spreadlab.engine.surrogate`).
    """

    a: np.ndarray
    b: np.ndarray
    provenance: str
    source: str = "user table"

    def __post_init__(self) -> None:
        for name, arr in (("a", self.a), ("b", self.b)):
            if np.shape(arr) != (N_PROFILES, len(EVENT_TYPES)):
                raise ConfigError(f"parameter '{name}' needs shape (32, 6), got {np.shape(arr)}")
            if not np.all(np.isfinite(arr)) or np.any((arr < 0) | (arr > 1)):
                raise ConfigError(
                    f"parameter '{name}' must be a probability in [0, 1] for every profile and "
                    "event type"
                )

    @classmethod
    def uniform(cls, a: float, b: float) -> ParameterTable:
        """The same a and b for every profile and event type."""
        for name, value in (("a", a), ("b", b)):
            if not 0 <= value <= 1:
                raise ConfigError(f"{name} = {value} is not a probability: use a value in [0, 1]")
        shape = (N_PROFILES, len(EVENT_TYPES))
        return cls(np.full(shape, float(a)), np.full(shape, float(b)), f"uniform a={a:g}, b={b:g}")

    @classmethod
    def illustrative(cls) -> ParameterTable:
        """The default table: logistic in the traits and event type, with hand-set effects."""
        signs = 2 * trait_matrix().astype(float) - 1
        effect_a = signs @ np.array([_TRAIT_EFFECT_A[t] for t in TRAITS])
        effect_b = signs @ np.array([_TRAIT_EFFECT_B[t] for t in TRAITS])
        event = np.array([_EVENT_EFFECT[e] for e in EVENT_TYPES])
        a = _sigmoid(_BASE_LOGIT_A + effect_a[:, None] + event[None, :])
        b = _sigmoid(_BASE_LOGIT_B + effect_b[:, None] + event[None, :])
        return cls(np.round(a, 4), np.round(b, 4), ILLUSTRATIVE, source="illustrative")

    def to_csv(self) -> str:
        """CSV with one row per (profile, event type) and a provenance column."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["profile", "event_type", "a", "b", "provenance"])
        for code in range(N_PROFILES):
            for j, event_type in enumerate(EVENT_TYPES):
                writer.writerow(
                    [
                        profile_label(code),
                        event_type,
                        self.a[code, j],
                        self.b[code, j],
                        self.provenance,
                    ]
                )
        return out.getvalue()

    @classmethod
    def from_csv(cls, path: str | Path) -> ParameterTable:
        """Read a table written by :meth:`to_csv` (or by hand): every profile × event type once."""
        path = Path(path)
        try:
            rows = list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFormatError(f"cannot read parameter table {path}: {exc}") from exc
        need = {"profile", "event_type", "a", "b"}
        if not rows or not need <= set(rows[0]):
            raise DataFormatError(f"{path}: needs columns {sorted(need)}")
        a = np.full((N_PROFILES, len(EVENT_TYPES)), np.nan)
        b = np.full_like(a, np.nan)
        for line, row in enumerate(rows, start=2):
            try:
                text = row["profile"].strip()
                code = int(text) if text.isdigit() else profile_code(text)
                j = event_type_index(row["event_type"].strip())
                if not np.isnan(a[code, j]):
                    raise DataFormatError(
                        f"{path}, line {line}: duplicate {text}/{row['event_type']}"
                    )
                a[code, j], b[code, j] = float(row["a"]), float(row["b"])
            except (ValueError, IndexError) as exc:
                raise DataFormatError(f"{path}, line {line}: {exc}") from exc
        if np.isnan(a).any():
            code, j = np.argwhere(np.isnan(a))[0]
            raise DataFormatError(
                f"{path}: no row for profile {profile_label(int(code))}, event type "
                f"{EVENT_TYPES[j]}; the table needs all 32 × 6 combinations"
            )
        provenance = (rows[0].get("provenance") or f"user table {path.name}").strip()
        try:
            return cls(a, b, provenance)
        except ConfigError as exc:
            raise DataFormatError(f"{path}: {exc}") from exc


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class StochasticPolicy:
    """Vectorised draw of ``P = 1 - (1 - a·o)(1 - b)^m`` for a whole batch at once."""

    backend = "stochastic"

    def __init__(self, table: ParameterTable | None = None) -> None:
        self.table = table or ParameterTable.illustrative()
        self._a = np.zeros(0)
        self._log1m_b = np.zeros(0)

    def prepare(self, profiles: np.ndarray, event: Event) -> None:
        j = event_type_index(event.type)
        self._a = self.table.a[profiles.astype(np.intp), j]
        self._log1m_b = np.log1p(-np.minimum(self.table.b[profiles.astype(np.intp), j], 1 - 1e-15))

    def post_probability(
        self, agents: np.ndarray, offline: np.ndarray, m: np.ndarray
    ) -> np.ndarray:
        stay_quiet = (1.0 - self._a[agents] * offline) * np.exp(m * self._log1m_b[agents])
        return 1.0 - stay_quiet

    def decide(self, batch: ConsultationBatch, rng: np.random.Generator) -> Decisions:
        p = self.post_probability(batch.agents, batch.offline, batch.m)
        return Decisions(post=rng.random(p.size) < p)

    def provenance(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "synthetic": True,
            "parameter_table": self.table.provenance,
            "a_range": [float(self.table.a.min()), float(self.table.a.max())],
            "b_range": [float(self.table.b.min()), float(self.table.b.max())],
            "a": self.table.a.round(6).tolist(),
            "b": self.table.b.round(6).tolist(),
        }
