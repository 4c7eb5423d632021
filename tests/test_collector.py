"""The garbage collector is paused while a check runs, and always given back."""

from __future__ import annotations

import gc
import threading
import traceback
import types

import pytest

import picklecheck
from picklecheck.isolation.collector import Pause


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


class Watches:
    """Pickles fine, and notes whether the collector was on while it was reduced."""

    def __init__(self):
        self.seen = []

    def __reduce__(self):
        self.seen.append(gc.isenabled())
        return (Watches, ())


def test_a_check_pauses_the_collector_and_gives_it_back(collector_on):
    obj = {"watched": Watches(), "lock": threading.Lock()}
    report = picklecheck.check(obj, backends=("pickle", "dill"))
    assert not report.ok
    assert obj["watched"].seen and not any(obj["watched"].seen)
    assert gc.isenabled()


def test_a_program_that_turned_the_collector_off_keeps_it_off(collector_on):
    gc.disable()
    picklecheck.check({"watched": Watches(), "lock": threading.Lock()}, backends=("pickle",))
    assert not gc.isenabled()


class Stuck:
    """A reducer that waits until released: a check of it runs out of time."""

    def __init__(self, release):
        self.release = release

    def __reduce__(self):
        self.release.wait(30)
        return (int, ())


def test_a_check_stuck_past_its_limit_still_gives_the_collector_back(collector_on):
    release = threading.Event()
    try:
        report = picklecheck.check(Stuck(release), backends=("pickle",), timeout=0.5)
        assert not report.ok
        assert gc.isenabled()  # while the helper is still stuck in the reducer
    finally:
        release.set()
    assert gc.isenabled()


def test_pauses_are_counted_and_ending_one_twice_ends_it_once(collector_on):
    first, second = Pause(), Pause()
    first.end()
    first.end()
    assert not gc.isenabled()  # the second is still under way
    second.end()
    assert gc.isenabled()
    with Pause():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_a_check_in_the_callers_thread_pauses_the_collector_too(collector_on):
    """Builtin data with pickle is checked (and loaded back) in the caller's thread
    (isolation.plain, isolation.pure): no collection runs in the middle of it either
    (one may run once it is over: what it left is young)."""
    rows = [(i, str(i)) for i in range(50_000)]
    during = []

    def note(phase, info):
        if phase == "start":
            during.append(any(f.name == "_check" and f.filename.endswith("check.py")
                              for f in traceback.extract_stack()))

    gc.callbacks.append(note)
    try:
        report = picklecheck.check(rows, backends=("pickle",))
    finally:
        gc.callbacks.remove(note)
    assert report.ok and report.results["pickle"].roundtrip
    assert not any(during)
    assert gc.isenabled()


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_check_leaves_no_frames_for_the_collector(backend):
    """A finding keeps its error but not the error's frames: they hold the search's
    levels (a flat payload's list of a million items) in a reference cycle that only
    the collector frees, walking all of it (200 ms, whenever it next runs)."""
    data = {"rows": list(range(10_000)) + [(i for i in ())]}
    picklecheck.check(data, backends=(backend,), roundtrip=False)
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        report = picklecheck.check(data, backends=(backend,), roundtrip=False)
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        ours = [o.f_code.co_name for o in gc.garbage
                if isinstance(o, types.FrameType) and "picklecheck" in o.f_code.co_filename]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if was:
            gc.enable()
    assert not report.ok
    assert ours == []
