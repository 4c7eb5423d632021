"""works_with: a backend is "ok" with a culprit only if it dumps it alone, loads it back,
and the copy's locks can be acquired; otherwise the culprit says how far it gets."""

from __future__ import annotations

import asyncio
import collections
import io
import logging
import sys
import threading
import weakref

import pytest

import picklecheck


def _culprit(report, path, stage="dumps"):
    matches = [c for c in report.culprits if c.path == path and c.stage == stage]
    assert len(matches) == 1, [(c.path, c.stage) for c in report.culprits]
    return matches[0]


def _gen():
    yield 1


class Node:
    """Importable, so every backend pickles it by reference."""


def make_needy():
    """An instance of a class made in a function whose __reduce__ forgets an argument:
    pickle cannot find the class; dill saves it by value, and its copy cannot load."""

    class Needy:
        def __init__(self, value):
            self.value = value

        def __reduce__(self):
            return (Needy, ())

    return Needy(1)


@pytest.mark.parametrize("factory, path", [
    (lambda: logging.StreamHandler(io.StringIO()), "obj.lock"),
    (threading.Condition, "obj._lock"),
], ids=["logging handler", "Condition"])
def test_dill_copy_of_an_rlock_holder_is_not_ok(factory, path):
    """dill restores an RLock no thread can acquire: never "dill: ok", and dill's own round
    trip of the holder fails at that lock."""
    report = picklecheck.check(factory())
    culprit = _culprit(report, path)
    assert culprit.works_with["dill"] is False
    assert "dill: ok" not in culprit.hint
    # One culprit for the object: pickle's dumps failure, with what dill does with it.
    assert "; with dill: it loads, but the copy's lock" in culprit.hint
    # Said of the culprit's own copy, never of the list the search loaded it in.
    assert culprit.hint.endswith("with dill: it loads, but the copy's lock can never be acquired")
    assert culprit.reasons["dill"] == (
        "loads: UnusableCopyError: it loads, but the copy's lock can never be acquired")
    assert report.results["dill"].ok is False
    dill_own = [c for c in report.results["dill"].culprits if c.path == path]
    assert [(c.stage, c.kind) for c in dill_own] == [("loads", "lock")]


class SlottedJob:
    __slots__ = ("name", "lock")

    def __init__(self):
        self.name, self.lock = "job", threading.RLock()


@pytest.mark.parametrize("factory", [
    SlottedJob,
    lambda: collections.OrderedDict(name="job", lock=threading.RLock()),
    lambda: collections.defaultdict(int, lock=threading.RLock()),
    lambda: collections.deque(["job", threading.RLock()]),
], ids=["slots", "OrderedDict", "defaultdict", "deque"])
def test_dill_copy_of_an_rlock_in_a_slot_or_a_dict_subclass_is_not_ok(factory):
    """The probe reads slots and the items of subclasses of the builtin containers as it
    reads an instance dict: dill's dead RLock there was "dill: ok"."""
    report = picklecheck.check(factory(), backends=("dill",))
    assert report.results["dill"].ok is False
    [culprit] = report.culprits
    assert culprit.reason == "it loads, but the copy's lock can never be acquired"


async def _taken():
    """An asyncio lock held and a semaphore with one place taken (by this task), and a
    lock and a semaphore untouched."""
    held, sem = asyncio.Lock(), asyncio.BoundedSemaphore(3)
    await held.acquire()
    await sem.acquire()
    return {"held": held, "sem": sem}, {"free": asyncio.Lock(), "fresh": asyncio.Semaphore(2)}


def test_an_asyncio_lock_held_when_pickled_is_not_ok_with_any_backend():
    """asyncio's locks are pure Python: every backend copies them held, and no task where
    the copy loads releases them (it was "ok" with all three: their loads run no code,
    so they ran unprobed)."""
    taken, free = asyncio.run(_taken())
    report = picklecheck.check(taken)
    assert not any(result.ok for result in report.results.values())
    reasons = {c.path: c.reason for c in report.culprits}
    assert reasons["obj['held']"] == (
        "it loads, but the copy's asyncio lock is held, as the original was when it was "
        "pickled, and no task where it loads will release it: waiting for it blocks forever")
    assert reasons["obj['sem']"].endswith("it lets 2 tasks in, not 3")
    assert picklecheck.check(free).ok


def test_a_threading_bounded_semaphore_with_places_taken_is_not_ok_with_dill():
    """dill copies threading's BoundedSemaphore with the places threads here had taken
    (it was "dill: ok", while the copy's acquire() blocked forever); an untouched one, or
    a plain Semaphore (which says nothing of a bound), stays ok."""
    limiter = threading.BoundedSemaphore(2)
    limiter.acquire()
    limiter.acquire()
    report = picklecheck.check({"limiter": limiter}, backends=["dill"])
    [culprit] = report.culprits
    assert culprit.reason == (
        "it loads, but the copy's semaphore has 2 of its 2 places taken, as the original had "
        "when it was pickled, and no thread where it loads will give them back: it lets 0 "
        "threads in, not 2: its first acquire() blocks forever")
    assert culprit.path == "obj['limiter']" and culprit.stage == "loads"
    free = {"limiter": threading.BoundedSemaphore(2), "plain": threading.Semaphore(1)}
    assert picklecheck.check(free, backends=["dill"]).ok


@pytest.mark.parametrize("started", [False, True], ids=["unstarted", "running"])
def test_a_thread_is_not_ok_with_dill(started, monkeypatch):
    """dill's copy of a running thread never works, nor on Python 3.13 of an unstarted
    one: 3.13 keeps a thread's state in a handle, which dill copies marked as started, so
    the copy of an unstarted one raises "thread already started", of a running one stays
    alive with no thread behind it (both were "dill: ok" on 3.13; before 3.13 the running
    thread's held _tstate_lock says so, and the copy of an unstarted one starts)."""
    import time

    # (made as outside pytest, whose captured stderr a thread keeps from 3.13 on)
    monkeypatch.setattr(sys, "stderr", sys.__stderr__)
    worker = threading.Thread(target=time.sleep, args=(5 if started else 0,), daemon=True)
    monkeypatch.undo()
    if started:
        worker.start()
    if not started and sys.version_info < (3, 13):
        pytest.skip("before 3.13 dill's copy of an unstarted thread starts")
    report = picklecheck.check({"worker": worker}, backends=["dill"], timeout=30)
    assert report.results["dill"].ok is False, str(report)
    assert [entry.path for entry in report.entries] == ["obj['worker']"]
    if sys.version_info >= (3, 13):
        # (under xdist, a thread also keeps the worker's stderr, a file opened by number)
        [culprit] = [c for c in report.culprits if c.path == "obj['worker']._handle"]
        assert (culprit.kind, culprit.stage) == ("thread", "loads"), culprit.reason
        assert "thread already started" in culprit.reason


def test_each_weakref_gets_its_own_verdict():
    """Weak references of one type are judged by what they refer to, not by type."""
    node, gen = Node(), _gen()
    report = picklecheck.check({"good": weakref.ref(node), "bad": weakref.ref(gen)},
                               backends=("pickle",))
    assert _culprit(report, "obj['good']").works_with["dill"] is True
    assert _culprit(report, "obj['bad']").works_with["dill"] is False


def test_a_held_lock_copies_held_and_an_unlocked_rlock_copies_broken():
    """dill copies a held Lock held, by a thread that does not exist where it loads (its
    first acquire() blocks forever), and an unlocked RLock unacquirable: neither is ok."""
    held = threading.Lock()
    held.acquire()
    try:  # works_with is worked out when first read, from the object as it is then
        report = picklecheck.check({"held": held, "rlock": threading.RLock()},
                                   backends=("pickle",))
        held_culprit = _culprit(report, "obj['held']")
        assert held_culprit.works_with["dill"] is False
        assert "dill: dumps and loads, but the copy's lock is held" in held_culprit.hint
        assert _culprit(report, "obj['rlock']").works_with["dill"] is False
    finally:
        held.release()


def test_dill_round_trip_of_a_held_lock_is_not_ok():
    held = threading.Lock()
    held.acquire()
    try:
        report = picklecheck.check({"lock": held}, backends=("dill",))
    finally:
        held.release()
    assert not report.results["dill"].ok
    [culprit] = report.culprits
    assert culprit.path == "obj['lock']"
    assert "first acquire() blocks forever" in culprit.reason


def test_weakset_callback_is_not_ok_with_backends_that_save_the_set_another_way():
    """dill and cloudpickle save a WeakSet without its _remove callback, and fail on the
    callback alone: they are not "ok" with it."""
    report = picklecheck.check({"seen": weakref.WeakSet()}, backends=("pickle",))
    culprit = _culprit(report, "obj['seen']._remove")
    for other in ("dill", "cloudpickle"):
        assert culprit.works_with[other] is False
        assert culprit.works_with_notes[other] == "saves what holds it, not this part alone"
        assert f"{other}: ok" not in culprit.hint


def test_dumps_alone_is_not_ok():
    """A culprit dill dumps but cannot load back is not "dill: ok"."""
    report = picklecheck.check({"needy": make_needy()}, backends=("pickle",))
    culprit = _culprit(report, "obj['needy']")
    assert culprit.works_with["dill"] is False
    assert culprit.works_with_notes["dill"].startswith("dumps, but the copy does not load (TypeError")


def test_ok_means_ok_for_a_plain_lock():
    """An unheld Lock: dill copies it and the copy works; cloudpickle cannot dump it."""
    report = picklecheck.check({"lock": threading.Lock()}, backends=("pickle",))
    culprit = _culprit(report, "obj['lock']")
    assert culprit.works_with == {"pickle": False, "dill": True, "cloudpickle": False}
    assert culprit.hint.endswith("(dill: ok, cloudpickle: fails)")


def test_a_backend_that_saves_the_whole_object_is_not_said_to_fail():
    """cloudpickle saves a function of a module registered by value with its globals, and
    fails on a lock among them; pickle and dill save the function by name and pass. A
    lock on its own fails with pickle (works_with says what a backend does with the
    culprit alone), but the hint does not say "pickle: fails" where the report says ok
    with pickle."""
    import sys
    import types

    import cloudpickle

    module = types.ModuleType("picklecheck_by_value_jobs")
    exec("import threading\nLOCK = threading.Lock()\ndef job():\n    return LOCK\n",  # noqa: S102
         module.__dict__)
    sys.modules[module.__name__] = module
    cloudpickle.register_pickle_by_value(module)
    try:
        report = picklecheck.check(module.job, name="job")
    finally:
        cloudpickle.unregister_pickle_by_value(module)
        del sys.modules[module.__name__]
    assert report.succeeded() == ("pickle", "dill")
    (culprit,) = report.culprits
    assert culprit.backends == ("cloudpickle",)
    assert culprit.works_with == {"pickle": False, "dill": True, "cloudpickle": False}
    assert culprit.hint.endswith("(dill: ok, pickle: saves the whole object)")


def test_dill_copy_of_a_running_subprocess_is_not_ok():
    """dill copies a running Popen with its process's number: only the original can wait
    for that process, so the copy's poll() says it ended with 0 while it runs. Not ok,
    of kind subprocess; the process is the caller's still, and one that ended copies
    as the record it is."""
    import subprocess
    import sys

    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        report = picklecheck.check({"proc": running}, backends=("dill",))
        [culprit] = report.culprits
        assert (culprit.path, culprit.kind, culprit.stage) == ("obj['proc']", "subprocess", "loads")
        assert f"stands for process {running.pid}, which only the original" in culprit.reason
        assert "start it where it is used" in culprit.hint
        assert running.poll() is None
    finally:
        running.kill()
        running.wait()
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    assert picklecheck.check(ended, backends=("dill",)).ok
