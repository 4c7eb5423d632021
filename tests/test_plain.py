"""Checks of builtin data run in the caller's thread; nobody's code ever does.

A check hands itself to a helper thread so that a ``__reduce__`` that never returns
cannot hang the caller (picklecheck.isolation.deadline). Builtin data runs no code when
pickled, so its check is done where it is asked for (picklecheck.isolation.plain), and
the moment an object could run code the check starts again in the helper.
"""

from __future__ import annotations

import copyreg
import datetime
import pickle
import sys
import threading
import time
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import picklecheck
from picklecheck.isolation import deadline, plain
from picklecheck.isolation.deadline import HELPER_NAME as HELPER


def helper_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == HELPER}


@pytest.fixture
def no_helper():
    """No helper thread is left idle when the test starts (one abandoned by an earlier
    test, still stuck in its call, may be there: it is never reused)."""
    deadline._Helper.retire_idle()
    return helper_threads()


class Where:
    """Pickles as an int, saying in which thread it was reduced."""

    seen: list[str] = []

    def __reduce__(self):
        Where.seen.append(threading.current_thread().name)
        return (int, (7,))


builtin_data = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
    | st.binary() | st.datetimes() | st.dates(),
    lambda inner: st.lists(inner, max_size=5) | st.tuples(inner, inner)
    | st.dictionaries(st.text(max_size=3), inner, max_size=5)
    | st.frozensets(st.integers(), max_size=4),
    max_leaves=30)


@settings(max_examples=60, deadline=None)
@given(builtin_data)
def test_builtin_data_is_checked_here_with_pickles_own_bytes(obj):
    """Same verdict, size and round trip as pickle's own, and no helper thread."""
    deadline._Helper.retire_idle()
    before = helper_threads()
    report = picklecheck.check(obj, backends=("pickle",))
    result = report.results["pickle"]
    assert report.ok and result.roundtrip
    assert result.size == len(pickle.dumps(obj))
    assert helper_threads() <= before


def test_a_rich_session_value_never_leaves_this_thread(no_helper):
    value = {"rows": [{"id": i, "name": f"n{i}", "at": datetime.datetime(2026, 1, 1)}
                      for i in range(500)],
             "ids": set(range(100)), "blob": b"x" * 100_000, "span": range(3),
             "cut": slice(1, 2), "cls": dict, "none": None}
    report = picklecheck.check(value, backends=("pickle",))
    assert report.ok
    assert report.results["pickle"].size == len(pickle.dumps(value))
    assert helper_threads() <= no_helper


@pytest.mark.parametrize("route", ["instance", "int subclass", "copyreg", "module dict"])
def test_code_that_pickling_would_run_runs_in_the_helper(no_helper, route):
    """Whatever could run someone's code is never reduced in the caller's thread, even
    deep inside builtin data."""
    Where.seen = []
    if route == "instance":
        odd: object = Where()
    elif route == "int subclass":
        odd = type("Counted", (int,), {"__reduce__": Where.__reduce__})(3)
    elif route == "copyreg":
        odd = threading.Lock()
    else:  # a module's own dict could shadow what pickle calls on it
        odd = types.ModuleType("shadowed")
        odd.__reduce_ex__ = lambda protocol: Where().__reduce__()  # type: ignore[attr-defined]
    value = {"ints": list(range(2000)), "deep": [[{"k": odd}]]}
    if route == "copyreg":
        copyreg.pickle(type(odd), lambda lock: Where().__reduce__())
    try:
        report = picklecheck.check(value, backends=("pickle",), roundtrip=False)
    finally:
        copyreg.dispatch_table.pop(type(odd), None)
    assert report.ok, report.culprits
    assert Where.seen and set(Where.seen) == {HELPER}


def test_a_failure_found_here_is_searched_in_the_helper(no_helper):
    """A lock fails in C code (nothing runs): the search, which runs reducers, goes on
    in the helper from that failure."""
    items: list[object] = list(range(5000))
    items.append(threading.Lock())
    report = picklecheck.check(items, backends=("pickle",))
    assert [c.path for c in report.culprits] == ["obj[5000]"]
    assert report.culprits[0].kind == "lock"
    assert report.results["pickle"].error == "TypeError: cannot pickle '_thread.lock' object"


def test_deep_builtin_nesting_is_reported_as_deep():
    nested: list[object] = []
    for _ in range(100_000):
        nested = [nested]
    report = picklecheck.check(nested, backends=("pickle",), roundtrip=False)
    assert not report.ok
    (culprit,) = report.culprits
    assert culprit.kind == "too_deep"


def test_a_huge_dump_here_still_keeps_the_time_limit(monkeypatch):
    """The dump in this thread cannot be interrupted, but each frame it writes checks
    the limit: the check ends near it, saying what it did not finish. It does not go to
    the helper, which could only end at the hard limit (CI once saw "the check stopped
    after 0.005 s" instead of the time limit)."""
    handed: list[object] = []
    run_within = deadline.run_within
    monkeypatch.setattr(deadline, "run_within",
                        lambda fn, limit: handed.append(fn) or run_within(fn, limit))
    big = list(range(5_000_000))  # ~50 ms to pickle
    start = time.monotonic()
    report = picklecheck.check(big, backends=("pickle",), roundtrip=False, timeout=0.005)
    took = time.monotonic() - start
    result = report.results["pickle"]
    assert not result.ok and result.truncated, result
    assert result.skipped == [
        "checking with pickle did not finish: the check's time limit of 0.005 s was reached"]
    assert not handed
    assert took < 3.0, took  # the whole dump (~50 ms) is not the point: its end is


def test_protocols_without_frames_go_to_the_helper(no_helper):
    """Protocols 0 to 3 write nothing before the end, so the limit could not be kept."""
    report = picklecheck.check([1, 2, 3], backends=("pickle",), protocol=2)
    assert report.ok
    assert helper_threads() - no_helper


@pytest.mark.parametrize("obj, plain_looking", [
    ([1, "a", b"b", None, 2.0, (1,), {1: 2}], True),
    ({"a": [1], "b": {2}}, True),
    (list(range(100_000)), True),
    ([Where()] * 100, False),
    ({"a": Where()}, False),
    ({"records": [Where()] * 100, "n": 100}, False),
    ([[1, 2], (3, {"k": "v"})], True),
    (Where(), False),
    (threading.Lock(), False),
])
def test_a_quick_look_decides_whether_to_try(obj, plain_looking):
    assert plain.likely(obj) is plain_looking


@pytest.mark.parametrize("obj", [
    datetime.datetime(2026, 11, 26, tzinfo=datetime.timezone.utc), range(5), slice(None),
    len, print, dict, None, 10 ** 100,
])
def test_what_dumps_here_is_pickles_own_bytes(obj):
    size, data = plain.dump(obj, 5, keep=True)
    assert data == pickle.dumps(obj, 5) and size == len(data)


@pytest.mark.parametrize("obj", [
    Where(), types.SimpleNamespace(a=1), pytest, type("Meta", (type,), {})("C", (), {}), 1j,
])
def test_what_would_run_code_trips(obj):
    with pytest.raises(plain.Tripped):
        plain.dump([obj], 5, keep=False)


def test_a_caller_deep_in_its_own_stack_gets_the_helpers_verdict():
    """How deep the dump may go depends on the stack it runs on: nesting the helper's
    fresh stack takes is no failure because the caller had used most of its own."""
    nested: list[object] = []
    for _ in range(300):
        nested = [nested]

    def deep(levels: int) -> picklecheck.Report:
        if levels:
            return deep(levels - 1)
        return picklecheck.check(nested, backends=("pickle",))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)
    try:
        report = deep(900)
    finally:
        sys.setrecursionlimit(limit)
    assert report.ok, report.culprits


class Refuses:
    def __reduce__(self):
        raise TypeError("refuses to be pickled")


culprit = st.sampled_from([threading.Lock, Refuses, lambda: (lambda: 0)]).map(lambda make: make())
mixed_data = st.recursive(
    st.integers() | st.text(max_size=5) | st.none() | culprit,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=3), inner,
                                                                max_size=4),
    max_leaves=25)


@settings(max_examples=40, deadline=None)
@given(mixed_data, st.booleans())
def test_the_same_report_here_as_in_the_helper(obj, roundtrip):
    """Whether a check starts in the caller's thread changes nothing it reports."""
    def summary(report: picklecheck.Report) -> tuple[object, ...]:
        result = report.results["pickle"]
        return (report.ok, result.ok, result.size, result.error, result.roundtrip,
                [(c.path, c.kind, c.reason, c.hint) for c in report.culprits])

    here = picklecheck.check(obj, backends=("pickle",), roundtrip=roundtrip)
    original = plain.likely
    plain.likely = lambda obj: False  # type: ignore[assignment] - every check to the helper
    try:
        there = picklecheck.check(obj, backends=("pickle",), roundtrip=roundtrip)
    finally:
        plain.likely = original
    assert summary(here) == summary(there)


@pytest.mark.parametrize("obj", [threading.Lock(), threading.RLock(), (x for x in ()),
                                 memoryview(b"ab")])
def test_an_object_written_in_c_fails_here_as_in_any_dump(obj):
    """Its reduction is object's, in C: the failure is the verdict, nothing to redo."""
    with pytest.raises(TypeError) as raised:
        plain.dump([1, obj], 5, keep=False)
    with pytest.raises(TypeError) as expected:
        pickle.dumps([1, obj], 5)
    assert str(raised.value) == str(expected.value)


class Slotted:
    __slots__ = ("a",)


@pytest.mark.parametrize("cls, in_c", [
    (type(threading.Lock()), True), (int, True), (memoryview, True),
    (Where, False), (Slotted, False), (type("Empty", (), {}), False),
    (type("FromInt", (int,), {"__slots__": ()}), False),
])
def test_what_counts_as_written_in_c(cls, in_c):
    assert plain.implemented_in_c(cls) is in_c


class _NewArgsOnly:
    """__getnewargs__ without a __new__ or an __init__: pickle.loads raises "takes no
    arguments"."""

    def __getnewargs__(self):
        return (self.x, self.y)


class _Registry:
    pass


def test_a_pure_load_neither_subclasses_the_class_nor_loads_what_pickle_refuses():
    before = _Registry.__subclasses__()
    report = picklecheck.check(_Registry(), backends=("pickle",))
    assert report.ok and _Registry.__subclasses__() == before
    point = _NewArgsOnly()
    point.x, point.y = 1, 2
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(point))
    report = picklecheck.check(point, backends=("pickle",))
    assert not report.ok and report.results["pickle"].roundtrip is False
