"""Run scenarios into the store, round by round, and resume interrupted runs.

This is where the simulation and the store meet: each replicate's set-up is written in one
transaction and its rounds in others (with the generator's state after the last of them), so a run
that stops for any reason can continue from its last committed round with the same randomness.

A run that holds the database file (a stochastic run: its rounds take milliseconds) commits its
rounds together at most every :data:`COMMIT_EVERY_S` seconds, as each commit syncs the file to
disk; a run that lets go of the file between rounds (an LLM run, whose rounds take seconds)
commits every round. A run stopped by an exception (a cancel, a failing policy) commits its
complete rounds first and is marked 'interrupted'; a killed one loses its uncommitted rounds.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from spreadlab.engine.policy import Policy
from spreadlab.engine.simulate import (
    Scenario,
    Simulation,
    SimulationState,
    plan_replicates,
    replicate_streams,
)
from spreadlab.errors import StoreError
from spreadlab.store.liveness import other_live_writer, record_writer
from spreadlab.store.runs import RunMeta, RunStore, new_scenario_id
from spreadlab.validate import generator_state
from spreadlab.world.events import Event
from spreadlab.world.networks import Network
from spreadlab.world.records import RoundRecord

COMMIT_EVERY_S = 1.0
"""Longest time a run holding the file keeps complete rounds before committing them."""


@dataclass(frozen=True)
class Progress:
    """Reported after every round: which replicate, which round, how many informed."""

    run_id: str
    replicate: int
    replicates: int
    round: int
    rounds_max: int
    informed: int
    n_agents: int


ProgressCallback = Callable[[Progress], None]


def run_scenario(
    store: RunStore,
    scenario: Scenario,
    policy: Policy,
    *,
    scenario_id: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[str]:
    """Simulate every replicate of ``scenario`` with ``policy`` into ``store``; return run ids.

    A :class:`spreadlab.errors.Cancelled` raised by ``on_progress`` marks the current run
    'interrupted' (resumable) and stops; runs already finished stay complete.
    """
    scenario_id = scenario_id or new_scenario_id()
    run_ids: list[str] = []
    for plan in plan_replicates(scenario):
        meta = replicate_meta(scenario, scenario_id, plan.replicate, plan.network, policy)
        run_id = store.create_run(meta, plan.network, plan.profiles)
        run_ids.append(run_id)
        simulation = Simulation.for_replicate(scenario, plan, policy)
        _play(store, run_id, simulation, scenario.replicates, plan.replicate, on_progress)
    return run_ids


def replicate_meta(
    scenario: Scenario, scenario_id: str, replicate: int, network: Network, policy: Policy
) -> RunMeta:
    """The run row's description of replicate ``replicate`` of ``scenario`` on ``network``."""
    network_params = dict(network.params)
    if scenario.stop_fraction is not None:
        network_params["stop_fraction"] = scenario.stop_fraction
    return RunMeta(
        scenario_id=scenario_id,
        replicate=replicate,
        seed=scenario.seed,
        provenance={
            **policy.provenance(),
            "seed": scenario.seed,
            "replicate": replicate,
            "seed_derivation": "numpy SeedSequence(seed).spawn(replicates)[replicate]"
            ".spawn(3) -> network, profiles, simulation",
        },
        event=scenario.event.to_dict(),
        mix_name=scenario.mix.name,
        mix_weights=list(scenario.mix.weights),
        network_kind=network.kind,
        network_params=network_params,
        rounds_max=scenario.rounds,
        q=scenario.q,
        n0=scenario.n0,
    )


class _PendingRounds:
    """Complete rounds not yet committed, written together once ``hold_s`` has passed since the
    first of them, when the run finishes, or when :meth:`commit` is called."""

    def __init__(self, store: RunStore, run_id: str, hold_s: float) -> None:
        self.store, self.run_id, self.hold_s = store, run_id, hold_s
        self.records: list[RoundRecord] = []
        self.since = 0.0
        self.rng_state: Mapping[str, Any] | None = None
        self.finished = False
        self.committed_finish = False

    def add(self, record: RoundRecord, rng_state: Mapping[str, Any], finished: bool) -> None:
        if not self.records:
            self.since = time.monotonic()
        self.records.append(record)
        self.rng_state, self.finished = rng_state, finished
        if finished or time.monotonic() - self.since >= self.hold_s:
            self.commit()

    def commit(self) -> None:
        """Write the pending rounds in one transaction (dropped, not retried, if it fails)."""
        records, self.records = self.records, []
        if records:
            self.store.write_rounds(self.run_id, records, self.rng_state, self.finished)
            self.committed_finish = self.finished


def _play(
    store: RunStore,
    run_id: str,
    simulation: Simulation,
    replicates: int,
    replicate: int,
    on_progress: ProgressCallback | None,
) -> None:
    pending = _PendingRounds(store, run_id, 0.0 if store.releases_when_idle else COMMIT_EVERY_S)
    finished = False
    try:
        while not finished:
            record = simulation.step()
            finished = simulation.finished  # decided once per round, stored with the round
            pending.add(record, simulation.rng.bit_generator.state, finished)
            if on_progress is not None:
                on_progress(
                    Progress(
                        run_id,
                        replicate,
                        replicates,
                        record.round,
                        simulation.rounds,
                        record.informed,
                        simulation.network.n,
                    )
                )
    except BaseException:
        if not pending.committed_finish:
            pending.commit()
            store.set_status(run_id, "interrupted")
        raise


def resume_run(
    store: RunStore, run_id: str, policy: Policy, on_progress: ProgressCallback | None = None
) -> None:
    """Continue a run from its last stored round with its stored generator state."""
    stored = store.load_run(run_id)
    meta = stored.meta
    if meta["status"] == "complete":
        raise StoreError(f"run {run_id} is already complete; nothing to resume")
    if meta["status"] == "running" and (writer := other_live_writer(store.con, run_id)):
        raise StoreError(
            f"run {run_id} is still being written by {writer}; let it finish, or stop that "
            "process and resume then"
        )
    done = int(meta["rounds_done"])
    decisions = stored.decisions
    posts = decisions[decisions["post"]]
    texts = {int(a): t for a, t in zip(posts["agent"], posts["text"], strict=True) if t is not None}
    state = SimulationState.from_posts(
        stored.network,
        posts["agent"].to_numpy(np.int64),
        posts["round"].to_numpy(np.int32),
        texts,
        next_round=done,
    )
    rng = np.random.default_rng()
    params = json.loads(meta["network_params"])
    if meta["rng_state"] is not None:
        rng.bit_generator.state = generator_state(meta["rng_state"], f"run {run_id}'s rng_state")
    elif done > 0:
        raise StoreError(f"run {run_id} has no stored generator state; it cannot be resumed")
    else:
        rng = np.random.default_rng(replicate_streams(int(meta["seed"]), int(meta["replicate"]))[2])
    event = Event(
        id=meta["event_id"],
        type=meta["event_type"],
        title=meta["event_title"] or "",
        report=meta["event_report"],
    )
    simulation = Simulation(
        stored.network,
        stored.profiles,
        event,
        policy,
        rounds=int(meta["rounds_max"]),
        q=float(meta["q"]),
        n0=int(meta["n0"]),
        rng=rng,
        run_seed=int(meta["seed"]),
        stop_fraction=params.get("stop_fraction"),
        state=state,
    )
    with store.transaction():
        record_writer(store.con, run_id)
        store.set_status(run_id, "running")
    if done > 0 and simulation.finished:
        store.set_status(run_id, "complete")
        return
    _play(store, run_id, simulation, 1, int(meta["replicate"]), on_progress)
