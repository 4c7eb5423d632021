"""Hostile objects are findings, never crashes or hangs; fatal signals still propagate."""

from __future__ import annotations

import pickle
import sys
import threading
from unittest import mock

import pytest

import picklecheck


def nested_list(depth):
    root = current = []
    for _ in range(depth):
        child = []
        current.append(child)
        current = child
    return root


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_100000_levels_deep_is_reported_with_the_path_where_it_gave_up(backend):
    """No RecursionError escapes; the culprit is where the pickler gave up, named by path."""
    obj = {"tree": nested_list(100_000)}
    report = picklecheck.check(obj, backends=(backend,), name="state")
    (culprit,) = report.culprits
    assert culprit.kind == "too_deep"
    assert culprit.path.startswith("state['tree'][0][0][0]")
    assert eval(culprit.path, {"state": obj}) is culprit.obj  # noqa: S307
    assert "gave up near" in culprit.reason
    assert "100,0" in culprit.hint  # "nests at least 100,0xx levels"
    assert "x [0]" in str(report)  # the long path is shown compactly


class Node:
    """A linked list's node: a small payload, then the rest of the list."""

    def __init__(self, payload, rest):
        self.payload = payload
        self.next = rest


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_long_linked_list_is_named_where_it_goes_on_not_at_a_payload(backend):
    """The pickler gives up in a node's payload, a dict that pickles on its own: the
    culprit is the node the list goes on through, and the depth is the list's."""
    import re

    nodes, head = 0, None
    while True:  # long enough for the backend (3.12 and up pickle far deeper in C)
        for _ in range(max(2000, nodes)):
            head = Node({"v": 1}, head)
        nodes = max(2000, 2 * nodes)
        report = picklecheck.check(head, backends=(backend,), name="head", roundtrip=False)
        if report.culprits or nodes > 200_000:
            break
    (culprit,) = report.culprits
    assert culprit.kind == "too_deep"
    assert type(culprit.obj) is Node and culprit.path.endswith(".next")
    assert eval(culprit.path, {"head": head}) is culprit.obj  # noqa: S307
    nested = int(re.search(r"nests at least ([\d,]+) levels", culprit.hint)[1].replace(",", ""))
    assert nested >= 2 * nodes * 0.99  # two levels a node: its own and its __dict__'s


def test_a_cycle_through_reduce_arguments_is_named():
    """Two objects passing each other to their constructors recurse forever: say so."""
    from culprits import Peer

    a = Peer("a")
    a.other = Peer("b", a)
    report = picklecheck.check({"peer": a}, backends=("pickle",))
    (culprit,) = report.culprits
    assert culprit.kind == "reduce_cycle"
    assert culprit.path == "obj['peer']"
    assert culprit.detail == "culprits.Peer -> culprits.Peer -> culprits.Peer"


class Interrupting:
    def __reduce_ex__(self, protocol):
        raise KeyboardInterrupt


class Exiting:
    def __getstate__(self):
        raise SystemExit(3)


@pytest.mark.parametrize("cls", [Interrupting, Exiting])
def test_fatal_signals_propagate(cls):
    """KeyboardInterrupt and SystemExit raised by user code are not swallowed."""
    with pytest.raises((KeyboardInterrupt, SystemExit)):
        picklecheck.check({"x": cls()}, backends=("pickle",))


def test_magicmock_is_a_finding():
    """A MagicMock (whose attributes all exist) is reported as a mock, not walked forever."""
    report = picklecheck.check({"client": mock.MagicMock()}, backends=("pickle", "dill"))
    assert [(c.path, c.kind) for c in report.culprits] == [("obj['client']", "mock")]
    assert set(report.culprits[0].backends) == {"pickle", "dill"}


class BadReduce:
    def __reduce__(self):
        return 42


class WrongTuple:
    def __reduce__(self):
        return (dict,)


class Everything:
    """Every attribute access raises, even __class__ and __dict__."""

    def __init__(self):
        self.lock = threading.Lock()

    def __getattribute__(self, name):
        raise RuntimeError(f"no attribute access: {name}")


@pytest.mark.parametrize("factory", [BadReduce, WrongTuple, Everything],
                         ids=["reduce returns int", "reduce returns 1-tuple", "getattribute raises"])
def test_broken_reductions_are_culprits(factory):
    """Whatever a reduction returns or raises, the object is named and the check returns."""
    obj = factory()
    report = picklecheck.check([obj], backends=("pickle",))
    assert not report.ok
    assert [c.path for c in report.culprits] == ["obj[0]"]
    assert str(report)  # renders without raising


class OpaqueError(Exception):
    """An exception whose every missing attribute (and its instance dict) raises."""

    def __getattr__(self, name):
        raise RuntimeError(f"no attribute {name}")

    def __getattribute__(self, name):
        if name in ("__dict__", "exception_name", "raised_in", "what", "why"):
            raise RuntimeError(f"no attribute {name}")
        return super().__getattribute__(name)


class UnprintableError(Exception):
    """An exception that cannot be shown."""

    def __str__(self):
        raise RuntimeError("no str")

    def __repr__(self):
        raise RuntimeError("no repr")


class DisguisedError(Exception):
    """An exception whose ``__class__`` raises (isinstance() reads it)."""

    @property
    def __class__(self):
        raise RuntimeError("no class")


class UntouchableError(Exception):
    """An exception none of whose attributes can be read or set, ``__traceback__``
    included (Python itself sets that on it through the C API)."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no attribute {name}")

    def __setattr__(self, name, value):
        raise RuntimeError(f"no setting {name}")


def _refuses(error):
    class Refuses:
        def __reduce__(self):
            raise error("refused")
    return Refuses()


def _raise(error):
    raise error("will not load")


class LoadsBadly:
    """Dumps; its load raises ``error``."""

    def __init__(self, error):
        self.error = error

    def __reduce__(self):
        return (_raise, (self.error,))


@pytest.mark.parametrize("error", [OpaqueError, UnprintableError, DisguisedError,
                                   UntouchableError])
@pytest.mark.parametrize(("make", "kind", "stage"), [
    (_refuses, "custom_reduce", "dumps"),
    (LoadsBadly, "load_failure", "loads"),
], ids=["raised by __reduce__", "raised while loading (in the loading child)"])
def test_an_exception_that_resists_being_read_is_a_culprits_error(make, kind, stage, error):
    """What a culprit raised is read without running its code. An exception whose
    attribute lookups, ``__str__`` or ``__class__`` raise used to escape check() as a
    traceback of ours (at dumps), and a load that raised one was reported as the load
    ending the process (SystemExit)."""
    report = picklecheck.check({"x": make(error)}, name="state")
    (culprit,) = report.culprits
    assert (culprit.path, culprit.kind, culprit.stage) == ("state['x']", kind, stage)
    assert set(culprit.backends) == {"pickle", "dill", "cloudpickle"}
    if not (stage == "loads" and error is UntouchableError):  # contextlib sets its
        assert culprit.exception == error.__name__  # traceback: RuntimeError, in the child
    assert str(report)


class ReprBomb:
    def __init__(self):
        self.cb = lambda: 0

    def __repr__(self):
        raise ValueError("boom")


def test_raising_repr_is_bounded_and_safe():
    """A raising __repr__ shows as a placeholder in the report."""
    report = picklecheck.check(ReprBomb(), backends=("pickle",))
    assert report.repr == "<test_hostile.ReprBomb object (repr raised ValueError)>"
    assert "repr raised ValueError" in str(report)


class SlowRepr:
    """Its __repr__ takes longer than the check may."""

    def __init__(self):
        self.lock = threading.Lock()

    def __repr__(self):
        import time

        time.sleep(4)
        return "slow"


def test_a_repr_that_does_not_return_in_time_loses_nothing_else():
    """The object's own repr is made last: one that does not return by the time limit
    is a placeholder, and the culprits found stand (before, the whole report was lost:
    "0 culprits")."""
    import time

    started = time.monotonic()
    report = picklecheck.check(SlowRepr(), backends=("pickle",), timeout=1)
    assert time.monotonic() - started < 3
    assert report.repr == "<not shown: its __repr__ did not return within the check's time limit>"
    assert [c.path for c in report.culprits] == ["obj.lock"]
    assert not report.results["pickle"].truncated


def test_huge_repr_is_bounded():
    """The report never holds a whole graph's repr."""
    obj = {i: str(i) * 50 for i in range(100_000)}
    obj["cb"] = lambda: 0
    report = picklecheck.check(obj, backends=("pickle",))
    assert len(report.repr) <= 120 and all(len(c.repr) <= 120 for c in report.culprits)
    assert [c.path for c in report.culprits] == ["obj['cb']"]


def test_does_not_disturb_the_recursion_limit():
    """The check leaves sys.getrecursionlimit as it found it."""
    before = sys.getrecursionlimit()
    picklecheck.check(nested_list(5000), backends=("pickle",))
    assert sys.getrecursionlimit() == before


def test_bad_arguments_are_clear_errors():
    """Wrong arguments to check raise ValueError with the fix in the message."""
    with pytest.raises(ValueError, match="backends is empty"):
        picklecheck.check(1, backends=())
    with pytest.raises(ValueError, match="max_culprits must be at least 1"):
        picklecheck.check(1, max_culprits=0)
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        picklecheck.check(1, name="")
    with pytest.raises(ValueError, match="backends must be a backend's name or an iterable"):
        picklecheck.check(1, backends=42)
    assert picklecheck.check(1, backends=None).backends == ("pickle", "dill", "cloudpickle")


def test_result_pickles_like_stdlib():
    """Sanity: the object used as clean input really pickles with the stdlib."""
    assert pickle.loads(pickle.dumps(nested_list(10))) == nested_list(10)


def test_big_bytes_repr_is_cut_before_it_is_built():
    """A 100 MB payload's repr is bounded (and built from its ends only)."""
    from picklecheck.engine.saferepr import saferepr

    text = saferepr({"blob": bytes(100_000_000)})
    assert len(text) <= 120 and text.startswith("{'blob': b'\\x00")


class _Odd:
    """A class named like a builtin: reprlib picks its method by name."""


_NamedList = type("list", (list,), {})  # reprlib shows it with repr_list
_Spaced = type(" list", (list,), {})  # " list".split() is ["list"]: repr_list too
_ODDS = [_Odd(), _NamedList([1, 2]), _Spaced([3, 4, 5, 6, 7, 8]), ReprBomb()]


def _reprable():
    from hypothesis import strategies as st

    atoms = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
             | st.text(max_size=300) | st.binary(max_size=300)
             | st.integers(0, 3).map(lambda i: _ODDS[i]))  # never repr'd by hypothesis
    return st.recursive(atoms, lambda kids: (
        st.lists(kids, max_size=8) | st.tuples(kids, kids)
        | st.dictionaries(st.text(max_size=5), kids, max_size=8)
        | st.frozensets(st.integers(), max_size=8)), max_leaves=40)


def test_saferepr_is_reprlibs_repr():
    """saferepr remembers reprlib's per-item method lookup (by the type's name, spaces
    made underscores) instead of building the name for every item: the text is the
    same, for names like a builtin's or with spaces too."""
    import reprlib

    from hypothesis import given, settings

    from picklecheck.engine import saferepr as module

    class Reference(module._Repr):
        repr1 = reprlib.Repr.repr1

    reference = Reference(module.MAX_REPR)

    @settings(max_examples=300, deadline=None)
    @given(_reprable())
    def same(obj):
        try:
            expected = module._shorten(reference.repr(obj), module.MAX_REPR)
        except ValueError:  # a ReprBomb: saferepr says so instead
            expected = module.saferepr(obj)
            assert "repr raised ValueError" in expected
        assert module.saferepr(obj) == expected

    same()


def test_saferepr_of_atoms_is_reprlibs_repr():
    """A list or tuple of numbers, strings, booleans and None is shown at C speed: the
    text is reprlib's, for every length, every size limit, and items reprlib shortens
    (long ints and strings) or does not take this way (nested lists, bytes)."""
    import reprlib

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from picklecheck.engine import saferepr as module

    class Reference(module._Repr):
        repr1 = reprlib.Repr.repr1

    item = (st.none() | st.booleans() | st.integers() | st.integers(10**38, 10**45)
            | st.floats() | st.text(max_size=60) | st.binary(max_size=4)
            | st.lists(st.integers(), max_size=2))

    @settings(max_examples=400, deadline=None)
    @given(st.lists(item, max_size=7), st.booleans(), st.integers(4, 130))
    def same(items, as_tuple, maxsize):
        obj = tuple(items) if as_tuple else items
        expected = module._shorten(Reference(maxsize).repr(obj), maxsize)
        assert module.saferepr(obj, maxsize) == expected

    same()


def _deepest_that_dumps():
    """The deepest nested list ``pickle.dumps({"lock": None, "deep": ...})`` saves from
    here (a binary search)."""
    lo, hi = 1, 20_000
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            pickle.dumps({"lock": None, "deep": nested_list(mid)})
            lo = mid
        except RecursionError:
            hi = mid - 1
    return lo


def _near_the_stacks_end(found):
    obj = {"lock": threading.Lock(), "deep": nested_list(_deepest_that_dumps() - 3)}
    report = picklecheck.check(obj, backends=("pickle",), name="obj")
    found.extend(x.path for x in report.culprits)


def test_a_part_the_dump_saved_near_the_stacks_end_is_not_too_deep():
    """A list ``pickle.dumps`` saves three levels short of the stack's end, beside a lock:
    the search dumps it from further down the stack than the check's own dump, where it
    ran out of stack and was named too deep beside the lock. The search gets the stack
    the check's dump had. (From a thread of its own, as from a script's top level:
    pytest's frames would leave a dump from here less stack than the search has.)"""
    found: list[str] = []
    caller = threading.Thread(target=_near_the_stacks_end, args=(found,))
    caller.start()
    caller.join()
    assert found == ["obj['lock']"]


def test_a_mock_that_makes_children_as_it_is_reduced_is_checked_in_time():
    """Below where the pickler gave up, how deep the graph goes is measured for a moment
    only: a ``MagicMock`` makes (and keeps) new children as it is reduced, so the walk
    never ends. On Python 3.10, whose ``unittest.mock`` call records recurse when pickled,
    the check ran into its 60 s limit."""
    m = mock.MagicMock(name="svc")
    m.get.return_value = {"a": 1}
    m.client.fetch.side_effect = [1, 2, 3]
    m.get("x")
    report = picklecheck.check(m, backends=("pickle",), roundtrip=False, name="m")
    result = report.results["pickle"]
    assert not result.truncated and not result.skipped
    assert report.culprits and report.culprits[0].path == "m"


def test_a_container_inside_itself_is_shown_as_repr_shows_it():
    """cyc = [cyc, 1] is [[...], 1], as repr() has it (it read [[[...], 1], 1], a level
    that is not there); so are a dict, a tuple through a list, and a deque."""
    import collections

    from picklecheck.engine.saferepr import saferepr

    cyc: list = []
    cyc += [cyc, 1]
    d: dict = {}
    d["self"] = d
    holder: list = []
    t = (holder, 2)
    holder.append(t)
    q: collections.deque = collections.deque()
    q.append(q)
    for obj in (cyc, d, t, q):
        assert saferepr(obj) == repr(obj)
    report = picklecheck.check(cyc, name="cyc", backends=("pickle",))
    assert report.repr == "[[...], 1]"


class EndlessItems:
    """A reduction whose listitems never end and make a new lock each: pickle fails on
    the first; the search reads a bounded number of them."""

    def __reduce__(self):
        import itertools
        import threading

        return (list, (), None, map(lambda i: threading.Lock(), itertools.count()))


def test_endless_listitems_are_read_a_bounded_number_of_times():
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = picklecheck.check(EndlessItems(), backends=("pickle",), timeout=5,
                               max_culprits=3)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert not report.ok
    assert [c.path for c in report.culprits][:1] == ["obj[<item 0>]"]
    assert grown_mib < 400


class KeyWithBadRepr:
    """A dict key whose __repr__ raises (a detached SQLAlchemy instance's repr reads a
    relationship that is no longer loaded)."""

    def __init__(self, n):
        self.n = n

    def __hash__(self):
        return hash(self.n)

    def __eq__(self, other):
        return isinstance(other, KeyWithBadRepr) and other.n == self.n

    def __repr__(self):
        raise RuntimeError("Parent instance is not bound to a Session")


def test_a_key_whose_repr_raises_does_not_fail_the_round_trip():
    """pickle.loads of it works; the check's usability probe never reads a key's repr."""
    state = {"scores": {KeyWithBadRepr(1): [3, 4], KeyWithBadRepr(2): [5]},
             "guard": asyncio_lock_holder()}
    assert pickle.loads(pickle.dumps(state["scores"])) == state["scores"]
    report = picklecheck.check(state)
    assert report.ok, str(report)


def asyncio_lock_holder():
    """An unlocked asyncio lock: its name in the bytes makes the probe walk the copy."""
    import asyncio

    return asyncio.Lock()
