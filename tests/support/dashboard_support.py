"""Small databases for the dashboard tests: two ordinary stochastic scenarios and a run whose
event report and posts carry HTML/JS payloads (to prove they render as inert text)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from spreadlab.engine.policy import ConsultationBatch, Decisions
from spreadlab.engine.simulate import Scenario
from spreadlab.engine.stochastic import StochasticPolicy
from spreadlab.errors import Cancelled
from spreadlab.jobs.runner import Progress, run_scenario
from spreadlab.store.runs import RunStore
from spreadlab.world.events import Event, catalog
from spreadlab.world.networks import NetworkSpec
from spreadlab.world.personas import PRESETS

PAYLOAD = "<script>alert('xss-script')</script><img src=x onerror=\"alert('xss-img')\">"
MARKDOWN_PAYLOAD = "![pixel](http://203.0.113.9/pixel.png) [click](javascript:alert('md'))"
XSS_EVENT = Event(
    id="xss-riot",
    type="riots",
    title=f"Riot {PAYLOAD} {MARKDOWN_PAYLOAD} see www.example.org or mail@example.org",
    report=f"Crowds gathered downtown. {PAYLOAD} Police made arrests.",
)


class PayloadPolicy:
    """Every consulted agent posts, and every post text carries the payload."""

    backend = "test-payload"

    def prepare(self, profiles: np.ndarray, event: Event) -> None:
        """Nothing to prepare."""

    def decide(self, batch: ConsultationBatch, rng: np.random.Generator) -> Decisions:
        texts = [f"agent {a} says {PAYLOAD} {MARKDOWN_PAYLOAD}" for a in batch.agents]
        return Decisions(post=np.ones(len(batch), dtype=bool), texts=list(texts))

    def provenance(self) -> dict[str, Any]:
        return {"backend": self.backend, "synthetic": True, "note": "test payload policy"}


def scenario(n: int = 120, k: int = 6, replicates: int = 2, q: float = 0.01, **kw) -> Scenario:
    """A small stochastic scenario on the first catalog event."""
    return Scenario(
        event=catalog()["battle-marren-ridge"],
        mix=PRESETS[kw.pop("mix", "uniform")],
        network=NetworkSpec("random_regular", n=n, k=k),
        rounds=kw.pop("rounds", 25),
        q=q,
        n0=kw.pop("n0", 5),
        replicates=replicates,
        seed=kw.pop("seed", 3),
    )


def build_db(
    path: Path, *, xss: bool = True, large: bool = False, interrupted: bool = False
) -> dict[str, list[str]]:
    """Write the test runs into a fresh database at ``path``; return run ids by scenario name."""
    ids: dict[str, list[str]] = {}
    with RunStore(path) as store:
        policy = StochasticPolicy()
        ids["uniform"] = run_scenario(store, scenario(), policy, scenario_id="t-uniform")
        ids["extraverted"] = run_scenario(
            store, scenario(mix="extraverted", seed=4), policy, scenario_id="t-extraverted"
        )
        if xss:
            xss_scenario = Scenario(
                event=XSS_EVENT,
                mix=PRESETS["uniform"],
                network=NetworkSpec("random_regular", n=40, k=4),
                rounds=6,
                q=0.0,
                n0=2,
                seed=5,
            )
            ids["xss"] = run_scenario(store, xss_scenario, PayloadPolicy(), scenario_id="t-xss")
        if interrupted:

            def stop(progress: Progress) -> None:
                if progress.round == 3:
                    raise Cancelled

            try:
                run_scenario(
                    store, scenario(replicates=1), policy, scenario_id="t-cut", on_progress=stop
                )
            except Cancelled:
                ids["interrupted"] = ["t-cut-000"]
        if large:
            ids["large"] = run_scenario(
                store,
                scenario(n=1500, k=6, replicates=1, q=0.002, rounds=12),
                policy,
                scenario_id="t-large",
            )
    return ids
