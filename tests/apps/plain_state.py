"""An app that does not call enable(): Streamlit's own check applies (tests/test_streamlit.py)."""

import threading

import streamlit as st

st.session_state.lock = threading.Lock()
