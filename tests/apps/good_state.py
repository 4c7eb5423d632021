"""An app whose session state pickles, with a keyed widget (used by tests/test_streamlit.py)."""

import datetime

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()

st.session_state.setdefault("history", [])
st.session_state.history.append({"at": datetime.date(2024, 1, 1), "values": (1, 2.5, "x")})
st.session_state.settings = {"theme": "dark", "limits": [1, 2, 3]}
st.selectbox("Colour", ["red", "green"], key="colour")
st.number_input("Count", value=3, key="count")
st.write(len(st.session_state.history))
