"""An app that stores a function of its own script in session state."""

import streamlit as st

from picklecheck.streamlit import enable

enable()


def shout(text):
    return text.upper()


if "formatter" not in st.session_state:
    st.session_state.formatter = shout
st.write(st.session_state.formatter("ok"))
