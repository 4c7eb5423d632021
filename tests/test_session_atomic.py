"""SessionState under threads, Ctrl-C and mappings that refuse a key (issue 9, item 5)."""

from __future__ import annotations

import _thread
import signal
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

from picklecheck import SessionState, UnserializableSessionStateError
from picklecheck.integrations.atomic import interrupts_deferred
from picklecheck.integrations.config import ENV_BACKEND, ENV_MODE, ENV_ROUNDTRIP

APPS = Path(__file__).parent / "apps"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No PICKLECHECK_SESSION_* variables and no pyproject.toml, and Ctrl-C as a fresh
    interpreter has it (a process started in the background by a shell ignores SIGINT,
    and then there is no Ctrl-C to defer: interrupts_deferred leaves it alone)."""
    for name in (ENV_MODE, ENV_BACKEND, ENV_ROUNDTRIP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def strict(data: MutableMapping[Any, Any] | None = None) -> SessionState:
    """A SessionState in enforce mode."""
    return SessionState(data, mode="enforce")


def in_thread(target, *args):
    """Run ``target`` in a real thread; return what it returned or raised."""
    outcome: dict[str, Any] = {}

    def run():
        try:
            outcome["value"] = target(*args)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return outcome


class Refusing(MutableMapping):
    """A mapping that refuses one key, as st.session_state refuses a widget's key."""

    def __init__(self, refused: str, **items: Any) -> None:
        self.data = dict(items)
        self.refused = refused

    def __getitem__(self, key):
        return self.data[key]

    def __setitem__(self, key, value):
        if key == self.refused:
            raise RuntimeError(f"{key!r} belongs to a widget")
        self.data[key] = value

    def __delitem__(self, key):
        del self.data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class Interrupting(Refusing):
    """A mapping whose writes press Ctrl-C (a real SIGINT through interrupt_main) once armed."""

    armed = False

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        if self.armed:
            self.armed = False
            _thread.interrupt_main()

    def __delitem__(self, key):
        super().__delitem__(key)
        if self.armed:
            self.armed = False
            _thread.interrupt_main()


class PressesCtrlC:
    """Pickling it delivers a real KeyboardInterrupt to the main thread."""

    def __reduce__(self):
        _thread.interrupt_main()
        return (PressesCtrlC, ())


class Unordered(str):
    """A key whose ordering raises, as a hostile str subclass may."""

    def __lt__(self, other):
        raise RuntimeError("no ordering")

    __gt__ = __le__ = __ge__ = __lt__
    __hash__ = str.__hash__


# -- threads ------------------------------------------------------------------------

def test_open_transaction_does_not_let_another_threads_bad_store_through():
    """While one thread's transaction is open, another thread's bad store is refused at once."""
    state = strict()
    inside, release = threading.Event(), threading.Event()

    def hold_transaction():
        with state.transaction():
            state.mine = 1
            inside.set()
            release.wait(30)

    holder = threading.Thread(target=hold_transaction)
    holder.start()
    assert inside.wait(30)
    outcome = in_thread(state.__setitem__, "lock", threading.Lock())
    release.set()
    holder.join(30)
    assert isinstance(outcome.get("error"), UnserializableSessionStateError)
    assert "lock" not in state
    assert state.mine == 1


def test_rollback_keeps_a_later_store_from_another_thread():
    """A failed transaction restores its own keys but not one another thread bound since."""
    state = strict()
    state.update(shared=0, own=0)
    stored = threading.Event()

    with pytest.raises(UnserializableSessionStateError):
        with state.transaction():
            state.shared = 1
            state.own = 1
            in_thread(lambda: (state.__setitem__("shared", 2), stored.set()))
            assert stored.is_set()
            state.bad = threading.Lock()
    assert dict(state) == {"shared": 2, "own": 0}


def test_transactions_in_two_threads_roll_back_independently():
    """A transaction that ends while another thread's holds a bad value is not failed by it."""
    state = strict()
    both_inside, good_done = threading.Barrier(2, timeout=30), threading.Event()
    errors: list[BaseException] = []

    def good():
        try:
            with state.transaction():
                state.good = 1
                both_inside.wait()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            errors.append(exc)
        good_done.set()

    def bad():
        with pytest.raises(UnserializableSessionStateError):
            with state.transaction():
                state.bad = threading.Lock()
                both_inside.wait()
                good_done.wait(30)

    threads = [threading.Thread(target=good), threading.Thread(target=bad)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert dict(state) == {"good": 1}


# -- Ctrl-C ----------------------------------------------------------------------------

def test_ctrl_c_during_the_exit_check_rolls_back():
    """A KeyboardInterrupt delivered while the exit check pickles undoes the block."""
    state = strict()
    state.n = 0
    with pytest.raises(KeyboardInterrupt):
        with state.transaction():
            state.n = 1
            state.trigger = PressesCtrlC()
    assert dict(state) == {"n": 0}


def test_ctrl_c_during_a_rollback_is_held_until_it_is_complete():
    """A Ctrl-C that lands while a rollback writes is raised only after every key is back."""
    backing = Interrupting("never", a=0, b=0, c=0)
    state = strict(backing)
    with pytest.raises(KeyboardInterrupt):
        with state.transaction():
            state.update(a=1, b=1, c=1)
            backing.armed = True
            raise ValueError("the block failed")
    assert backing.data == {"a": 0, "b": 0, "c": 0}


def test_ctrl_c_during_an_update_never_leaves_it_half_written():
    """update() writes all of its keys before a Ctrl-C that arrived meanwhile is raised."""
    backing = Interrupting("never")
    backing.armed = True
    state = strict(backing)
    with pytest.raises(KeyboardInterrupt):
        state.update(a=1, b=2, c=3)
    assert backing.data == {"a": 1, "b": 2, "c": 3}


def test_ctrl_c_held_during_a_failing_block_is_not_lost():
    """A Ctrl-C held while the block raises something else is still raised, with that as context."""
    with pytest.raises(KeyboardInterrupt) as info:
        with interrupts_deferred():
            _thread.interrupt_main()
            for _ in range(1000):  # let the held signal arrive
                pass
            raise ValueError("the block failed too")
    assert isinstance(info.value.__context__, ValueError)


def test_deferral_leaves_a_custom_sigint_handler_alone():
    """An application's own SIGINT handler keeps working inside a deferred block."""
    import signal

    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with interrupts_deferred():
            _thread.interrupt_main()
            for _ in range(1000):  # give the handler a bytecode boundary
                pass
        assert seen == [signal.SIGINT]
    finally:
        signal.signal(signal.SIGINT, previous)


# -- refused keys and hostile keys -------------------------------------------------

def test_update_on_a_mapping_that_refuses_one_key_changes_nothing():
    """A refused key undoes the keys update() already wrote, and the refusal propagates."""
    backing = Refusing("widget", a=0)
    state = strict(backing)
    with pytest.raises(RuntimeError, match="belongs to a widget"):
        state.update({"a": 1, "widget": 2, "b": 3})
    assert backing.data == {"a": 0}


def test_refused_key_inside_a_transaction_leaves_the_journal_consistent():
    """A refused update inside a transaction changes nothing, and the commit keeps the rest."""
    backing = Refusing("widget", a=0)
    state = strict(backing)
    with state.transaction():
        with pytest.raises(RuntimeError):
            state.update(a=1, widget=2)
        state.b = 1
    assert backing.data == {"a": 0, "b": 1}


def test_key_whose_ordering_raises_does_not_skip_the_rollback():
    """Keys of a str subclass with a raising __lt__ are sorted safely, and the rollback runs."""
    state = strict()
    state[Unordered("z")] = 1
    with pytest.raises(UnserializableSessionStateError) as info:
        with state.transaction():
            state[Unordered("a")] = threading.Lock()
            state[Unordered("z")] = 2
    assert dict(state) == {"z": 1}
    assert list(info.value.reports) == ["a"]


def test_warning_turned_error_on_exit_rolls_back():
    """Under -W error a warn-mode transaction's failed check raises and undoes the block."""
    import warnings

    from picklecheck import SerializationWarning

    state = SessionState(mode="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SerializationWarning)
        with pytest.raises(SerializationWarning):
            with state.transaction():
                state.lock = threading.Lock()
    assert "lock" not in state


def test_update_refusing_a_widget_key_on_real_streamlit_state():
    """On st.session_state (AppTest), an update that hits a widget's key changes no key."""
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APPS / "atomic_update.py"), default_timeout=30)
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["outcome"] == "refused"
    assert at.session_state["a"] == 1
    assert "b" not in at.session_state
    assert at.session_state["name"] == "kept"
