"""Tests for picklecheck.streamlit, with real Streamlit apps run by AppTest."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from pathlib import Path

import pytest

st = pytest.importorskip("streamlit")

from streamlit import config as st_config  # noqa: E402
from streamlit import errors as st_errors  # noqa: E402
from streamlit.runtime.state.session_state import SessionState as StreamlitState  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import picklecheck  # noqa: E402
import picklecheck.integrations.streamlit as hook  # noqa: E402
import picklecheck.streamlit  # noqa: E402, F401 - the public name must import
from picklecheck.integrations.config import ENV_BACKEND, ENV_MODE, ENV_ROUNDTRIP, resolve  # noqa: E402

APPS = Path(__file__).parent / "apps"
EXAMPLES = Path(__file__).parents[1] / "examples"
OPTION = "runner.enforceSerializableSessionState"
BAD_HEADER = ("picklecheck: 3 values in st.session_state cannot be serialized with pickle: "
              "`cache`, `cfg`, `scale`.")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No PICKLECHECK_SESSION_* variables, no pyproject.toml, Streamlit's check off."""
    for name in (ENV_MODE, ENV_BACKEND, ENV_ROUNDTRIP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    previous = st_config.get_option(OPTION)
    st_config.set_option(OPTION, False)
    yield
    st_config.set_option(OPTION, previous)


@pytest.fixture
def enforced():
    """Streamlit's own runner.enforceSerializableSessionState switched on."""
    st_config.set_option(OPTION, True)


def run(path: Path, times: int = 1) -> AppTest:
    """Run the app at ``path`` ``times`` times in one session, as reruns do."""
    at = AppTest.from_file(str(path), default_timeout=30)
    for _ in range(times):
        at.run()
    return at


def only_exception(at: AppTest) -> str:
    """The message of the single exception the app showed."""
    assert len(at.exception) == 1, [e.message for e in at.exception]
    return at.exception[0].message


def test_import_picklecheck_does_not_import_streamlit():
    """Streamlit stays optional: importing picklecheck (and SessionState) never loads it."""
    code = ("import picklecheck, sys; picklecheck.SessionState; "
            "assert 'streamlit' not in sys.modules, 'streamlit imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr


def test_enriched_error_names_every_key_path_and_fix(enforced):
    """One run: every bad key sorted, each culprit path, user keys for widgets, hints."""
    at = run(APPS / "bad_state.py")
    message = only_exception(at)
    assert message.splitlines()[0] == BAD_HEADER
    assert "st.session_state['cfg']['handlers'][2]['cb']  (function)" in message
    assert "st.session_state['cache']._lock  (_thread.lock)" in message
    assert "st.session_state['scale']  (function) does not pickle" in message
    assert "this is the value of the widget with key='scale'" in message
    assert "@st.cache_resource" in message
    assert "$$ID" not in message and "$$STREAMLIT_INTERNAL_KEY" not in message
    assert "point" not in message.splitlines()[0]
    # Streamlit 1.30-1.3x show the class name, later versions module and class.
    assert at.exception[0].proto.type in ("picklecheck.streamlit.UnserializableSessionStateError",
                                          "UnserializableSessionStateError")
    assert at.exception[0].is_markdown


def test_class_defined_in_app_fails_on_second_run(enforced):
    """A class defined in the script breaks on the rerun, and the message says why."""
    at = run(APPS / "bad_state.py", times=2)
    message = only_exception(at)
    assert message.splitlines()[0] == (
        "picklecheck: 4 values in st.session_state cannot be serialized with pickle: "
        "`cache`, `cfg`, `point`, `scale`.")
    assert "st.session_state['point']  (Point) does not pickle\n  [dill: ok, cloudpickle: ok]" \
        in message
    flat = " ".join(message.split())
    assert "it's not the same object as __main__.Point" in flat
    assert "Streamlit runs the app script again on every rerun" in flat
    assert "Move Point into a module next to the app (e.g. models.py) and import it." in flat


def test_order_is_stable_across_sessions(enforced):
    """Two sessions report the same keys in the same order (Streamlit's own order varies)."""
    first = only_exception(run(APPS / "bad_state.py")).splitlines()[0]
    second = only_exception(run(APPS / "bad_state.py")).splitlines()[0]
    assert first == second == BAD_HEADER


def test_mode_off_leaves_streamlits_original_error(enforced, monkeypatch):
    """With mode "off" Streamlit's own one-key message is shown, for comparison."""
    monkeypatch.setenv(ENV_MODE, "off")
    message = " ".join(only_exception(run(APPS / "bad_state.py")).split())
    assert message.startswith("Cannot serialize the value (of type `<class ")
    assert "in st.session_state. Streamlit has been configured to use" in message
    assert "picklecheck" not in message


def test_session_without_enable_keeps_streamlits_check(enforced):
    """The patch acts only for sessions that called enable()."""
    run(APPS / "good_state.py")  # installs the patch in this process
    message = only_exception(run(APPS / "plain_state.py"))
    assert message.startswith("Cannot serialize the value (of type `<class '_thread.lock'>`) "
                              "of 'lock' in st.session_state.")


def test_good_app_raises_nothing(enforced):
    """Picklable state with keyed widgets passes, across reruns and an interaction."""
    at = run(APPS / "good_state.py", times=2)
    at.selectbox(key="colour").set_value("green").run()
    assert not at.exception
    assert not at.warning
    assert at.session_state["colour"] == "green"


def test_warn_mode_with_enforcement_off_shows_a_warning():
    """With Streamlit's check off, the default mode shows the findings as st.warning."""
    with pytest.warns(picklecheck.SerializationWarning) as record:
        at = run(APPS / "bad_state.py")
    assert not at.exception
    assert len(at.warning) == 1
    body = at.warning[0].value
    assert body.splitlines()[0] == BAD_HEADER
    assert "st.session_state['cfg']['handlers'][2]['cb']  (function)" in body
    assert "Streamlit is configured" not in body
    assert str(record[0].message).splitlines()[0] == BAD_HEADER.replace("`", "'")


def test_enforce_mode_raises_without_streamlits_option(monkeypatch):
    """mode="enforce" raises the enriched error even with Streamlit's check off."""
    monkeypatch.setenv(ENV_MODE, "enforce")
    message = only_exception(run(APPS / "bad_state.py"))
    assert message.splitlines()[0] == BAD_HEADER
    assert "Streamlit is configured" not in message


def test_value_that_does_not_load_back_is_caught(enforced, monkeypatch):
    """Dumps fine, fails to load: picklecheck catches it; without roundtrip it passes."""
    message = only_exception(run(APPS / "load_fails.py"))
    assert "st.session_state['token']  (Token) dumps but does not load back" in message
    assert "the token expired" in message
    monkeypatch.setenv(ENV_ROUNDTRIP, "false")
    assert not run(APPS / "load_fails.py").exception


def test_enable_is_idempotent():
    """Reruns call enable() again; the method is wrapped once, around the original."""
    run(APPS / "good_state.py", times=3)
    hook.enable()
    hook.enable(mode="warn")
    method = StreamlitState.maybe_check_serializable
    assert getattr(method, "__picklecheck_hook__", None) is not None
    assert getattr(method.__wrapped__, "__picklecheck_hook__", None) is None
    assert method.__wrapped__.__qualname__ == "SessionState.maybe_check_serializable"


def test_disable_restores_streamlits_method():
    """disable() puts the original back; enable() installs the patch again."""
    hook.enable()
    original = StreamlitState.maybe_check_serializable.__wrapped__
    hook.disable()
    assert StreamlitState.maybe_check_serializable is original
    hook.enable()
    assert StreamlitState.maybe_check_serializable.__wrapped__ is original


def test_error_is_streamlits_and_picklechecks():
    """The raised error is Streamlit's class, picklecheck's class and a PicklingError."""
    state = StreamlitState()
    state["cfg"] = {"handlers": [{"cb": lambda: 0}]}
    state["lock"] = threading.Lock()
    state["fine"] = [1, 2]
    state[hook._HOOK_KEY] = hook._Hook(resolve(mode="enforce"))
    hook.enable()
    with pytest.raises(st_errors.UnserializableSessionStateError) as info:
        state.maybe_check_serializable()
    err = info.value
    assert isinstance(err, picklecheck.UnserializableSessionStateError)
    assert isinstance(err, pickle.PicklingError)
    assert isinstance(err, st_errors.StreamlitAPIException)
    assert err.key == "cfg"
    assert list(err.reports) == ["cfg", "lock"]
    assert [c.path for c in err.culprits] == ["st.session_state['cfg']['handlers'][0]['cb']"]


def test_example_app_fails_then_is_fixed(enforced, monkeypatch):
    """The example app shows the enriched error, and its fixed versions pass."""
    monkeypatch.syspath_prepend(str(EXAMPLES))  # `streamlit run` puts the app's folder there
    at = run(EXAMPLES / "streamlit_app.py", times=2)
    message = only_exception(at)
    assert message.splitlines()[0] == (
        "picklecheck: 4 values in st.session_state cannot be serialized with pickle: "
        "`cfg`, `inventory`, `point`, `scale`.")
    at.sidebar.toggle(key="fixed").set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    at.run()
    assert not at.exception


def test_a_streamlit_element_in_state_is_made_again_on_each_run(enforced):
    """st.empty() kept in session state: the fix is Streamlit's (keep what it shows, make
    the element on each run); it was "DeltaGenerator holds objects that do not load ...
    create it where it is used"."""
    message = only_exception(run(APPS / "elements_state.py"))
    assert "st.session_state['slot']" in message
    words = " ".join(message.split())
    assert "belongs to the script run that made it" in words
    assert "make the element again on each run" in words
    assert "@st.cache_resource" not in words  # no element can be a cached resource


def test_a_streamlit_connection_in_state_is_asked_for_where_it_is_used(enforced, monkeypatch):
    """st.connection(...) kept in session state: call it where it is used (Streamlit caches
    it); it was "SQLConnection holds local functions, locks, modules". Needs SQLAlchemy (the
    realworld extra)."""
    pytest.importorskip("sqlalchemy", reason="SQLAlchemy is not installed (picklecheck[realworld])")
    monkeypatch.setenv("ELEMENTS_STATE_CONNECTION", "1")
    message = only_exception(run(APPS / "elements_state.py"))
    assert "st.session_state['db']" in message
    words = " ".join(message.split())
    assert "keep it out of st.session_state and call st.connection(...) where it is used" in words
