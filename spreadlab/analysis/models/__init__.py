"""The SI models fitted to a run's informed fraction i(t) (DESIGN.md, "The models fitted to a run").

Every model maps its parameters, the number of rounds, the network size ``N``, the degree ``k``
and the number informed after round 0 (``n0``) to the expected informed fraction after rounds
0, 1, ..., ``rounds``. Time is counted in rounds throughout.

Two families, with different units (DESIGN.md, "Units matter"):

* Continuous-time ODEs (SI-1, SI-2, SI-2h, pair approximation with and without the offline term),
  as in the seed study. Their parameters are *rates per round*; fitted to round data they are
  effective rates, not the simulator's probabilities.
* Discrete-round maps (mean-field map, pair-approximation map), the exact-time counterparts of the
  simulator. Their parameters are the simulator's own per-round probabilities ``q·a`` and ``b``.

Each model computes ``log s(t)``, the log of the susceptible fraction, because fitting needs the
per-round hazard ``H_t = log s(t-1) - log s(t)`` (a susceptible at the start of round t is
informed during it with probability ``1 - exp(-H_t)``) and ``1 - i`` loses precision near 1.

One module per family (``si``, ``pair``, ``maps``, ``heterogeneous``, ``degree``) on the shared
interface of ``base``; the registry :data:`MODELS` lives here.
"""

from __future__ import annotations

from spreadlab.analysis.models.base import Model
from spreadlab.analysis.models.degree import DegreeMap, DegreeMap1
from spreadlab.analysis.models.heterogeneous import SI1Gamma, SI2Gamma
from spreadlab.analysis.models.maps import MeanFieldMap, PairMap
from spreadlab.analysis.models.pair import Pair1, PairApprox
from spreadlab.analysis.models.si import SI1, SI2, SI2h
from spreadlab.errors import ConfigError

__all__ = ["MODELS", "NESTED", "Model", "get_model"]

MODELS: dict[str, Model] = {
    m.name: m
    for m in (
        SI1(),
        SI2(),
        SI2h(),
        Pair1(),
        PairApprox(),
        MeanFieldMap(),
        PairMap(),
        SI1Gamma(),
        SI2Gamma(),
        DegreeMap1(),
        DegreeMap(),
    )
}
NESTED: dict[tuple[str, str], str] = {
    ("si1", "si2"): "alpha",
    ("pair", "pair2"): "alpha",
    ("si1g", "si2g"): "alpha",
    ("dbmf", "dbmf2"): "qa",
}
"""(one-rate model, two-rate model) -> the parameter fixed at 0 on the boundary."""


def get_model(name: str | Model) -> Model:
    """A model by its name (a key of :data:`MODELS`)."""
    if isinstance(name, Model):
        return name
    try:
        return MODELS[name.strip().lower()]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None
