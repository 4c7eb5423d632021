"""The garbage collector is paused while a check runs, and always given back."""

from __future__ import annotations

import gc
import threading

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
