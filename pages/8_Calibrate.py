"""Calibrate: measure the agent model's a and b for every personality profile and event type from
an LLM (the experiment of 'spreadlab calibrate'), see a stored calibration as heatmaps, trait
effects and a persona check, take its table away, and run a large scenario with it."""

import streamlit as st

from spreadlab.dashboard import calibration as calib
from spreadlab.dashboard import calibration_figures as cf
from spreadlab.dashboard import forms, labels, llm_form, ui
from spreadlab.errors import SpreadLabError
from spreadlab.validate import slug
from spreadlab.world.events import EVENT_TYPE_LABELS, catalog
from spreadlab.world.personas import PRESETS

st.set_page_config(page_title="Calibrate · SpreadLab", layout="wide")
ui.sidebar()
st.title("Calibrate the agent model from an LLM")
st.markdown(
    "A designed experiment asks an LLM, in each of the 32 personas, whether it would post about "
    "an event: reached by the report offline with no posting neighbour, with *m* posting "
    "neighbours and no report, and with both, several times each, with exactly the prompt a "
    "network run sends. From the answers come *a* (posting on the offline report) and *b* (per "
    "posting neighbour) for every profile and event type, with intervals: a table the stochastic "
    "agent model can run at any N, as the surrogate of that model."
)
events = catalog()
results_tab, new_tab = st.tabs(["Stored calibrations", "New calibration"])

with new_tab:
    settings = llm_form.endpoint_fields("calibration")
    chosen_events = st.multiselect(
        "Events (the table needs one of every type)",
        list(events),
        default=calib.default_event_ids(),
        format_func=lambda e: f"{EVENT_TYPE_LABELS[events[e].type]}: {events[e].title}",
    )
    c1, c2, c3 = st.columns(3)
    repeats = c1.number_input("Repeats R (answers per probe)", 1, 1000, 10)
    ms = c2.multiselect(
        "Posting neighbours m probed",
        calib.M_CHOICES,
        default=[1, 2, 4],
        help="Exposure design: each m is asked without the report and with it; the report "
        "alone (m = 0) is always asked.",
    )
    seed = c3.number_input("Seed (feeds and cache tags)", 0, 2**31 - 1, 0)
    c4, c5, c6 = st.columns(3)
    use = c4.radio("Table values", list(cf.SOURCES), format_func=cf.SOURCES.get)
    bank = c5.radio(
        "Feed posts",
        ["store", "neutral"],
        format_func={
            "store": "Posts of earlier LLM runs (neutral where none)",
            "neutral": "Neutral posts written by SpreadLab",
        }.get,
    )
    check_personas = c6.checkbox("Persona check (20-item Mini-IPIP)", value=True)
    try:
        design = calib.design(chosen_events, repeats, ms, seed)
        estimate = calib.estimate(settings, design)
        problem = None
    except SpreadLabError as exc:
        design, problem = None, exc
        st.warning(labels.md_escape(f"No estimate yet: {labels.for_dashboard(exc)}"))
    else:
        extra = (
            f" The persona check adds {calib.persona_answers(design.repeats):,} questions "
            "(one call each, not in this bound)."
            if check_personas
            else ""
        )
        st.info(
            labels.md_escape(
                f"Design: {calib.describe(design)}. Estimate before you start: "
                f"{estimate.summary()}.{extra}"
            ),
            icon=":material/payments:",
        )

    start = st.button("Start calibration", type="primary")
    if start and design is None:
        ui.show_error(problem)
    elif start and design is not None:
        # The answers so far stay in the replay cache when a click stops the calibration.
        try:
            with (
                ui.cancellable(
                    "calibration_in_flight",
                    "Cancel calibration",
                    "Stops after the current batch of answers.",
                    "Checking the endpoint...",
                ) as bar,
                ui.open_store(release_when_idle=True) as store,
            ):

                def report(done: int, total: int) -> None:
                    bar.progress(
                        done / total, text=f"{done} of {total} batches (one event, one repeat)"
                    )

                def persona_report(done: int, total: int) -> None:
                    bar.progress(
                        done / total, text=f"Persona check: {done} of {total} batches of personas"
                    )

                done = calib.run_calibration(
                    store,
                    settings,
                    design,
                    bank=bank,
                    use=use,
                    check_personas=check_personas,
                    on_progress=report,
                    on_persona_progress=persona_report,
                )
        except SpreadLabError as exc:
            ui.show_error(exc)
            st.caption(
                "The answers so far are in the replay cache: starting again (with a larger "
                "budget if it ran out) asks only the rest."
            )
        else:
            bar.progress(1.0, text="Done")
            st.session_state["calibration_id"] = done.calibration_id
            st.success(
                labels.md_escape(f"Stored calibration {done.calibration_id}: {done.provenance}.")
                + " See **Stored calibrations**."
            )
            if done.persona:
                st.caption(labels.md_escape(f"Persona check: {done.persona}."))
            st.caption(labels.md_escape(done.usage))
    elif ui.was_cancelled("calibration_in_flight"):
        st.warning(
            "The calibration was cancelled. Nothing was stored; the answers so far are in the "
            "replay cache, so starting it again asks only the rest."
        )

with results_tab:
    try:
        with ui.open_store() as store:
            stored = calib.stored_calibrations(store)
    except SpreadLabError as exc:
        ui.show_error(exc)
        st.stop()
    if stored.empty:
        st.info(
            "No calibrations in this database yet. Start one under **New calibration**, or from "
            "the command line with 'spreadlab calibrate' (docs/llm.md)."
        )
        st.stop()
    names = {
        r.calibration_id: f"{r.model} at {r.endpoint_host} · {r.created_at:%Y-%m-%d %H:%M} · "
        f"{r.decisions:,} decisions · {r.calibration_id}"
        for r in stored.itertuples()
    }
    ids = list(names)
    current = st.session_state.get("calibration_id")
    picked = st.selectbox(
        "Calibration", ids, index=ids.index(current) if current in ids else 0, format_func=names.get
    )
    try:
        with ui.open_store() as store:
            shown = calib.load(store, picked)
        a_map, b_map = cf.rate_heatmap(shown, "a"), cf.rate_heatmap(shown, "b")
    except SpreadLabError as exc:
        ui.show_error(exc)
        st.stop()
    model = str(shown.meta.get("model"))
    st.caption(
        labels.md_escape(
            f"Measured from model {model} at {shown.meta.get('endpoint_host')}: each square is a "
            f"per-round probability ({cf.SOURCES.get(shown.uses, shown.uses)}); hover for the "
            "exact 95% interval of the cell and the trait-effect model's value and interval."
        )
    )
    left, right = st.columns(2)
    left.plotly_chart(a_map, width="stretch", config={"displaylogo": False})
    right.plotly_chart(b_map, width="stretch", config={"displaylogo": False})

    st.subheader("Which traits make this model share?")
    forest = cf.forest(shown)
    if forest is None:
        st.info(
            "This calibration was stored without its trait effects (an older version made it). "
            "Calibrating again with the same settings replays every answer from the cache."
        )
    else:
        st.plotly_chart(forest, width="stretch", config={"displaylogo": False})
        st.caption(
            "Log-odds ratio of each trait, high versus low, and of each event type against the "
            "baseline: right of zero means more sharing."
        )

    st.subheader("Does the model take the personalities on?")
    if shown.persona:
        st.markdown(
            labels.md_escape(
                f"Mini-IPIP, high versus low personas: {cf.persona_summary(shown.persona)}."
            )
        )
        st.dataframe(cf.persona_rows(shown.persona), hide_index=True, width="stretch")
    else:
        st.info("No persona check is stored with this calibration.")

    st.subheader("Where these numbers come from")
    st.dataframe(cf.provenance_rows(shown), hide_index=True, width="stretch", height="content")
    st.download_button(
        "Download the table (CSV, the format 'spreadlab run --params' reads)",
        shown.table_csv,
        file_name=f"spreadlab_{slug(shown.calibration_id)}.csv",
        mime="text/csv",
    )

    st.subheader("Run a large scenario with this table")
    st.markdown(
        labels.md_escape(
            f"The stochastic agent model with these a and b: its runs are stored as the "
            f"stochastic surrogate of {model} — neither LLM agents nor the illustrative table."
        )
    )
    r1, r2, r3, r4 = st.columns(4)
    event_id = r1.selectbox(
        "Event",
        list(events),
        format_func=lambda e: f"{EVENT_TYPE_LABELS[events[e].type]}: {events[e].title}",
    )
    mix = r2.selectbox("Personality mix", list(PRESETS))
    n = r3.number_input("Agents N", 2, 1_000_000, 100_000, step=10_000)
    k = r4.number_input("Degree k", 1, 200, 8)
    r5, r6, r7, r8 = st.columns(4)
    rounds = r5.number_input("Rounds", 1, 500, 30)
    q = r6.number_input("q: offline reach per round", 0.0, 1.0, 0.01, 0.001, format="%g")
    n0 = r7.number_input("Seed agents n0", 1, 100_000, 10)
    run_seed = r8.number_input("Seed", 0, 2**31 - 1, 1)
    if st.button("Run with the calibrated table", type="primary"):
        run_bar = st.progress(0.0, text="Building the network...")
        try:
            scenario = forms.build_scenario(
                forms.build_event(catalog_id=event_id),
                forms.build_mix("preset", preset=mix),
                network_kind="random_regular",
                n=n,
                k=k,
                seed=run_seed,
                rounds=rounds,
                q=q,
                n0=n0,
                replicates=1,
            )
            with ui.open_store() as store:
                run_ids, table = calib.run_surrogate(
                    store,
                    shown,
                    scenario,
                    lambda p: run_bar.progress(
                        min((p.round + 1) / (p.rounds_max + 1), 1.0),
                        text=f"Round {p.round}: {p.informed:,} of {p.n_agents:,} informed",
                    ),
                )
        except SpreadLabError as exc:
            ui.show_error(exc)
        else:
            run_bar.progress(1.0, text="Done")
            st.session_state["run_id"] = run_ids[0]
            st.success(labels.md_escape(f"Stored run {run_ids[0]}: {table.provenance}."))
            st.page_link("pages/2_Spread.py", label="Watch the spread", icon=":material/hub:")

    st.subheader("Does the surrogate reproduce the model's spread?")
    st.markdown(
        "A small scenario (uniform mix, random-regular k = 8, q = 0.02, 15 rounds) runs directly "
        "with the LLM, several replicates, and 200 times with this table. The surrogate "
        "reproduces the model's spread when its mean curve stays inside the LLM replicates' "
        "pointwise 95% range at every round. The calibrated model is asked at the endpoint, "
        "with the key, given under **New calibration**."
    )
    v1, v2, v3 = st.columns(3)
    validate_event = v1.selectbox(
        "Event to validate on",
        list(events),
        format_func=lambda e: f"{EVENT_TYPE_LABELS[events[e].type]}: {events[e].title}",
    )
    validate_n = v2.number_input("Agents N of the LLM runs", 20, 5_000, 200, step=50)
    validate_reps = v3.number_input("LLM replicates (5 or more)", 5, 50, 5)
    validate_settings = {**settings, "model": model}
    try:
        scenario = calib.validation_scenario(validate_event, validate_n, validate_reps, seed)
        check_estimate = calib.validation_estimate(validate_settings, scenario)
        host = calib.endpoint_host(validate_settings)
    except SpreadLabError as exc:
        scenario = None
        st.warning(labels.md_escape(f"No estimate yet: {labels.for_dashboard(exc)}"))
    else:
        st.info(
            labels.md_escape(f"Estimate before you validate: {check_estimate.summary()}."),
            icon=":material/payments:",
        )
        if host != shown.meta.get("endpoint_host"):
            st.warning(
                labels.md_escape(
                    f"The endpoint under New calibration ({host}) is not the one calibrated "
                    f"({shown.meta.get('endpoint_host')}): the check asks {model} there."
                )
            )
    if scenario is not None and st.button("Validate with the LLM"):
        # The LLM's answers so far stay in the replay cache when a click stops the check.
        try:
            with (
                ui.cancellable(
                    "validation_in_flight",
                    "Cancel validation",
                    "Stops after the current round of the LLM.",
                    "Checking the endpoint...",
                ) as check_bar,
                ui.open_store(release_when_idle=True) as store,
            ):

                def checked(done: int, total: int) -> None:
                    check_bar.progress(
                        min(done / total, 1.0),
                        text=f"{done} of at most {total} LLM rounds (replicates × rounds); "
                        "then the surrogate's 200 runs",
                    )

                check = calib.validate(store, validate_settings, shown, scenario, checked)
        except SpreadLabError as exc:
            ui.show_error(exc)
        else:
            check_bar.progress(1.0, text="Done")
            verdict = labels.md_escape(check.verdict()[0].upper() + check.verdict()[1:] + ".")
            (st.success if check.reproduces else st.warning)(verdict)
            st.plotly_chart(cf.validation_figure(check), width="stretch")
    elif ui.was_cancelled("validation_in_flight"):
        st.warning(
            "The validation was cancelled. The LLM's answers so far are in the replay cache, so "
            "validating again asks only the rest."
        )
