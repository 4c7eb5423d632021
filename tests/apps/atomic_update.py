"""An app whose update() hits a widget's key (used by tests/test_session_atomic.py)."""

import streamlit as st
from streamlit.errors import StreamlitAPIException

from picklecheck import SessionState

state = SessionState(st.session_state, mode="enforce")
st.text_input("Name", value="kept", key="name")
st.session_state.setdefault("a", 1)
try:
    state.update({"a": 2, "name": "changed", "b": 3})
except StreamlitAPIException:  # Streamlit refuses a widget's key once the widget exists
    st.session_state.outcome = "refused"
