"""The public API: assert_picklable, the error it raises, the report's renderings."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import threading

import culprits as c
import pytest

import picklecheck


def test_assert_picklable_raises_an_enriched_pickling_error():
    """The error is a PicklingError naming every culprit, the hint, and who would cope."""
    state = {"db": c.Database(), "cb": c.square}
    with pytest.raises(pickle.PicklingError) as info:
        picklecheck.assert_picklable(state, name="state")
    err = info.value
    assert isinstance(err, picklecheck.UnpicklableError)
    message = str(err)
    assert message.splitlines()[0] == "cannot pickle state with 'pickle': 2 culprits"
    assert "state['db'].conn._lock  (_thread.lock)" in message
    assert "state['cb']  (function)" in message
    assert "cause: TypeError: cannot pickle '_thread.lock' object" in message
    assert "hint:" in message and "Conn.__getstate__" in message
    assert "other backends: dill: ok, cloudpickle: fails" in message
    assert [cu.path for cu in err.culprits] == ["state['db'].conn._lock", "state['cb']"]
    assert err.report.results["pickle"].ok is False


def test_assert_picklable_returns_the_report_when_fine():
    """A picklable object passes and returns its report."""
    report = picklecheck.assert_picklable({"a": 1}, backend="cloudpickle")
    assert report.ok and report.backends == ("cloudpickle",)


def test_assert_picklable_with_another_backend():
    """With dill, a lock is fine but a generator is not."""
    picklecheck.assert_picklable(threading.Lock(), backend="dill")
    with pytest.raises(picklecheck.UnpicklableError, match="'dill': 1 culprit"):
        picklecheck.assert_picklable({"g": c.build("generator")}, backend="dill")


def test_load_failures_say_load():
    """An object that dumps but cannot load says so in the message."""
    with pytest.raises(picklecheck.UnpicklableError, match="cannot load back obj with 'pickle'"):
        picklecheck.assert_picklable(c.Account("ada", 1))


def test_error_survives_pickling():
    """The error itself can cross a process boundary (message kept, report dropped)."""
    with pytest.raises(picklecheck.UnpicklableError) as info:
        picklecheck.assert_picklable(threading.Lock())
    clone = pickle.loads(pickle.dumps(info.value))
    assert str(clone) == str(info.value)


def test_to_dict_is_json_ready():
    """to_dict has stable keys and serializes to JSON."""
    report = picklecheck.check({"db": c.Database()}, name="state")
    data = json.loads(json.dumps(report.to_dict()))
    assert set(data) == {"name", "type", "repr", "ok", "protocol", "python", "fresh_python",
                         "results", "culprits", "entries"}
    assert data["ok"] is False
    assert set(data["results"]) == {"pickle", "dill", "cloudpickle"}
    culprit = data["culprits"][0]
    assert culprit["path"] == "state['db'].conn._lock"
    assert culprit["backends"] == ["pickle", "cloudpickle"]
    assert culprit["works_with"] == {"pickle": False, "dill": True, "cloudpickle": False}


def test_plain_text_report():
    """str(report) is a readable explanation without colour."""
    text = str(picklecheck.check({"db": c.Database()}, name="state"))
    lines = text.splitlines()
    assert lines[0] == "FAIL: state does not survive pickle, cloudpickle (1 culprit); ok with dill"
    assert "  backend      result       size" in text
    assert "  state['db'].conn._lock  (_thread.lock)  [pickle, cloudpickle]" in lines
    assert "\x1b[" not in text


def test_import_is_light():
    """import picklecheck imports neither dill, cloudpickle, rich, click nor streamlit."""
    code = ("import sys, picklecheck; "
            "print([m for m in ('dill', 'cloudpickle', 'rich', 'click', 'streamlit') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _Held:
    """Holds a lock and refers to itself (a cycle: freed by a collection)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.me = self


def test_a_check_keeps_nothing_of_the_object_once_it_returns():
    """Once the report is dropped, the object goes with the next collection: the check's
    helper thread, waiting for the next check, held it for up to two seconds (a user's
    object whose finalizer closes a file or a connection stayed open until then)."""
    import gc
    import weakref

    obj = _Held()
    alive = weakref.ref(obj)
    report = picklecheck.check(obj)
    assert not report.ok
    del obj, report
    gc.collect()
    assert alive() is None
