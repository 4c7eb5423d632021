"""A report's hints and "works with" are worked out on first read, once, for every culprit
of the report, and say what an eager report would have said."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
import weakref

import picklecheck
from picklecheck.model import Culprit


class Refuses:
    """Counts every attempt to reduce it, and refuses every one of them."""

    attempts = 0

    def __reduce_ex__(self, protocol):
        Refuses.attempts += 1
        raise TypeError("Refuses cannot be pickled")


def test_other_backends_are_tried_only_when_a_hint_is_read():
    """check() does not dump the culprit with dill or cloudpickle; reading the hint does."""
    report = picklecheck.check({"r": Refuses()}, backends=("pickle",), roundtrip=False)
    after_check = Refuses.attempts
    culprit = report.culprits[0]
    assert culprit.path == "obj['r']"
    assert culprit.kind == "custom_reduce"
    assert Refuses.attempts == after_check
    assert culprit.works_with == {"pickle": False, "dill": False, "cloudpickle": False}
    assert Refuses.attempts > after_check
    assert culprit.hint.endswith("(dill: fails, cloudpickle: fails)")


def test_reading_one_culprit_settles_every_culprit_of_the_report():
    """The first read works out the whole report: the other culprits are filled in too."""
    report = picklecheck.check({"lock": threading.Lock(), "gen": (x for x in ())},
                               backends=("pickle",), roundtrip=False)
    first, second = report.culprits
    assert "_deferred_works_with" not in vars(second)
    assert first.hint.endswith("(dill: ok, cloudpickle: fails)")
    assert vars(second)["_deferred_works_with"] == {
        "pickle": False, "dill": False, "cloudpickle": False}
    assert "_batch" not in vars(second) and "finding" not in vars(second)


def test_concurrent_first_reads_work_it_out_once():
    """Threads reading hints at once all see the same, complete answer."""
    report = picklecheck.check({"lock": threading.Lock()}, backends=("pickle",))
    culprit = report.culprits[0]
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(culprit.hint)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1 and seen[0].endswith("(dill: ok, cloudpickle: fails)")


def test_a_copy_is_a_plain_culprit_with_everything_worked_out():
    """copy.copy and dataclasses.replace give plain values, not deferred ones."""
    report = picklecheck.check([threading.Lock()], backends=("pickle",))
    culprit = report.culprits[0]
    plain = copy.copy(culprit)
    assert type(plain) is Culprit
    assert plain.hint == culprit.hint and plain.works_with == culprit.works_with
    renamed = dataclasses.replace(culprit, path="state[0]")
    assert renamed.path == "state[0]" and renamed.hint == culprit.hint


def test_repr_is_made_on_first_read():
    """The culprit's repr is the bounded repr of the object, as the report shows it."""
    report = picklecheck.check({"lock": threading.Lock()}, backends=("pickle",))
    assert report.culprits[0].repr.startswith("<unlocked _thread.lock object at 0x")
    assert report.culprits[0].to_dict()["repr"] == report.culprits[0].repr


class Sleepy:
    """Refuses to be pickled; once told to, it first hangs (as a stuck __reduce__ would)."""

    asleep = False

    def __reduce_ex__(self, protocol):
        if Sleepy.asleep:
            time.sleep(5)
        raise TypeError("Sleepy cannot be pickled")


def test_working_it_out_keeps_the_checks_time_limit():
    """A comparison stuck in a culprit's __reduce__ ends at the check's time limit: the
    hint is there, and what was not tried in time is left out of works_with."""
    report = picklecheck.check({"s": Sleepy()}, backends=("pickle",), timeout=1.0)
    Sleepy.asleep = True
    try:
        started = time.monotonic()
        culprit = report.culprits[0]
        hint = culprit.hint
        assert time.monotonic() - started < 4.0
    finally:
        Sleepy.asleep = False
    assert hint.startswith("test_deferred.Sleepy refuses to be pickled")
    assert culprit.works_with == {"pickle": False}


class Holder:
    """Refers to itself through a weak reference (which dill follows, and pickle refuses)."""


def test_a_check_that_reaches_an_unread_report_of_its_own_object_finishes():
    """A notebook's namespace holds the last report, and the object checked again reaches
    that namespace (IPython's shell does). Pickling the report works out its hints, whose
    comparison dumps the culprits, which reach the report again: that read must not wait
    for the settle under way (it waited until the time limit, and found nothing)."""
    holder = Holder()
    holder.me = weakref.ref(holder)
    holder.lock = threading.Lock()
    first = picklecheck.check(holder)
    assert {c.path for c in first.culprits} == {"obj.me", "obj.lock"}
    holder.report = first  # unread: its hints are still to be worked out
    started = time.monotonic()
    again = picklecheck.check(holder, timeout=20)
    assert time.monotonic() - started < 10
    assert not any(r.truncated for r in again.results.values())
    assert {c.path for c in again.culprits} == {"obj.me", "obj.lock"}
    assert "(dill: ok" in again.culprits[0].hint
    assert first.culprits[0].works_with  # worked out, as a real dump of it would have
