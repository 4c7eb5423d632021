"""Widgets without key= whose values do not pickle (used by tests/test_streamlit_range.py)."""

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()


@st.cache_resource
def scales():
    """The same option objects on every run (Streamlit 1.30 refuses a value not among them)."""
    return [lambda v: v * 2, lambda v: v * 10]


st.selectbox("Scale", scales())
st.radio("Speed `fast`", scales())
