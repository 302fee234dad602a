"""Scenario and run: build a scenario (event, personality mix, network, dynamics, backend), run
it with a progress bar, browse or delete stored runs, and upload a run exported elsewhere."""

import os
from contextlib import ExitStack

import streamlit as st

from spreadlab import glossary
from spreadlab.dashboard import actions, forms, labels, llm_form, ui
from spreadlab.engine.stochastic import ILLUSTRATIVE, StochasticPolicy
from spreadlab.errors import SpreadLabError
from spreadlab.jobs.policies import resume_policy, stored_endpoint, usage_report
from spreadlab.jobs.runner import Progress, resume_run, run_scenario
from spreadlab.store.runs import new_scenario_id
from spreadlab.world.events import EVENT_TYPE_LABELS, EVENT_TYPES, MAX_REPORT_CHARS, catalog
from spreadlab.world.personas import PRESETS, TRAIT_NAMES, TRAITS

st.set_page_config(page_title="Scenario and run · SpreadLab", layout="wide")
ui.sidebar()
st.title("Scenario and run")

NETWORK_LABELS = {
    "random_regular": "Random k-regular",
    "erdos_renyi": "Erdős–Rényi (mean degree k)",
    "watts_strogatz": "Watts–Strogatz small world (even k)",
    "barabasi_albert": "Barabási–Albert (about k links each)",
}

new_tab, stored_tab, upload_tab = st.tabs(["New run", "Stored runs", "Upload a run"])

with new_tab:
    st.subheader("1. Offline event")
    events = catalog()
    source = st.radio("Event", ["From the catalog", "My own report"], horizontal=True)
    event_args: dict[str, str] = {}
    if source == "From the catalog":
        event_id = st.selectbox(
            "Catalog event (fictional reports written for SpreadLab)",
            list(events),
            format_func=lambda e: f"{EVENT_TYPE_LABELS[events[e].type]}: {events[e].title}",
        )
        st.text(events[event_id].report)
        event_args["catalog_id"] = event_id
    else:
        event_args["title"] = st.text_input("Headline", value="")
        event_args["event_type"] = st.selectbox(
            "Event type (ACLED)", EVENT_TYPES, format_func=EVENT_TYPE_LABELS.__getitem__
        )
        event_args["report"] = st.text_area(
            "News report the seed agents read", max_chars=MAX_REPORT_CHARS, height=140
        )

    st.subheader("2. Personality mix")
    mix_mode = st.radio(
        "How to describe the mix",
        ["preset", "traits", "weights"],
        horizontal=True,
        format_func={
            "preset": "Preset",
            "traits": "Per-trait sliders",
            "weights": "Explicit weights",
        }.__getitem__,
    )
    mix_args: dict = {}
    if mix_mode == "preset":
        mix_args["preset"] = st.selectbox("Preset", list(PRESETS))
    elif mix_mode == "traits":
        st.caption("Probability that an agent is *high* in each Big Five trait (independent).")
        cols = st.columns(5)
        mix_args["traits"] = {
            t: col.slider(TRAIT_NAMES[t].capitalize(), 0.0, 1.0, 0.5, 0.05)
            for t, col in zip(TRAITS, cols, strict=True)
        }
    else:
        mix_args["weights"] = st.text_area(
            "Weights by profile (label or code 0–31); profiles not named get weight 0",
            placeholder="O+C-E+A-N+=2, O-C+E-A+N-=1, 7=0.5",
        )

    st.subheader("3. Network")
    c1, c2, c3, c4 = st.columns(4)
    kind = c1.selectbox("Type", list(NETWORK_LABELS), format_func=NETWORK_LABELS.__getitem__)
    n = c2.number_input("Agents N", min_value=2, max_value=100_000, value=200, step=100)
    k = c3.number_input(
        "Degree k", min_value=1, max_value=200, value=8, help=glossary.explain("k").capitalize()
    )
    seed = c4.number_input("Seed", min_value=0, max_value=2**31 - 1, value=1)
    rewire = 0.1
    if kind == "watts_strogatz":
        rewire = st.slider("Rewiring probability", 0.0, 1.0, 0.1, 0.05)

    st.subheader("4. Dynamics")
    d1, d2, d3, d4 = st.columns(4)
    rounds = d1.number_input(
        "Rounds",
        min_value=1,
        max_value=500,
        value=30,
        help="The last round R: round 0 is the offline seeding, then rounds 1 to R are played.",
    )
    q = d2.number_input(
        "q: offline reach per round",
        min_value=0.0,
        max_value=1.0,
        value=0.0,
        step=0.001,
        format="%g",
        help=glossary.term("q").meaning.capitalize() + ".",
    )
    n0 = d3.number_input(
        "Seed agents n0",
        min_value=1,
        max_value=100_000,
        value=10,
        help=glossary.term("n0").meaning.capitalize() + ".",
    )
    replicates = d4.number_input("Replicates", min_value=1, max_value=20, value=1)

    try:
        scenario = forms.build_scenario(
            forms.build_event(**event_args),
            forms.build_mix(mix_mode, **mix_args),
            network_kind=kind,
            n=n,
            k=k,
            seed=seed,
            rounds=rounds,
            q=q,
            n0=n0,
            replicates=replicates,
            rewire=rewire,
        )
        problem = None
    except SpreadLabError as exc:
        scenario, problem = None, exc

    st.subheader("5. Backend")
    backend = st.radio(
        "Who decides",
        ["stochastic", "llm"],
        horizontal=True,
        format_func={
            "stochastic": "Stochastic agent model (synthetic)",
            "llm": "LLM agents (OpenAI-compatible endpoint)",
        }.__getitem__,
    )
    settings: dict = {}
    if backend == "stochastic":
        st.caption(
            "\n".join(
                [
                    "Stochastic runs draw each decision from P(post) = 1 − (1 − a·o)(1 − b)^m:",
                    *(f"- {labels.md_escape(line)}" for line in glossary.explain_lines(*"aobm")),
                    f"\nThe values of a and b come from the default parameter table "
                    f"({ILLUSTRATIVE}). These runs are labelled synthetic everywhere.",
                ]
            )
        )
    else:
        settings = llm_form.endpoint_fields()
        if scenario is not None:
            try:
                estimate = actions.llm_estimate(scenario, settings)
            except SpreadLabError as exc:
                st.warning(labels.md_escape(f"No estimate yet: {labels.for_dashboard(exc)}"))
            else:
                st.info(
                    labels.md_escape(f"Estimate before you run: {estimate.summary()}."),
                    icon=":material/payments:",
                )

    if st.button("Run", type="primary"):
        if scenario is None:
            ui.show_error(problem)
            st.stop()
        total = scenario.replicates * (scenario.rounds + 1)
        scenario_id = new_scenario_id()
        # Finished replicates stay if a click stops the run; the one in flight is marked
        # 'interrupted' by the runner.
        try:
            with (
                ui.cancellable(
                    "run_in_flight",
                    "Cancel run",
                    "Stops after the current round; finished replicates stay.",
                    "Starting...",
                ) as bar,
                ui.open_store(release_when_idle=backend == "llm") as store,
                ExitStack() as stack,
            ):

                def report(p: Progress) -> None:
                    done = p.replicate * (p.rounds_max + 1) + p.round + 1
                    bar.progress(
                        min(done / total, 1.0),
                        text=f"Replicate {p.replicate + 1}/{p.replicates}, round {p.round}: "
                        f"{p.informed:,} of {p.n_agents:,} informed",
                    )

                policy = (
                    StochasticPolicy()
                    if backend == "stochastic"
                    else stack.enter_context(actions.llm_policy(store, scenario, settings))
                )
                run_ids = run_scenario(
                    store, scenario, policy, scenario_id=scenario_id, on_progress=report
                )
        except SpreadLabError as exc:
            ui.show_error(exc)
            st.stop()
        bar.progress(1.0, text="Done")
        st.session_state["run_id"] = run_ids[0]
        st.session_state["scenario_id"] = scenario_id
        st.success(
            f"Stored {len(run_ids)} run(s): {', '.join(run_ids)}. Open **Spread** to watch it."
        )
        if backend == "llm":  # invalid and refused decisions, calls, cache, tokens
            st.caption(labels.md_escape(usage_report(policy, policy.config.model)))
        st.page_link("pages/2_Spread.py", label="Watch the spread", icon=":material/hub:")
    elif ui.was_cancelled("run_in_flight"):
        st.warning(
            "The run was cancelled. Finished replicates are stored; the one in progress is marked "
            "'interrupted': resume or delete it under Stored runs."
        )

with stored_tab:
    all_runs = ui.runs()
    if all_runs.empty:
        st.info("No runs stored yet.")
    else:
        ui.provenance_banner(all_runs)
        st.dataframe(
            all_runs.drop(columns=["scenario_id"]).assign(
                rounds_done=(all_runs["rounds_done"] - 1).clip(lower=0)
            ),
            hide_index=True,
            width="stretch",
            column_config={
                "final_informed_fraction": st.column_config.ProgressColumn(
                    "final informed", min_value=0.0, max_value=1.0, format="percent"
                ),
                "rounds_done": st.column_config.NumberColumn(
                    "rounds", help="Rounds played after the offline seeding (round 0)."
                ),
            },
        )
        chosen = ui.pick_run(all_runs, "Selected run (used on the other pages)")
        row = all_runs.set_index("run_id").loc[chosen] if chosen else None
        status = row["status"] if row is not None else None
        resume_opts: dict = {}
        if status == "interrupted" and row["backend"] == "llm":
            with ui.open_store() as store:
                made_at = stored_endpoint(store, chosen)
            resume_opts["base_url"] = st.text_input(
                "Endpoint to resume against (your key goes only here)",
                value=os.environ.get("OPENAI_BASE_URL") or made_at,
                help="The run's own endpoint is shown unless OPENAI_BASE_URL is set.",
            )
            st.caption(
                labels.md_escape(
                    f"This run was made against {made_at or 'an unrecorded endpoint'}."
                )
            )
            resume_opts["api_key"] = (
                st.text_input(
                    "Key to resume this LLM run (not needed for local servers)",
                    type="password",
                    help="Used for this resume only and never stored. Leave empty to use "
                    "OPENAI_API_KEY from the environment.",
                )
                or None
            )
        if status == "interrupted" and st.button(
            "Resume this run", help="Continues from its last stored round, same randomness."
        ):
            resume_bar = st.progress(0.0, text="Resuming...")

            def resumed(p: Progress) -> None:
                resume_bar.progress(
                    min((p.round + 1) / (p.rounds_max + 1), 1.0),
                    text=f"Round {p.round}: {p.informed:,} of {p.n_agents:,} informed",
                )

            try:
                with (
                    ui.open_store(release_when_idle=True) as store,
                    resume_policy(store, chosen, resume_opts) as policy,
                ):
                    resume_run(store, chosen, policy, on_progress=resumed)
            except SpreadLabError as exc:
                ui.show_error(exc)
            else:
                st.success(labels.md_escape(f"Run {chosen} is complete."))
        if chosen and st.button("Delete this run", help="Removes the run and all its records."):
            try:
                with ui.open_store() as store:
                    store.delete_run(chosen)
            except SpreadLabError as exc:
                ui.show_error(exc)
            else:
                st.session_state.pop("run_id", None)
                st.rerun()

with upload_tab:
    st.markdown(
        "Upload a run exported from SpreadLab (the `.zip` from the Export page) or made by "
        "another tool in the documented run-folder format. It is checked completely before "
        "anything is written."
    )
    upload = st.file_uploader("Run archive (.zip)", type=["zip"])
    new_id = st.text_input(
        "Another run id (optional)",
        help="Stores the run under this id, e.g. when one with its own id is already here.",
    )
    if upload is not None and st.button("Import", key="import_run"):
        try:
            with ui.open_store() as store:
                run_id = actions.import_archive(
                    store, upload.getvalue(), upload.name, new_id.strip()
                )
        except SpreadLabError as exc:
            ui.show_error(exc)
        else:
            st.session_state["run_id"] = run_id
            st.success(labels.md_escape(f"Imported run {run_id}."))
