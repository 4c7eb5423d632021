"""The culprit listing of the Streamlit error, with real apps run by AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("streamlit")

from streamlit import config as st_config  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

APPS = Path(__file__).parent / "apps"
OPTION = "runner.enforceSerializableSessionState"


@pytest.fixture(autouse=True)
def enforced(monkeypatch, tmp_path):
    """Streamlit's own check on, no picklecheck settings from the environment."""
    for name in ("PICKLECHECK_SESSION_MODE", "PICKLECHECK_SESSION_BACKEND",
                 "PICKLECHECK_SESSION_ROUNDTRIP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    previous = st_config.get_option(OPTION)
    st_config.set_option(OPTION, True)
    yield
    st_config.set_option(OPTION, previous)


def error_of(app: str, runs: int = 2) -> str:
    """The one error the app shows on its last run; earlier runs show none (the second
    run is the first after the script redefined its classes and functions)."""
    at = AppTest.from_file(str(APPS / app), default_timeout=60)
    for _ in range(runs - 1):
        at.run()
        assert not at.exception, [e.message for e in at.exception]
    at.run()
    assert len(at.exception) == 1, [e.message for e in at.exception]
    return at.exception[0].message


def test_hundred_stale_objects_fit_in_forty_lines():
    """100 messages of a redefined class: one grouped entry, not 100 blocks."""
    message = error_of("stale_messages.py")
    lines = message.splitlines()
    assert len(lines) <= 40, message
    assert "  st.session_state['messages'][0..99]  (Message)" in lines
    assert "st.session_state['messages'][2] and 97 more" in message
    assert " ".join(message.split()).count("Move Message into a module") == 1


def test_stale_function_is_called_a_function():
    """A function of the app script is a stale *function*, not a class named 'function'."""
    message = " ".join(error_of("stale_function.py").split())
    assert "defines a new function __main__.shout" in message
    assert "Move shout into a module" in message
    assert "__main__.function" not in message


def test_generator_gets_a_generator_fix():
    """A generator in session state is not told to use st.cache_resource."""
    message = error_of("generator_state.py", runs=1)
    pages = message[message.index("st.session_state['pages']"):]
    assert "cache_resource" not in pages
    assert "create the generator where it is consumed" in " ".join(pages.split())
