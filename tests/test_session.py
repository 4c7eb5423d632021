"""Tests for picklecheck.session: the checking session-state mapping."""

from __future__ import annotations

import pickle
import threading
import warnings
from unittest.mock import MagicMock

import pytest

import picklecheck
from picklecheck import SerializationWarning, SessionState, UnserializableSessionStateError
from picklecheck.integrations.config import ENV_BACKEND, ENV_MODE, ENV_ROUNDTRIP, ConfigError
from picklecheck.integrations.session import is_plain_value


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """Every test starts in an empty directory with no PICKLECHECK_SESSION_* variables."""
    for name in (ENV_MODE, ENV_BACKEND, ENV_ROUNDTRIP):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


class Service:
    """An object holding a lock, as a database client does."""

    def __init__(self):
        self.name = "db"
        self._lock = threading.Lock()


class Broken:
    """Dumps fine, but loading it raises: only a round trip notices."""

    def __reduce__(self):
        return (_refuse, ())


def _refuse():
    msg = "cannot rebuild Broken"
    raise RuntimeError(msg)


LOADS = {"count": 0}


def _counted(value):
    LOADS["count"] += 1
    return Counted(value)


class Counted:
    """Counts how often it is loaded, to see what the round-trip cache saves."""

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (_counted, (self.value,))


class Hostile:
    """Every dunder a checker might touch raises, and it holds a lock."""

    def __init__(self):
        self.lock = threading.Lock()

    def __repr__(self):
        raise RuntimeError("no repr")

    def __eq__(self, other):
        raise RuntimeError("no eq")

    __hash__ = object.__hash__


class Proxy:
    """Answers every missing attribute lookup with another proxy, and holds a lock."""

    def __init__(self):
        self.lock = threading.Lock()

    def __getattr__(self, name):
        return Proxy()


def nested_lambda():
    """The issue's example: a callback deep inside a config dict."""
    return {"name": "demo", "handlers": [print, len, {"cb": lambda: 0}]}


def generator_value():
    """A live generator inside a list."""
    return [1, (i for i in range(3))]


CULPRITS = [
    pytest.param(nested_lambda, "session_state['cfg']['handlers'][2]['cb']", "function",
                 id="lambda nested in a dict"),
    pytest.param(Service, "session_state['cfg']._lock", "_thread.lock", id="lock in an object"),
    pytest.param(generator_value, "session_state['cfg'][1]", "generator", id="generator in a list"),
    pytest.param(MagicMock, "session_state['cfg']", "unittest.mock.MagicMock", id="MagicMock"),
]


def strict(**kwargs):
    """A SessionState in enforce mode."""
    return SessionState(mode="enforce", **kwargs)


# -- enforce: every store path ----------------------------------------------------

@pytest.mark.parametrize(("factory", "path", "type_"), CULPRITS)
def test_item_store_names_every_culprit_path(factory, path, type_):
    """state[key] = bad raises naming the key, the culprit path, its type and a hint."""
    state = strict()
    with pytest.raises(UnserializableSessionStateError) as info:
        state["cfg"] = factory()
    err = info.value
    assert err.key == "cfg"
    assert [c.path for c in err.culprits] == [path]
    assert err.culprits[0].type == type_
    assert err.culprits[0].hint
    assert str(err).startswith("session_state['cfg'] does not serialize with 'pickle'; "
                               "the key was not set\n")
    assert f"  {path}  ({type_})" in str(err)
    assert "cfg" not in state


def test_error_is_a_pickling_error_and_names_other_backends():
    """The error is caught by `except pickle.PicklingError` and says which backends work."""
    state = strict()
    with pytest.raises(pickle.PicklingError) as info:
        state["cfg"] = nested_lambda()
    assert isinstance(info.value, picklecheck.UnpicklableError)
    culprit = info.value.culprits[0]
    assert culprit.works_with == {"pickle": False, "dill": True, "cloudpickle": True}
    assert "  other backends: dill: ok, cloudpickle: ok" in str(info.value)


def test_rejected_store_keeps_the_previous_value():
    """Nothing is lost: a refused assignment leaves the old value in place."""
    state = strict()
    state["cfg"] = {"handlers": []}
    before = state["cfg"]
    with pytest.raises(UnserializableSessionStateError, match="the previous value was kept"):
        state["cfg"] = nested_lambda()
    assert state["cfg"] is before


def test_attribute_store_is_checked():
    """state.x = bad is checked like state['x'] = bad."""
    state = strict()
    state.svc = {"ok": 1}
    with pytest.raises(UnserializableSessionStateError) as info:
        state.svc = Service()
    assert info.value.culprits[0].path == "session_state['svc']._lock"
    assert state.svc == {"ok": 1}


def test_update_is_all_or_nothing_and_reports_every_key():
    """update() with two bad values stores none of the three and names both, sorted."""
    state = strict()
    state.keep = 1
    with pytest.raises(UnserializableSessionStateError) as info:
        state.update({"zeta": Service(), "good": [1, 2]}, alpha=nested_lambda())
    err = info.value
    assert list(err.reports) == ["alpha", "zeta"]
    assert err.key == "alpha"
    assert str(err).splitlines()[0] == (
        "session_state['alpha'], session_state['zeta'] do not serialize with 'pickle'; "
        "nothing was stored (update is all or nothing)")
    assert dict(state) == {"keep": 1}


def test_update_accepts_pairs_and_reports_bad_input_like_dict():
    """update() takes what dict.update takes, and refuses what it refuses."""
    state = strict()
    state.update([("a", 1), ("b", (2, 3))])
    assert dict(state) == {"a": 1, "b": (2, 3)}
    with pytest.raises(ValueError, match="has length 3; 2 is required"):
        state.update([("a", 1, 2)])


def test_setdefault_checks_only_a_new_value():
    """setdefault stores a checked default, and returns an existing value unchecked."""
    state = strict()
    with pytest.raises(UnserializableSessionStateError):
        state.setdefault("lock", threading.Lock())
    assert "lock" not in state
    assert state.setdefault("n", 5) == 5
    assert state.setdefault("n", threading.Lock()) == 5


# -- warn and off -----------------------------------------------------------------

def test_warn_mode_stores_and_warns_at_the_callers_line():
    """In warn mode the value is stored and a SerializationWarning points at the caller."""
    state = SessionState(mode="warn")
    with pytest.warns(SerializationWarning) as record:
        state.lock = threading.Lock()
    assert isinstance(state.lock, type(threading.Lock()))
    assert issubclass(SerializationWarning, UserWarning)
    assert record[0].filename == __file__
    assert str(record[0].message).startswith(
        "session_state['lock'] does not serialize with 'pickle'; stored anyway")


def test_warn_as_error_leaves_the_state_unchanged():
    """Under -W error the warning raises before the value is stored."""
    state = SessionState(mode="warn")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SerializationWarning)
        with pytest.raises(SerializationWarning):
            state["cfg"] = nested_lambda()
    assert "cfg" not in state


def test_warn_is_the_default_mode():
    """Without configuration a bad value warns."""
    state = SessionState()
    assert state.session_config.mode == "warn"
    with pytest.warns(SerializationWarning):
        state["cfg"] = nested_lambda()


def test_off_mode_stores_without_checking():
    """In off mode nothing is checked on store, but check() still reports."""
    state = SessionState(mode="off")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state.svc = Service()
    assert list(state.check()) == ["svc"]


def test_mode_from_environment(monkeypatch):
    """PICKLECHECK_SESSION_MODE=enforce makes a plain SessionState() strict."""
    monkeypatch.setenv(ENV_MODE, "enforce")
    with pytest.raises(UnserializableSessionStateError):
        SessionState()["x"] = threading.Lock()


def test_mode_from_pyproject(tmp_path):
    """[tool.picklecheck] session-mode applies when nothing higher is set."""
    (tmp_path / "pyproject.toml").write_text('[tool.picklecheck]\nsession-mode = "off"\n')
    assert SessionState().session_config.mode == "off"
    assert SessionState(mode="enforce").session_config.mode == "enforce"


def test_invalid_mode_argument():
    """A bad mode argument is a ValueError naming the argument."""
    with pytest.raises(ConfigError, match="from argument mode='strict'"):
        SessionState(mode="strict")


# -- check() ------------------------------------------------------------------------

def test_check_catches_in_place_mutation_in_stable_order():
    """Values changed after they were stored are found by check(), sorted by key."""
    state = strict()
    state.update(todo=[], zoo={"animals": []}, middle=[1])
    state.todo.append(lambda: 0)
    state.zoo["animals"].append(Service())
    with pytest.raises(UnserializableSessionStateError) as info:
        state.check()
    assert list(info.value.reports) == ["todo", "zoo"]
    assert [c.path for c in info.value.culprits] == ["session_state['todo'][0]"]
    paths = [c.path for r in info.value.reports.values() for c in r.culprits]
    assert paths == ["session_state['todo'][0]", "session_state['zoo']['animals'][0]._lock"]
    assert "found by check(); the values are still stored" in str(info.value)
    assert len(state.todo) == 1


def test_check_returns_nothing_when_clean_and_can_check_some_keys():
    """check() returns {} for a clean state, and check(keys) looks only at those keys."""
    state = SessionState(mode="off")
    state.update(a=[1], b=threading.Lock())
    assert list(state.check(["a"])) == []
    assert list(state.check()) == ["b"]
    assert strict().check() == {}


def test_check_in_warn_mode_warns_once_for_all_keys():
    """In warn mode check() emits one warning naming every failing key."""
    state = SessionState(mode="off")
    state.update(b=threading.Lock(), a=threading.Lock())
    object.__setattr__(state, "_config", SessionState(mode="warn").session_config)
    with pytest.warns(SerializationWarning) as record:
        reports = state.check()
    assert list(reports) == ["a", "b"]
    assert len(record) == 1


# -- transactions ----------------------------------------------------------------

def test_transaction_commits_when_clean():
    """A clean block keeps every change."""
    state = strict()
    with state.transaction():
        state.a = 1
        state.b = [2]
    assert dict(state) == {"a": 1, "b": [2]}


def test_transaction_defers_checks_to_the_end():
    """Inside the block a bad value may be stored and fixed before the check runs."""
    state = strict()
    with state.transaction():
        state.cfg = {"cb": lambda: 0}
        state.cfg = {"cb": "print"}
    assert state.cfg == {"cb": "print"}


def test_failed_transaction_restores_what_it_touched():
    """On a failed check every assigned or deleted key gets its old binding back."""
    state = strict()
    state.update(kept=1, replaced=[1], removed="x")
    original = state.replaced
    with pytest.raises(UnserializableSessionStateError, match="the transaction was rolled back"):
        with state.transaction():
            state.replaced = [2]
            del state.removed
            state.added = 3
            state.bad = Service()
    assert dict(state) == {"kept": 1, "replaced": [1], "removed": "x"}
    assert state.replaced is original


def test_transaction_rolls_back_on_exception():
    """An exception inside the block undoes its assignments and propagates."""
    state = strict()
    state.n = 1
    with pytest.raises(KeyError):
        with state.transaction():
            state.n = 2
            state.pop("missing")
    assert dict(state) == {"n": 1}


def test_in_place_change_is_reported_but_not_undone_without_snapshot():
    """Without a snapshot an object changed in place stays changed after a rollback."""
    state = strict()
    state.items_ = []
    with pytest.raises(UnserializableSessionStateError) as info:
        with state.transaction():
            state.items_.append(lambda: 0)
    assert list(info.value.reports) == ["items_"]
    assert len(state.items_) == 1


def test_snapshot_undoes_in_place_changes():
    """snapshot=True restores every key from a deep copy taken on entry."""
    state = strict()
    state.update(items_=[1], other={"a": 1})
    with pytest.raises(UnserializableSessionStateError):
        with state.transaction(snapshot=True):
            state.items_.append(lambda: 0)
            state.other["a"] = 2
            state.new = 1
    assert dict(state) == {"items_": [1], "other": {"a": 1}}


def test_nested_transaction_failure_keeps_the_outer_changes():
    """An inner block that fails rolls back only its own changes."""
    state = strict()
    with state.transaction():
        state.outer = 1
        with pytest.raises(UnserializableSessionStateError):
            with state.transaction():
                state.inner = threading.Lock()
                state.outer = 2
        assert dict(state) == {"outer": 1}
    assert dict(state) == {"outer": 1}


def test_outer_rollback_undoes_a_committed_inner_block():
    """A committed inner block is folded into the outer one and undone with it."""
    state = strict()
    state.n = 0
    with pytest.raises(RuntimeError):
        with state.transaction():
            with state.transaction():
                state.n = 1
            raise RuntimeError("later failure")
    assert state.n == 0


def test_warn_mode_transaction_keeps_the_values():
    """In warn mode a failing block warns and keeps its changes."""
    state = SessionState(mode="warn")
    with pytest.warns(SerializationWarning, match="stored anyway"):
        with state.transaction():
            state.lock = threading.Lock()
    assert "lock" in state


# -- the mapping, attribute access and bad input ---------------------------------

def test_wraps_an_existing_mapping():
    """SessionState(d) stores into d and reads what is already there."""
    backing = {"existing": 1}
    state = strict()
    state = SessionState(backing, mode="enforce")
    state.new = 2
    assert backing == {"existing": 1, "new": 2}
    assert state.existing == 1
    assert len(state) == 2 and set(state) == {"existing", "new"}


def test_refuses_what_is_not_a_mutable_mapping():
    """A read-only mapping or a list is a TypeError that says what to pass instead."""
    from types import MappingProxyType

    with pytest.raises(TypeError, match=r"not mappingproxy; pass dict\(data\) to wrap a copy"):
        SessionState(MappingProxyType({}))
    with pytest.raises(TypeError, match="wraps a mutable mapping such as a dict, not list"):
        SessionState([("a", 1)])
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        SessionState(name="")


def test_missing_attribute_suggests_a_key():
    """A missing attribute is an AttributeError with a did-you-mean."""
    state = strict()
    state.counter = 1
    with pytest.raises(AttributeError, match="no key 'countr' \\(did you mean 'counter'\\?\\)"):
        _ = state.countr
    with pytest.raises(AttributeError, match="no key 'gone'"):
        del state.gone
    del state.counter
    assert "counter" not in state


def test_interface_names_are_not_keys():
    """Setting an attribute that is a method name is refused; item syntax still works."""
    state = strict()
    with pytest.raises(AttributeError, match=r"'items' is part of SessionState's interface, "
                                             r"not a key; use state\['items'\] = \.\.\."):
        state.items = []
    state["items"] = []
    assert state["items"] == [] and callable(state.items)


def test_non_string_and_hostile_keys():
    """Int keys and keys with a raising repr get usable paths."""

    class Key:
        def __repr__(self):
            raise RuntimeError("no repr")

    key = Key()
    state = strict()
    with pytest.raises(UnserializableSessionStateError) as info:
        state.update({3: threading.Lock(), key: threading.Lock()})
    paths = [r.name for r in info.value.reports.values()]
    assert paths == ["session_state[3]", "session_state[<key of type "
                     "test_session.test_non_string_and_hostile_keys.<locals>.Key>]"]


@pytest.mark.parametrize("value", [Hostile(), Proxy(), MagicMock()],
                         ids=["raising dunders", "getattr proxy", "MagicMock"])
def test_hostile_values_do_not_crash(value):
    """Hostile values are findings: a clear error, a working repr, no crash."""
    state = strict()
    with pytest.raises(UnserializableSessionStateError) as info:
        state.bad = value
    assert "session_state['bad']" in str(info.value)
    warn = SessionState({"bad": value}, mode="off")
    assert repr(warn).startswith("SessionState(")
    assert list(warn.check()) == ["bad"]


# -- round trips and caching -------------------------------------------------------

def test_roundtrip_catches_values_that_do_not_load():
    """A value that dumps but cannot load passes by default and fails with roundtrip."""
    SessionState(mode="enforce").x = Broken()
    state = SessionState(mode="enforce", roundtrip=True)
    with pytest.raises(UnserializableSessionStateError) as info:
        state.x = Broken()
    assert info.value.culprits[0].stage == "loads"
    assert "cannot rebuild Broken" in str(info.value)


def test_unchanged_bytes_are_not_loaded_twice(monkeypatch):
    """With roundtrip the same bytes under the same key are loaded once, new bytes again."""
    monkeypatch.setenv("PICKLECHECK_ISOLATION", "guarded")  # count loads in this process
    state = SessionState(mode="enforce", roundtrip=True)
    LOADS["count"] = 0
    value = Counted(1)
    state.v = value
    state.v = value
    state.check()
    assert LOADS["count"] == 1
    state.v = Counted(2)
    assert LOADS["count"] == 2


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param(("a", 1, 2.5, None, True, b"x", 1j), True, id="tuple of atoms"),
        pytest.param(frozenset({("a", 1)}), True, id="frozenset of tuples"),
        pytest.param(("a", [1]), False, id="tuple holding a list"),
        pytest.param(type("S", (str,), {})("x"), False, id="str subclass"),
        pytest.param(tuple(range(2000)), False, id="too large to inspect"),
        pytest.param(Counted(1), False, id="instance"),
    ],
)
def test_plain_values_skip_pickling(value, plain):
    """Only exact builtin atoms and tuples/frozensets of them are accepted unpickled."""
    assert is_plain_value(value) is plain


def test_dill_backend_accepts_a_lambda():
    """With backend='dill' a lambda is fine and a lock still is not."""
    state = SessionState(mode="enforce", backend="dill")
    state.cb = lambda: 0
    with pytest.raises(UnserializableSessionStateError, match="with 'dill'"):
        state.gen = (i for i in range(3))
