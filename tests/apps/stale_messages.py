"""A chat app that keeps 100 messages of a class defined in the app script."""

import streamlit as st

from picklecheck.streamlit import enable

enable()


class Message:
    """Defined in the script: every rerun defines a new __main__.Message."""

    def __init__(self, role, text):
        self.role, self.text = role, text


if "messages" not in st.session_state:
    st.session_state.messages = [Message("user", f"question {i}") for i in range(100)]
st.write(len(st.session_state.messages), "messages")
