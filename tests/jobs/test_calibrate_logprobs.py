"""Calibration from token log-probabilities against the local server with hidden trait × event-type
rules (loopback only): coverage, replay, and the fallback when an endpoint refuses them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from calibration_server import calibration_server, hidden_table
from cli_runner import spreadlab
from llm_server import ServerConfig
from test_calibrate import config, hidden_effects

from spreadlab.jobs.calibrate import TOP_LOGPROBS, Design, calibrate, default_events
from spreadlab.jobs.cell_estimates import clopper_pearson, estimate_cells
from spreadlab.jobs.post_bank import stored_bank
from spreadlab.llm.policy import LLMPolicy
from spreadlab.store.runs import RunStore

REPEATS = 2  # the fewest that give every cell a spread to build its interval from: 2688 probes
CONCENTRATION = 10.0  # P(post) varies between consultations: Beta(κP, κ(1 - P)), sd ≈ 0.3·√(P(1-P))


def test_logprob_calibration_covers_the_hidden_rates_and_replays_with_no_request(tmp_path):
    design = Design(tuple(default_events()), REPEATS)
    with (
        calibration_server(logprobs=True, concentration=CONCENTRATION) as server,
        RunStore(tmp_path / "cal.duckdb") as store,
    ):
        bank = stored_bank(store.con, design.events)
        with LLMPolicy(config(server.base_url), store.con, top_logprobs=TOP_LOGPROBS) as policy:
            result = calibrate(policy, design, bank)
        asked = server.requests
        n = design.consultations
        assert result.meta["session"]["calls"] == n and result.meta["decisions_with_logprobs"] == n
        assert (
            result.meta["probability_from"] == f"token log-probabilities for {n} of {n} decisions"
        )
        assert f"P(post) from token log-probabilities for {n} of {n}" in result.provenance("cells")

        a, b = hidden_table()
        cells = result.cells
        cover_a = np.mean((cells.a_lo <= a) & (a <= cells.a_hi))
        cover_b = np.mean((cells.b_lo <= b) & (b <= cells.b_hi))
        assert np.all(cells.a_logprobs == REPEATS) and np.all(cells.b_logprobs == 3 * REPEATS)
        sampled = np.array(
            [clopper_pearson(int(k), REPEATS) for k in cells.a_posts.ravel()]
        )  # what the same probes' sampled answers alone would give
        widths = (np.mean(cells.a_hi - cells.a_lo), np.mean(sampled[:, 1] - sampled[:, 0]))
        print(f"cell coverage at 95%: a {cover_a:.3f}, b {cover_b:.3f}; mean width of a's "
              f"interval {widths[0]:.3f} (sampled answers alone: {widths[1]:.3f})")  # fmt: skip
        assert cover_a >= 0.9 and cover_b >= 0.9
        assert widths[0] < widths[1] / 2

        z = []
        for (channel, term), truth in hidden_effects().items():
            estimate, se = result.effects.effect(channel, term)
            z.append((estimate - truth) / se)
        z = np.abs(np.array(z))
        print(f"effects within 2 SE: {np.mean(z <= 2):.3f}; largest |z| {z.max():.2f}; "
              f"dispersion {result.effects.dispersion:.3f}")  # fmt: skip
        assert len(z) == 20 and np.mean(z <= 2) >= 0.9 and np.all(z <= 4)
        assert 0 < result.effects.dispersion < 0.5  # probabilities vary less than answers

        with LLMPolicy(config(server.base_url), store.con, top_logprobs=TOP_LOGPROBS) as policy:
            again = calibrate(policy, design, stored_bank(store.con, design.events))
        assert server.requests == asked, "a repeated calibration must replay from the cache"
        assert again.meta["session"] == {
            "calls": 0, "cache_hits": n, "prompt_tokens": 0, "completion_tokens": 0,
        }  # fmt: skip
        assert again.meta["cost"] == result.meta["cost"]  # what the answers cost to measure
        assert again.log.equals(result.log)
        assert np.array_equal(again.cells.a, cells.a) and np.array_equal(
            again.cells.b_hi, cells.b_hi
        )


def test_an_endpoint_that_refuses_logprobs_is_asked_without_once_and_the_cli_says_so(tmp_path):
    db, out = tmp_path / "cal.duckdb", tmp_path / "table.csv"
    refusing = ServerConfig(reject_logprobs=True)
    with calibration_server(refusing, logprobs=True) as server:
        args = ["calibrate", "--model", "sim-1", "--base-url", server.base_url, "--repeats", "1"]
        args += ["--m", "1", "--out", str(out), "--db", str(db)]
        first = spreadlab(*args)
        assert first.returncode == 0, first.stderr
        assert server.counts["logprobs_rejected"] == 1
        asked = server.requests
        assert asked == 32 * 6 * 3 + 1 + 1  # every probe once, the endpoint check, the refusal
        again = spreadlab(*args)
        assert again.returncode == 0, again.stderr
        assert server.requests == asked and server.counts["logprobs_rejected"] == 1
    said = "P(post) from sampled answers (the endpoint refused token log-probabilities)"
    assert said in first.stdout and said in again.stdout
    provenance = set(pd.read_csv(out)["provenance"])
    assert len(provenance) == 1 and said in provenance.pop()


def test_a_probe_without_a_probability_stands_in_with_its_sampled_answer():
    rows = [  # profile 0, battles: offline-only probes; one reply carried no usable logprobs
        {"offline": True, "m": 0, "post": post, "p_post": p, "valid": True}
        for post, p in ((True, 0.6), (False, 0.2), (True, np.nan), (False, 0.4))
    ]
    rows += [  # profile 1: sampled answers only, as before
        {"offline": True, "m": 0, "post": post, "p_post": np.nan, "valid": True}
        for post in (True, False, False, False)
    ]
    log = pd.DataFrame(rows).assign(profile=[0] * 4 + [1] * 4, event_type="battles")
    cells = estimate_cells(log)
    assert cells.a[0, 0] == pytest.approx((0.6 + 0.2 + 1.0 + 0.4) / 4)
    assert cells.a_logprobs[0, 0] == 3 and cells.a_logprobs[1, 0] == 0
    assert cells.a[1, 0] == 0.25 and (cells.a_lo[1, 0], cells.a_hi[1, 0]) == clopper_pearson(1, 4)
    assert cells.a_dispersion is not None and cells.a_lo[0, 0] < cells.a[0, 0] < cells.a_hi[0, 0]
