"""Keys that Markdown would misread, and a long path (used by tests/test_streamlit_range.py)."""

import threading

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()

st.session_state["a`b"] = threading.Lock()
st.session_state["**bold** [link](x)"] = {"handlers": [{"callback": lambda: 0}]}
st.write("done")
