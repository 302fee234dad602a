"""Streamlit glue and what only the dashboard needs; the only package that imports streamlit."""
