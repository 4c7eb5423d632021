"""An app whose session state breaks pickle in four ways (used by tests/test_streamlit.py)."""

import threading

import streamlit as st

from picklecheck.streamlit import enable

enable()


class Point:
    """Defined in the app script, so every rerun defines a new __main__.Point."""

    def __init__(self, x, y):
        self.x, self.y = x, y


class Cache:
    def __init__(self):
        self.data = {"hits": 0}
        self._lock = threading.Lock()


if "cfg" not in st.session_state:
    st.session_state.cfg = {"name": "demo", "handlers": [print, len, {"cb": lambda: 0}]}
    st.session_state.cache = Cache()
    st.session_state.point = Point(1, 2)
    st.session_state.count = 0

@st.cache_resource
def scales():
    """The same option objects on every run (Streamlit 1.30 refuses a value not among them)."""
    return [lambda v: v * 2, lambda v: v * 10]


st.session_state.count += 1
# No format_func: AppTest 1.30 looks the value up among the options by str().
st.selectbox("Scale", scales(), key="scale")
st.write("runs:", st.session_state.count)
