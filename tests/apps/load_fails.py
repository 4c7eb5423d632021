"""An app whose state dumps but cannot load back (used by tests/test_streamlit.py)."""

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()


def rebuild():
    raise RuntimeError("the token expired")


class Token:
    def __reduce__(self):
        return (rebuild, ())


st.session_state.token = Token()
