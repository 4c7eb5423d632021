"""An app that keeps a Streamlit element and, where SQLAlchemy is installed, a Streamlit
connection in session state (used by tests/test_streamlit.py)."""

import os

import streamlit as st

from picklecheck.streamlit import enable

enable()

if "slot" not in st.session_state:
    st.session_state.slot = st.empty()
if os.environ.get("ELEMENTS_STATE_CONNECTION") and "db" not in st.session_state:
    st.session_state.db = st.connection("local_db", type="sql", url="sqlite://")
st.write("ready")
