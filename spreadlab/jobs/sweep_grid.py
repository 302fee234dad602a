"""Sweep grids: a TOML file naming the axes, strictly validated and expanded to cells.

A grid is the product of its axes (events or event types × mixes × q × N × k × network kinds ×
parameter tables × replicates × seed draws); each point is a *cell*, one scenario of
``replicates`` runs, decided by the stochastic model with a parameter table or, where the table
is ``llm``, by LLM agents with the settings of the grid's ``[llm]`` section. A cell's seed is
derived from the grid seed and a hash of the cell's parameters, so a cell keeps its seed when
axes are added, removed or reordered, and its id (a hash of its parameters and seed) identifies
it across re-runs: that is what makes a sweep resumable. The file format is documented in
docs/sweeps.md.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import ParameterTable
from spreadlab.engine.surrogate import table_hash
from spreadlab.errors import ConfigError, SpreadLabError
from spreadlab.validate import INT64_MAX
from spreadlab.world.events import EVENT_TYPES, Event, catalog, get_event, load_events
from spreadlab.world.networks import NETWORK_KINDS, NetworkSpec
from spreadlab.world.personas import PersonalityMix, parse_mix

MAX_CELLS = 1_000_000
"""Hard ceiling on a grid's cells; ``[sweep] max_cells`` (default :data:`DEFAULT_MAX_CELLS`)
guards against a typo multiplying the grid."""
DEFAULT_MAX_CELLS = 100_000
LLM = "llm"
"""The ``params`` value of LLM cells: LLM agents decide, with the ``[llm]`` settings."""
SEED_DERIVATION = (
    "cell seed = SeedSequence(grid seed, spawn_key = first four 32-bit words of "
    "sha256(cell parameters)).generate_state(1, uint64) >> 1"
)

# key: (type check, description of the expected type)
_SWEEP_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "a string"),
    "seed": (int, "a whole number"),
    "rounds": (int, "a whole number"),
    "n0": (int, "a whole number"),
    "rewire": ((int, float), "a number"),
    "events_file": (str, "a path"),
    "max_cells": (int, "a whole number"),
    "backend": (str, "'stochastic'"),
}
_AXIS_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "events": (str, "event ids"),
    "event_types": (str, "event types"),
    "mixes": (str, "mix specs"),
    "q": ((int, float), "probabilities"),
    "n": (int, "whole numbers"),
    "k": (int, "whole numbers"),
    "networks": (str, "network kinds"),
    "params": (str, "'illustrative' or CSV paths"),
    "replicates": (int, "whole numbers"),
}
_RECORD_KEYS = ("fits", "verdict")
_LLM_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "model": (str, "a model name"),
    "base_url": (str, "an endpoint URL"),
    "temperature": ((int, float), "a number"),
    "max_reply_tokens": (int, "a whole number"),
    "feed_size": (int, "a whole number"),
    "post_chars": (int, "a whole number"),
    "response_format": (str, "a response format"),
}
"""``[llm]`` keys: what ``spreadlab run --backend llm`` takes as flags that shape decisions,
and the endpoint. Budgets, concurrency and the key are given to the command, not the file."""
_SECTIONS = ("sweep", "axes", "record", "llm")
AXES = ("event", "mix", "q", "n", "k", "network", "params", "replicates", "seed_index")
"""The cell parameters that vary over a grid, in the order cells are expanded."""


@dataclass(frozen=True)
class Cell:
    """One point of a grid: its parameters (JSON-able, the axes plus rounds/n0/rewire), the
    seed derived for it, and its id (a hash of both)."""

    cell_id: str
    seed: int
    params: dict[str, Any]


@dataclass(frozen=True)
class Grid:
    """A validated grid: settings, axis values and what to record per cell."""

    name: str
    seed: int
    rounds: int
    n0: int
    rewire: float
    axes: dict[str, list[Any]]
    events: dict[str, Event]
    mixes: dict[str, PersonalityMix]
    tables: dict[str, ParameterTable]
    table_hashes: dict[str, str]
    record_fits: bool
    record_verdict: bool
    source: str
    llm: dict[str, Any] = field(default_factory=dict)
    """The ``[llm]`` section: settings of the LLM cells (see :meth:`with_llm`)."""

    @property
    def has_llm(self) -> bool:
        """Whether any cell is decided by LLM agents."""
        return LLM in self.axes["params"]

    def with_llm(self, settings: dict[str, Any]) -> Grid:
        """This grid with its LLM cells identified by ``settings`` (the resolved endpoint, model
        and every setting that shapes decisions): another model or endpoint makes other cells."""
        hashes = {**self.table_hashes, LLM: _digest(settings)[:16]}
        return replace(self, llm=settings, table_hashes=hashes)

    @property
    def sweep_id(self) -> str:
        """Identifies the grid by its content (axes, settings, tables), not by its file's text."""
        return _digest(
            {
                "name": self.name,
                "seed": self.seed,
                "rounds": self.rounds,
                "n0": self.n0,
                "rewire": self.rewire,
                "axes": self.axes,
                "tables": self.table_hashes,
                "record": [self.record_fits, self.record_verdict],
            }
        )[:12]

    def size(self) -> int:
        """Number of cells."""
        return _size(self.axes)

    def cells(self) -> list[Cell]:
        """Every cell, axes expanded in the order of :data:`AXES`."""
        out = []
        for values in itertools.product(*(self.axes[a] for a in AXES)):
            params = dict(zip(AXES, values, strict=True))
            params.update(rounds=self.rounds, n0=self.n0, rewire=self.rewire)
            params["event_type"] = self.events[params["event"]].type
            params["table_sha"] = self.table_hashes[params["params"]]
            params["mix_sha"] = _digest(self.mixes[params["mix"]].weights)[:16]
            seed = cell_seed(self.seed, params)
            out.append(Cell(_digest({"params": params, "seed": seed})[:16], seed, params))
        return out

    def scenario(self, cell: Cell) -> Scenario:
        """The stochastic scenario of ``cell``."""
        p = cell.params
        return Scenario(
            event=self.events[p["event"]],
            mix=self.mixes[p["mix"]],
            network=NetworkSpec(kind=p["network"], n=p["n"], k=p["k"], rewire=p["rewire"]),
            rounds=p["rounds"],
            q=p["q"],
            n0=p["n0"],
            replicates=p["replicates"],
            seed=cell.seed,
        )


def _size(axes: dict[str, list[Any]]) -> int:
    return int(np.prod([len(values) for values in axes.values()], dtype=object))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def cell_seed(grid_seed: int, params: dict[str, Any]) -> int:
    """The seed of the cell with ``params`` in a grid seeded ``grid_seed`` (see
    :data:`SEED_DERIVATION`): stable across runs, machines and axis order."""
    words = np.frombuffer(bytes.fromhex(_digest(params))[:16], dtype="<u4")
    sequence = np.random.SeedSequence(grid_seed, spawn_key=tuple(int(w) for w in words))
    return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid file; every problem is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read grid file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML ({exc})") from None
    try:
        return parse_grid(raw, base=path.parent, source=path.name)
    except SpreadLabError as exc:
        raise ConfigError(f"{path.name}: {exc}") from None


def parse_grid(raw: dict[str, Any], *, base: Path, source: str = "grid") -> Grid:
    """Validate a parsed grid (``base``: folder that relative paths are read from)."""
    _only(raw, _SECTIONS, "the grid file (sections)")
    sweep = _settings(_section(raw, "sweep", required=True))
    axes_raw = _section(raw, "axes", required=True)
    record = _section(raw, "record")
    llm = _llm_section(_section(raw, "llm"))
    _only(axes_raw, (*_AXIS_KEYS, "seeds"), "[axes]")
    _only(record, _RECORD_KEYS, "[record]")
    for key in _RECORD_KEYS:
        if key in record and not isinstance(record[key], bool):
            raise ConfigError(f"[record] {key} must be true or false")
    given = {key: _axis(axes_raw, key) for key in _AXIS_KEYS if key in axes_raw}
    extra = load_events(base / sweep["events_file"]) if "events_file" in sweep else {}
    events = _events(given, extra)
    axes = _expanded_axes(given, axes_raw, events)
    size = _size(axes)
    if size > sweep["max_cells"]:
        raise ConfigError(
            f"the grid has {size:,} cells, more than max_cells = {sweep['max_cells']:,}; shrink "
            f"the axes or raise [sweep] max_cells (at most {MAX_CELLS:,})"
        )
    if llm and LLM not in axes["params"]:
        raise ConfigError(
            "[llm] settings are given but no cell uses them: add 'llm' to [axes] params"
        )
    tables = {label: _table(label, base) for label in axes["params"] if label != LLM}
    hashes = {label: table_hash(t)[:16] for label, t in tables.items()}
    if LLM in axes["params"]:
        hashes[LLM] = _digest(llm)[:16]
    grid = Grid(
        name=sweep.get("name", source),
        seed=sweep["seed"],
        rounds=sweep["rounds"],
        n0=sweep["n0"],
        rewire=sweep["rewire"],
        axes=axes,
        events=events,
        mixes={spec: _mix(spec, base) for spec in axes["mix"]},
        tables=tables,
        table_hashes=hashes,
        record_fits=record.get("fits", True),
        record_verdict=record.get("verdict", True),
        source=source,
        llm=llm,
    )
    _check_scenarios(grid)
    return grid


def _settings(sweep: dict[str, Any]) -> dict[str, Any]:
    """[sweep] checked, with defaults filled in."""
    _only(sweep, _SWEEP_KEYS, "[sweep]")
    for key, (kind, what) in _SWEEP_KEYS.items():
        if key in sweep:
            _check_type(sweep[key], kind, f"[sweep] {key}", what)
    if sweep.get("backend", "stochastic") != "stochastic":
        raise ConfigError(
            "[sweep] backend must be 'stochastic'; LLM cells are named on the parameter-table "
            "axis: [axes] params = ['llm'] (or beside tables, for a mixed grid), with an [llm] "
            "section"
        )
    if "seed" not in sweep:
        raise ConfigError(
            "[sweep] needs a seed (a whole number): every cell's seed derives from it"
        )
    out = {"rounds": 30, "n0": 10, "rewire": 0.1, "max_cells": DEFAULT_MAX_CELLS, **sweep}
    if not 0 <= out["seed"] <= INT64_MAX:
        raise ConfigError(f"[sweep] seed = {out['seed']}: use a whole number from 0 to {INT64_MAX}")
    if not 1 <= out["max_cells"] <= MAX_CELLS:
        raise ConfigError(f"[sweep] max_cells = {out['max_cells']}: use 1 to {MAX_CELLS:,}")
    out["rewire"] = float(out["rewire"])
    if not 0 <= out["rewire"] <= 1:
        raise ConfigError(f"[sweep] rewire = {out['rewire']} is not a probability")
    return out


def _section(raw: dict[str, Any], name: str, required: bool = False) -> dict[str, Any]:
    if name not in raw:
        if required:
            raise ConfigError(f"the grid needs a [{name}] section")
        return {}
    if not isinstance(raw[name], dict):
        raise ConfigError(f"'{name}' must be a [{name}] section, not a value")
    return raw[name]


def _only(table: dict[str, Any], allowed: Any, where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r} in {where}; allowed: {', '.join(sorted(allowed))}"
        )


def _check_type(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{where} = {value!r}: give {what}")


def _axis(axes: dict[str, Any], key: str) -> list[Any]:
    kind, what = _AXIS_KEYS[key]
    values = axes[key] if isinstance(axes[key], list) else [axes[key]]
    if not values:
        raise ConfigError(f"[axes] {key} is empty: give at least one value or leave it out")
    for value in values:
        _check_type(value, kind, f"[axes] {key} value", what)
    if len(set(values)) < len(values):
        raise ConfigError(f"[axes] {key} lists a value twice: {values}")
    if key == "q":
        values = [float(v) for v in values]
    if key == "networks":
        kinds = [kind for kind in NETWORK_KINDS if kind != "edge_list"]
        if bad := [v for v in values if v not in kinds]:
            raise ConfigError(f"[axes] networks: {bad[0]!r} is not one of {', '.join(kinds)}")
    return values


def _events(axes: dict[str, list[Any]], extra: dict[str, Event]) -> dict[str, Event]:
    """The grid's events by id; an event type stands for the first bundled event of that type
    (the stochastic model reads only an event's type)."""
    if "events" in axes and "event_types" in axes:
        raise ConfigError("[axes] give either events or event_types, not both")
    if "event_types" in axes:
        bundled = catalog()
        out = {}
        for event_type in axes["event_types"]:
            if event_type not in EVENT_TYPES:
                raise ConfigError(
                    f"[axes] event_types: unknown type {event_type!r}; use {', '.join(EVENT_TYPES)}"
                )
            first = next(e for e in bundled.values() if e.type == event_type)
            out[first.id] = first
        return out
    return {e: get_event(e, extra) for e in axes.get("events", ["battle-marren-ridge"])}


def _expanded_axes(
    axes: dict[str, list[Any]], raw: dict[str, Any], events: dict[str, Event]
) -> dict[str, list[Any]]:
    seeds = raw.get("seeds", 1)
    _check_type(seeds, int, "[axes] seeds", "a whole number of seed draws per cell")
    if seeds < 1:
        raise ConfigError(f"[axes] seeds = {seeds}: give at least 1 seed draw per cell")
    return {
        "event": list(events),
        "mix": axes.get("mixes", ["uniform"]),
        "q": axes.get("q", [0.0]),
        "n": axes.get("n", [1000]),
        "k": axes.get("k", [8]),
        "network": axes.get("networks", ["random_regular"]),
        "params": axes.get("params", ["illustrative"]),
        "replicates": axes.get("replicates", [3]),
        "seed_index": list(range(seeds)),
    }


def _mix(spec: str, base: Path) -> PersonalityMix:
    """A mix spec; a .json file is read relative to the grid file, keeping its spec as name."""
    if spec.endswith(".json"):
        return parse_mix(str(base / spec))
    return parse_mix(spec)


def _table(label: str, base: Path) -> ParameterTable:
    if label == "illustrative":
        return ParameterTable.illustrative()
    return ParameterTable.from_csv(base / label)


def _llm_section(section: dict[str, Any]) -> dict[str, Any]:
    """[llm] checked for known keys and types (the values are checked when the LLM backend is
    configured); an API key is refused: keys never go in files."""
    if "api_key" in section:
        raise ConfigError(
            "[llm] api_key: keys never go in files; set OPENAI_API_KEY (or give an API key to "
            "the command)"
        )
    _only(section, _LLM_KEYS, "[llm]")
    for key, (kind, what) in _LLM_KEYS.items():
        if key in section:
            _check_type(section[key], kind, f"[llm] {key}", what)
    return dict(section)


def _check_scenarios(grid: Grid) -> None:
    """Build every distinct scenario shape once so a bad N, k, n0 or rounds fails up front."""
    seen = set()
    for n, k, network, replicates in itertools.product(
        grid.axes["n"], grid.axes["k"], grid.axes["network"], grid.axes["replicates"]
    ):
        if (n, k, network, replicates) in seen:
            continue
        seen.add((n, k, network, replicates))
        event = next(iter(grid.events.values()))
        mix = next(iter(grid.mixes.values()))
        for q in grid.axes["q"]:
            try:
                Scenario(
                    event=event,
                    mix=mix,
                    network=NetworkSpec(kind=network, n=n, k=k, rewire=grid.rewire),
                    rounds=grid.rounds,
                    q=q,
                    n0=grid.n0,
                    replicates=replicates,
                )
            except SpreadLabError as exc:
                raise ConfigError(
                    f"cell with network {network}, N = {n}, k = {k}, q = {q}, replicates = "
                    f"{replicates}: {exc}"
                ) from None
