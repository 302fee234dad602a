"""The LLM endpoint fields shared by the Scenario and Calibrate pages: base URL, model, API key (a
password field, used for one action and never stored), temperature, budget and reply timeout."""

from __future__ import annotations

import os
from typing import Any

import streamlit as st

from spreadlab.dashboard import forms
from spreadlab.settings import current as current_settings


def endpoint_fields(action: str = "run") -> dict[str, Any]:
    """The fields in two columns; returns :func:`forms.llm_settings` of what was entered. The
    key's help says it serves this ``action`` only."""
    b1, b2 = st.columns(2)
    base_url = b1.text_input(
        "Endpoint base URL",
        value=os.environ.get("OPENAI_BASE_URL", ""),
        placeholder="empty: OpenAI; Ollama: http://localhost:11434/v1",
    )
    model = b2.text_input("Model", value=current_settings().model)
    api_key = b1.text_input(
        "API key (not needed for local servers)",
        type="password",
        help=f"Used for this {action} only and never stored. Leave empty to use OPENAI_API_KEY "
        "from the environment.",
    )
    if os.environ.get("OPENAI_API_KEY"):
        b1.caption("OPENAI_API_KEY is set in the environment; it is used if the field is empty.")
    temperature = b2.slider("Temperature", 0.0, 2.0, 0.7, 0.1)
    max_calls = b2.number_input(
        "Budget: at most this many calls (0 = no limit)", min_value=0, value=0, step=1000
    )
    timeout = b1.number_input(
        "Seconds to wait for each reply", min_value=1.0, max_value=600.0, value=60.0
    )
    return forms.llm_settings(
        base_url=base_url,
        model=model,
        api_key=api_key,
        temperature=temperature,
        max_calls=max_calls,
        timeout=timeout,
    )
