"""Warn mode with a fragment (used by tests/test_streamlit_range.py, which reruns it).

The test asks the script runner, as a click inside the fragment would, to rerun only
the fragment right after the first full run's end-of-run check; AppTest runs that
rerun within the same ``run()``.
"""

import threading

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

import picklecheck.streamlit

picklecheck.streamlit.enable()


def _fragment_id(ctx):
    fid = getattr(ctx, "current_fragment_id", None)
    if fid is None:  # newer Streamlit keeps it per thread
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState

        fid = ThreadState.get().fragment_id
    return fid


st.write("before the fragment")


@st.fragment
def panel():
    st.write("inside the fragment")
    st.session_state.fragment_runs = st.session_state.get("fragment_runs", 0) + 1
    st.session_state.fragment_id = _fragment_id(get_script_run_ctx())


panel()
st.write("after the fragment")
st.session_state.lock = threading.Lock()
