"""The Streamlit hook across Streamlit's versions, and cheap reruns (issues 10 and 13)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

st = pytest.importorskip("streamlit")

from streamlit import config as st_config  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import picklecheck  # noqa: E402
import picklecheck.integrations.streamlit as hook  # noqa: E402
from picklecheck.integrations.config import ENV_BACKEND, ENV_MODE, ENV_ROUNDTRIP  # noqa: E402

APPS = Path(__file__).parent / "apps"
OPTION = "runner.enforceSerializableSessionState"
HAS_FRAGMENTS = hasattr(st, "fragment")


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


def run(path: Path, times: int = 1, **state) -> AppTest:
    """Run the app ``times`` times in one session, with ``state`` set before the first run."""
    at = AppTest.from_file(str(path), default_timeout=30)
    for key, value in state.items():
        at.session_state[key] = value
    for _ in range(times):
        at.run()
    return at


def only_exception(at: AppTest) -> str:
    """The message of the single exception the app showed."""
    assert len(at.exception) == 1, [e.message for e in at.exception]
    return at.exception[0].message


def code_block(message: str) -> list[str]:
    """The lines of the message's fenced detail block."""
    lines = message.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("```"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("```"))
    return lines[start + 1:end]


# -- naming widgets -----------------------------------------------------------------

def test_keyless_widgets_are_named_by_type_and_label(enforced):
    """A widget without key= is named <type 'label'>, never by its generated id."""
    message = only_exception(run(APPS / "keyless_widget.py"))
    head = message.splitlines()[0]
    assert head == ("picklecheck: 2 values in st.session_state cannot be serialized with "
                    "pickle: ``<radio 'Speed `fast`'>``, `<selectbox 'Scale'>`.")
    flat = " ".join(message.split())
    assert "<selectbox 'Scale'> (function) does not pickle" in flat
    assert "this is the value of the selectbox 'Scale', which has no key=" in flat
    assert "$$" not in message and "key='" not in message


def test_keyed_widget_is_named_by_key_on_this_version(enforced):
    """Whatever id this Streamlit version generates, a keyed widget is named by its key."""
    at = run(APPS / "bad_state.py")
    message = only_exception(at)
    assert "st.session_state['scale']  (function) does not pickle" in message
    assert "this is the value of the widget with key='scale'" in " ".join(message.split())
    assert "$$" not in message


# -- the message ----------------------------------------------------------------------

def test_keys_with_backticks_keep_the_headline_intact(enforced):
    """A key holding a backtick is shown verbatim in a code span that Markdown cannot break."""
    message = only_exception(run(APPS / "odd_keys.py"))
    head = message.splitlines()[0]
    assert head == ("picklecheck: 2 values in st.session_state cannot be serialized with "
                    "pickle: `**bold** [link](x)`, ``a`b``.")


def test_detail_lines_fit_the_error_box(enforced):
    """Every line inside the detail block is at most 78 columns."""
    message = only_exception(run(APPS / "bad_state.py", times=2))
    block = code_block(message)
    assert len(block) > 20
    too_long = [line for line in block if len(line) > hook.WIDTH]
    assert not too_long, too_long


def test_fixes_name_what_went_stale_and_do_not_cache_generators(enforced):
    """A stale function is called a function; a generator is not told to use cache_resource."""
    message = " ".join(only_exception(run(APPS / "rerun_words.py", times=2)).split())
    assert "defines a new function __main__.helper; this value is an earlier run's function" \
        in message
    assert "Move helper into a module next to the app" in message
    assert "class __main__.function" not in message
    generator = message[message.index("st.session_state['rows']"):]
    assert "no backend pickles a running generator" in generator
    assert "cache_resource" not in generator


def test_warning_points_at_the_apps_line():
    """The SerializationWarning names the app's file and the line that set the first bad key."""
    with pytest.warns(picklecheck.SerializationWarning) as record:
        run(APPS / "odd_keys.py")
    warning = record[0]
    source = (APPS / "odd_keys.py").read_text().splitlines()
    assert warning.filename == str(APPS / "odd_keys.py")
    assert source[warning.lineno - 1].startswith('st.session_state["**bold** [link](x)"]')


@pytest.fixture
def fragment_rerun_after_first_run(monkeypatch):
    """After the first full run's end-of-run check, queue a rerun of the app's fragment.

    That is what a click inside the fragment does; the check itself (picklecheck's hook)
    runs first, so its warning from the full run is on the page when the fragment reruns.
    """
    from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
    from streamlit.runtime.state.session_state import SessionState as StreamlitState

    hook.enable()  # installs the hook outside any app
    checked = StreamlitState.maybe_check_serializable

    def check_then_rerun_fragment(self):
        checked(self)
        if not self["fragment_runs"] == 1 or "asked" in self:
            return
        self["asked"] = True
        get_script_run_ctx().script_requests.request_rerun(RerunData(
            fragment_id_queue=[self["fragment_id"]], is_fragment_scoped_rerun=True))

    check_then_rerun_fragment.__wrapped__ = checked.__wrapped__  # type: ignore[attr-defined]
    check_then_rerun_fragment.__picklecheck_hook__ = hook._patched  # type: ignore[attr-defined]
    monkeypatch.setattr(StreamlitState, "maybe_check_serializable", check_then_rerun_fragment)


@pytest.mark.skipif(not HAS_FRAGMENTS, reason="this Streamlit has no st.fragment")
def test_fragment_rerun_keeps_the_element_after_the_fragment(fragment_rerun_after_first_run):
    """After a fragment rerun the page still shows every app element and one warning."""
    with pytest.warns(picklecheck.SerializationWarning):
        at = run(APPS / "fragment_warn.py")
    assert at.session_state["fragment_runs"] == 2, "the fragment reran on its own"
    texts = [m.value for m in at.markdown]
    assert sorted(texts) == ["after the fragment", "before the fragment", "inside the fragment"]
    assert len(at.warning) == 1
    assert at.warning[0].value.startswith("picklecheck: 1 value in st.session_state")


# -- cheap reruns ---------------------------------------------------------------------

def test_the_hooks_memory_pickles_as_its_settings_alone():
    """Streamlit's own check pickles internal keys: the hook's cache of values is not in it."""
    import pickle
    import threading

    from picklecheck.integrations.config import resolve

    remembered = hook._Hook(resolve(mode="warn"), 5.0)
    remembered.verifier.failures([("big", list(range(1000))), ("bad", threading.Lock())])
    copy = pickle.loads(pickle.dumps(remembered))
    assert copy.config == remembered.config and copy.full_check_every == 5.0
    assert len(pickle.dumps(remembered)) < 1000


@pytest.mark.parametrize("every", [-1, "30", float("nan"), True])
def test_full_check_every_must_be_seconds(every):
    """A bad full_check_every is a clear ConfigError naming the value."""
    from picklecheck.integrations.config import ConfigError

    with pytest.raises(ConfigError, match="invalid full_check_every="):
        hook.enable(full_check_every=every)


@pytest.fixture
def dumps():
    """How often tests/apps/counting.Counted was pickled, reset to 0."""
    sys.path.insert(0, str(APPS))
    counting = importlib.import_module("counting")
    counting.DUMPS["count"] = 0
    yield counting.DUMPS
    sys.path.remove(str(APPS))


def test_unchanged_state_is_not_pickled_again(dumps):
    """Reruns that leave a value alone do not dump it; growing the list does."""
    at = run(APPS / "rerun_state.py", times=3)
    assert not at.exception and not at.warning
    assert dumps["count"] == 1
    at.session_state["grow"] = True
    at.run()
    assert dumps["count"] == 2


def test_full_check_every_zero_checks_every_run(dumps):
    """full_check_every=0 pickles every value on every run."""
    run(APPS / "rerun_state.py", times=3, every=0)
    assert dumps["count"] == 3


def test_streamlits_option_dumps_every_value_every_run(enforced, dumps):
    """With Streamlit's own check on, every value is still dumped on every run."""
    at = run(APPS / "rerun_state.py", times=3)
    assert not at.exception
    assert dumps["count"] == 3


def test_deep_change_is_caught_by_the_next_full_check(dumps):
    """A change the fingerprint cannot see waits for the full check, then is reported."""
    at = run(APPS / "rerun_state.py", times=1)
    at.session_state["deep"] = True
    at.run()
    assert not at.warning, "rows[500] is past the sampled items: trusted until a full check"
    at.session_state["every"] = 0
    with pytest.warns(picklecheck.SerializationWarning):
        at.run()
    assert "st.session_state['rows'][500]['extra']" in at.warning[0].value
