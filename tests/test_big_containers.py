"""The standard library's big containers (a deque, an OrderedDict, a defaultdict, a Counter,
a set of rows): each culprit is named by a path that evaluates to it, and nothing about
them is walked or written item by item beyond what pickling them costs."""

from __future__ import annotations

import collections
import threading

import pytest

import picklecheck
from picklecheck.engine.saferepr import saferepr

N = 50_000


def _lock_at_end(kind: str) -> tuple[object, str, threading.Lock]:
    lock = threading.Lock()
    if kind == "deque":
        obj: object = collections.deque(range(N))
        obj[-1] = lock  # type: ignore[index]
        return obj, f"obj[{N - 1}]", lock
    if kind == "OrderedDict":
        obj = collections.OrderedDict((i, i) for i in range(N))
        obj.move_to_end(7)  # its order, not the dict's, is the one pickled
        obj[7] = lock  # type: ignore[index]
        return obj, "obj[7]", lock
    if kind == "defaultdict":
        obj = collections.defaultdict(list)
        for i in range(N):
            obj[i % 500].append(i)  # type: ignore[index]
        obj[499].append(lock)  # type: ignore[index]
        return obj, f"obj[499][{N // 500}]", lock
    if kind == "set of rows":
        obj = {(i, str(i)) for i in range(N)} | {(-1, lock)}
        return obj, "obj[<set element>][1]", lock
    msg = kind
    raise ValueError(msg)


@pytest.mark.parametrize("kind", ["deque", "OrderedDict", "defaultdict", "set of rows"])
@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_a_culprit_in_a_big_stdlib_container_is_named_by_its_path(kind, backend):
    obj, path, lock = _lock_at_end(kind)
    report = picklecheck.check(obj, backends=(backend,), roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [(path, lock)]
    if "<" not in path:
        assert eval(path, {"obj": obj}) is lock  # noqa: S307 - the path is ours


def test_a_defaultdict_is_not_changed_by_naming_its_culprit():
    """Walking a path again reads a defaultdict with dict's own lookup: no key is added."""
    obj, path, lock = _lock_at_end("defaultdict")
    before = len(obj)  # type: ignore[arg-type]
    report = picklecheck.check(obj, backends=("pickle",), roundtrip=False)
    assert [c.path for c in report.culprits] == [path]
    assert len(obj) == before  # type: ignore[arg-type]


def test_culprits_among_many_reduction_items_are_each_named():
    """A reduction's items (a deque's) are named only when one fails: 100 locks, 100 paths."""
    items = collections.deque(range(N))
    where = list(range(250, N, 500))
    for i in where:
        items[i] = threading.Lock()
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False, max_culprits=200)
    assert sorted(c.path for c in report.culprits) == sorted(f"obj[{i}]" for i in where)


@pytest.mark.parametrize("make", [
    lambda: collections.OrderedDict((i, list(range(50))) for i in range(N)),
    lambda: collections.Counter({i: i for i in range(N)}),
    lambda: collections.defaultdict(list, {i: list(range(50)) for i in range(2_000)}),
], ids=["OrderedDict", "Counter", "defaultdict"])
def test_a_big_stdlib_mapping_shows_its_first_items(make):
    """Its own repr writes every item (a Counter sorts them first): a report shows the first few."""
    text = saferepr(make())
    assert len(text) <= 120
    assert text.split("(")[0] in ("OrderedDict", "Counter", "defaultdict")
    assert "..." in text


class Shown:
    """Counts how often it was asked for its repr."""

    count = 0

    def __repr__(self) -> str:
        Shown.count += 1
        return "shown"


@pytest.mark.parametrize("kind", [collections.OrderedDict, collections.Counter,
                                  lambda items: collections.defaultdict(list, items)],
                         ids=["OrderedDict", "Counter", "defaultdict"])
def test_a_big_stdlib_mapping_is_not_written_out_to_show_it(kind):
    Shown.count = 0
    text = saferepr(kind({i: Shown() for i in range(5_000)}))
    assert "shown" in text
    assert Shown.count <= 10


def test_a_small_stdlib_mapping_reads_as_its_own_repr():
    small = collections.OrderedDict(a=1, b=2)
    assert saferepr(small) == repr(small)


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_big_object_array_names_only_its_failing_elements(monkeypatch, backend):
    """A numpy object array pickles its elements as one list in its state: the search,
    and the path's walk again for the report, name an element only when one fails (a
    million of them, each named, took seconds where pickling them took milliseconds)."""
    np = pytest.importorskip("numpy")
    from picklecheck.engine import walker

    made = []

    class Counted(walker.Child):
        __slots__ = ()

        def __init__(self, *args, **kwargs):
            made.append(None)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(walker, "Child", Counted)
    grid = np.empty((100, N // 100), dtype=object)
    grid[:] = 0
    grid[42, 7] = (i for i in range(3))
    report = picklecheck.check({"grid": grid}, backends=(backend,), roundtrip=False)
    assert len(made) < 100
    paths = [c.path for c in report.culprits]
    if backend == "dill":  # dill reduces the array to a call whose argument is its state
        assert paths == [f"obj['grid'][<reduce argument 2>][4][{42 * (N // 100) + 7}]"]
    else:
        assert paths == ["obj['grid'][42, 7]"]


class _Asked:
    """Reduces to a call and a state, as a numpy array does; says what it was asked for."""

    asked: list[str] = []

    def __init__(self, state):
        self.__dict__["state"] = state

    def __reduce__(self):
        return _Asked, ({},), self.__dict__["state"]

    def __setstate__(self, state):
        self.__dict__["state"] = state

    def __getattr__(self, name):
        _Asked.asked.append(name)
        raise AttributeError(name)


def test_only_a_numpy_array_is_asked_what_dtype_it_has():
    """Whether a reduction's state is an object array's elements is asked of a numpy
    array alone: any other object reduced the same way is not asked for a ``dtype``
    (its ``__getattr__`` is the user's code, and a search reduces thousands)."""
    _Asked.asked = []
    report = picklecheck.check({"x": _Asked((1, 2, 3, 4, [threading.Lock()]))},
                               backends=("pickle",), roundtrip=False)
    assert report.culprits
    assert "dtype" not in _Asked.asked
