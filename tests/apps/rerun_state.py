"""An app whose state mostly does not change between reruns (tests/test_streamlit_range.py)."""

import os
import sys

import streamlit as st

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # for `counting`

from counting import Counted  # noqa: E402

import picklecheck.streamlit  # noqa: E402

picklecheck.streamlit.enable(full_check_every=st.session_state.get("every", 30.0))

if "box" not in st.session_state:
    st.session_state.box = [Counted()]
    st.session_state.rows = [{"id": i} for i in range(1000)]
if st.session_state.get("grow"):
    st.session_state.box.append(1)
if st.session_state.get("deep"):
    st.session_state.rows[500]["extra"] = (i for i in range(3))
st.write(len(st.session_state.box))
