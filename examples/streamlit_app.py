"""picklecheck's Streamlit hook on an app whose session state does not pickle.

Run it with Streamlit's own check switched on, then press "Rerun" (R) once:

    streamlit run examples/streamlit_app.py --runner.enforceSerializableSessionState=true

Instead of Streamlit's one-line error about one key, picklecheck names every bad key,
the path to each culprit inside it, and the fix. Turn on "Store the fixed versions"
in the sidebar to replace each bad value with its repaired form (the error goes
away). Without the Streamlit option, ``enable()`` shows the same findings as a
warning at the bottom of the page.
"""

import threading

import streamlit as st

import picklecheck.streamlit

picklecheck.streamlit.enable()  # idempotent: safe on every rerun


class Point:
    """Defined in the app script: every rerun defines a new __main__.Point."""

    def __init__(self, x, y):
        self.x, self.y = x, y


class Inventory:
    """Holds a lock, as database clients and model wrappers do."""

    def __init__(self):
        self.items = {"apples": 3}
        self._lock = threading.Lock()


@st.cache_resource
def inventory_lock() -> threading.Lock:
    """The fix for a lock: one shared resource, created once, outside session state."""
    return threading.Lock()


@st.cache_resource
def lambda_scales() -> list:
    """Options that carry lambdas: the widget's value then holds a function."""
    from app_models import Scale

    return [Scale("x2", lambda v: v * 2), Scale("x10", lambda v: v * 10)]


st.title("picklecheck + Streamlit")
fixed = st.sidebar.toggle("Store the fixed versions", key="fixed")

if fixed:
    from app_models import SCALES
    from app_models import Point as SafePoint

    st.session_state.cfg = {"name": "demo", "handlers": ["print", "len", {"cb": "double"}]}
    st.session_state.inventory = {"apples": 3}  # data only; the lock is inventory_lock()
    st.session_state.point = SafePoint(1, 2)
    # The old widget's value (a lambda) would stay until this run ends, and the
    # end-of-run check would still see it; drop it now.
    st.session_state.pop("scale", None)
    name = st.selectbox("Scale", list(SCALES), key="scale_name")
    scale = SCALES[name]
else:
    if "cfg" not in st.session_state or "inventory" not in st.session_state:
        st.session_state.cfg = {"name": "demo", "handlers": [print, len, {"cb": lambda: 0}]}
        st.session_state.inventory = Inventory()
        st.session_state.point = Point(1, 2)
    scale = st.selectbox("Scale", lambda_scales(), key="scale", format_func=str).apply

st.write("3 scaled:", scale(3))
