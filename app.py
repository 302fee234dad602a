"""SpreadLab dashboard: home page (placeholder until the dashboard issue lands)."""

import streamlit as st

st.set_page_config(page_title="SpreadLab", layout="wide")
st.title("SpreadLab")
st.write(
    "SpreadLab shows how news of an offline event (a battle, a bombing, a riot) spreads through a "
    "social network of agents with different personalities. It fits one- and two-rate SI models "
    "to the spread, so you can see which simple model explains it."
)
st.info("The dashboard pages are being built; use the `spreadlab` command line meanwhile.")
