"""A stale function and a generator in session state (used by tests/test_streamlit_range.py)."""

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()


def helper(value):
    """Defined in the app script: every rerun defines a new __main__.helper."""
    return value


if "helper" not in st.session_state:
    st.session_state.helper = helper
    st.session_state.rows = (n for n in range(3))
