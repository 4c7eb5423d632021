"""works_with judges a report's culprits together (one pickler while they dump, one payload
while they load): each still gets the verdict it would get on its own."""

from __future__ import annotations

import threading

import picklecheck


def _gen():
    yield 1


def make_needy():
    """An instance of a class made in a function whose __reduce__ forgets an argument:
    pickle cannot find the class; dill saves it by value, and its copy cannot load."""

    class Needy:
        def __init__(self, value):
            self.value = value

        def __reduce__(self):
            return (Needy, ())

    return Needy(1)


def _by_path(report):
    return {c.path: c for c in report.culprits}


def test_good_and_bad_copies_in_one_batch_are_told_apart():
    """A lock dill copies well, an RLock it copies dead and an object whose copy cannot
    load, loaded as one payload: the payload fails, the halves say which is which."""
    state = {"lock": threading.Lock(), "rlock": threading.RLock(), "needy": make_needy(),
             "lock2": threading.Lock(), "gen": _gen()}
    culprits = _by_path(picklecheck.check(state, backends=("pickle",)))
    assert culprits["obj['lock']"].works_with["dill"] is True
    assert culprits["obj['lock2']"].works_with["dill"] is True
    assert culprits["obj['rlock']"].works_with["dill"] is False
    assert culprits["obj['rlock']"].works_with_notes["dill"] == (
        "dumps and loads, but the copy's lock can never be acquired")
    assert culprits["obj['needy']"].works_with["dill"] is False
    assert culprits["obj['needy']"].works_with_notes["dill"].startswith(
        "dumps, but the copy does not load")
    assert culprits["obj['gen']"].works_with["dill"] is False
    assert "dill" not in culprits["obj['gen']"].works_with_notes


def test_a_culprit_after_a_failing_one_is_judged_alone():
    """A culprit that holds one another backend cannot dump fails with it too, whatever
    was dumped before it (no failed object counts as saved)."""
    gen = _gen()
    holder = threading.Lock()
    state = {"gen": gen, "pair": (lambda: 1, gen), "lock": holder}
    culprits = _by_path(picklecheck.check(state, backends=("pickle",)))
    assert culprits["obj['pair'][0]"].works_with["dill"] is True
    assert culprits["obj['gen']"].works_with["dill"] is False
    assert culprits["obj['lock']"].works_with["dill"] is True


def test_the_checked_object_takes_the_backends_own_verdict():
    """The object itself as a culprit (a local class's instance for pickle): a backend
    that failed on it for a reason its own search found fails inside it."""

    class Local:
        pass

    obj = Local()
    obj.gen = _gen()
    report = picklecheck.check(obj)
    root = next(c for c in report.culprits if c.path == "obj")
    assert root.works_with["dill"] is False and root.works_with["cloudpickle"] is False
    assert "dill and cloudpickle get past it but fail inside it" in root.hint


class Holder:
    """What two callbacks close over."""


def test_closures_sharing_a_cell_each_fail_where_the_cell_leads():
    """Two lambdas over the same variable share one cell, which dill saves as a stand-in
    and fills in after the function: after the first lambda fails, the second must not
    pass on the half-finished cell."""
    holder = Holder()
    holder.gen = _gen()
    holder.callbacks = {"a": lambda: holder, "b": lambda: holder}
    culprits = _by_path(picklecheck.check(holder))
    for path in ("obj.callbacks['a']", "obj.callbacks['b']"):
        assert culprits[path].works_with["dill"] is False
        assert "dill and cloudpickle get past it but fail inside it" in culprits[path].hint
