"""Flat containers (long runs of atoms) are scanned in big slices: every culprit is still
found, exactly once, at its own path, wherever it sits and however often it appears."""

from __future__ import annotations

import threading

import pytest

import picklecheck


def _gen():
    yield 1


def _paths(report):
    return sorted(c.path for c in report.culprits)


@pytest.mark.parametrize("where", [0, 1, 4_999, 9_998, 9_999], ids=lambda w: f"at {w}")
@pytest.mark.parametrize("make", [lambda i: i * 7, lambda i: f"user-{i}", lambda i: i / 3,
                                  lambda i: bytes([i % 256]) * 3],
                         ids=["ints", "strs", "floats", "bytes"])
def test_one_culprit_in_a_flat_list_is_found_wherever_it_is(make, where):
    """A lock anywhere in 10^4 atoms is found at its index."""
    items = [make(i) for i in range(10_000)]
    items[where] = threading.Lock()
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False)
    assert _paths(report) == [f"obj[{where}]"]


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle", "dill"])
def test_many_culprits_spread_over_a_flat_list_are_all_found(backend):
    """100 generators spread over 50,000 ints: each found once, none extra."""
    items = list(range(50_000))
    where = [i * 500 + 250 for i in range(100)] + [49_999]
    for i in where:
        items[i] = _gen()
    report = picklecheck.check(items, backends=(backend,), roundtrip=False, max_culprits=200)
    assert _paths(report) == sorted(f"obj[{i}]" for i in where)


def test_adjacent_culprits_in_a_flat_list_are_all_found():
    """A cluster of culprits side by side is narrowed to each one."""
    items = [f"s{i}" for i in range(20_000)]
    for i in range(12_000, 12_040):
        items[i] = threading.Lock()
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False)
    assert _paths(report) == sorted(f"obj[{i}]" for i in range(12_000, 12_040))


def test_the_same_culprit_twice_in_a_flat_list_is_one_culprit():
    """One lock referenced at two places of a flat list is reported once, at the first."""
    lock = threading.Lock()
    items = list(range(30_000))
    items[100] = items[29_000] = lock
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [("obj[100]", lock)]


def test_a_culprit_inside_a_container_among_atoms_is_named_inside_it():
    """A big list nested in a flat list is searched item by item once its slice fails."""
    inner = list(range(2_000))
    inner[1_234] = threading.Lock()
    items = list(range(10_000))
    items[7_000] = inner
    items[7_001] = {"a": 1, "b": (1, 2, _gen())}
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj[7000][1234]", "obj[7001]['b'][2]"]


@pytest.mark.parametrize("container", [tuple, lambda items: dict(enumerate(items))],
                         ids=["tuple", "dict values"])
def test_flat_tuples_and_dict_values_are_searched_the_same_way(container):
    """A tuple's items and a dict's values are flat levels too."""
    items = [i * 3 for i in range(10_000)]
    items[6_543] = threading.Lock()
    report = picklecheck.check(container(items), backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj[6543]"]


class Key:
    """A hashable key holding something unpicklable."""

    def __init__(self):
        self.gen = _gen()


def test_an_unpicklable_key_among_many_atoms_is_found():
    """A dict of 10^4 int keys with one key a generator holder: the generator is found."""
    key = Key()
    data = {i: i for i in range(10_000)}
    data[key] = 1
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert [c.obj for c in report.culprits] == [key.gen]


def test_a_failing_value_is_named_by_its_key_and_a_changed_dict_by_nothing_false():
    """A dict's keys are listed only to name a failing value: the name is its key; if
    the dict changed in between (another thread), no key is guessed."""
    from picklecheck.backends import get_backend
    from picklecheck.engine.walker import expand

    data = {f"k{i}": i for i in range(1_000)}
    data["k700"] = threading.Lock()
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj['k700']"]
    exp = expand(data, get_backend("pickle"), 4)
    data["extra"] = 1
    assert exp.child(700).obj is data["k700"]
    assert exp.child(700).steps[0].render() == "[<value 700>]"


class _NoComparing(type):
    """A metaclass whose classes refuse to be compared."""

    def __eq__(cls, other):
        raise RuntimeError("classes of this kind are not compared")

    __hash__ = type.__hash__


class Uncomparable(metaclass=_NoComparing):
    """A plain importable class that its metaclass will not compare."""


def test_a_key_whose_class_refuses_comparison_changes_nothing():
    """Counting a big dict's key types compares classes; one whose metaclass raises
    there is looked at the other way: the failing value is still named by its key."""
    data = {i: i for i in range(1_000)}
    data[Uncomparable()] = 1
    data[500] = threading.Lock()
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj[500]"]


def test_every_failing_value_of_a_big_dict_is_named_by_its_own_key():
    """Values are named by counting on to their key from the last one named (in the
    order the scan meets them); one before it has the keys listed: in any order, each
    gets its own. Keys of two atom types are atoms too."""
    from picklecheck.backends import get_backend
    from picklecheck.engine.walker import expand

    data = {f"k{i}": i for i in range(5_000)}
    for i in (4_999, 17, 2_500):
        data[f"k{i}"] = threading.Lock()
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert sorted(_paths(report)) == ["obj['k17']", "obj['k2500']", "obj['k4999']"]
    exp = expand(data, get_backend("pickle"), 4)
    assert [exp.child(i).steps[0].render() for i in (2_500, 17, 4_999, 0)] == [
        "['k2500']", "['k17']", "['k4999']", "['k0']"]
    exp = expand(data, get_backend("pickle"), 4)
    assert [exp.child(i).steps[0].render() for i in (17, 2_500, 2_501, 4_999, 100)] == [
        "['k17']", "['k2500']", "['k2501']", "['k4999']", "['k100']"]
    mixed = {**{i: i for i in range(3_000)}, **{f"s{i}": i for i in range(3_000)}}
    mixed[2_999] = mixed["s5"] = threading.Lock()
    report = picklecheck.check(mixed, backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj[2999]"]  # one lock: one culprit, named where first met
    assert [expand(mixed, get_backend("pickle"), 4).child(i).steps[0].render()
            for i in (3_005, 2_999)] == ["['s5']", "[2999]"]


def test_a_flat_set_names_its_culprit_as_a_set_element():
    """A set of ints with one lock: the lock is found (a set element has no index)."""
    lock = threading.Lock()
    data = set(range(10_000)) | {lock}
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert [c.obj for c in report.culprits] == [lock]
    assert report.culprits[0].evaluable is False


def test_a_clean_flat_list_is_clean():
    """Nothing is reported for a million picklable atoms."""
    report = picklecheck.check(list(range(1_000_000)), backends=("pickle",), roundtrip=False)
    assert report.ok and report.culprits == []


class Refuses:
    """Counts how often a pickler asked it to reduce itself."""

    calls = 0

    def __reduce__(self):
        Refuses.calls += 1
        raise TypeError("refuses to be pickled")


@pytest.mark.parametrize("backend", ["pickle", "dill"])
# A flat level is fed from its first item; the C pickler takes its items in batches of 1000,
# and takes the second of each (1,001) before it saves the first (1,000). 1,000 is the
# last item of a level of 1,001, alone in its batch.
@pytest.mark.parametrize("size, at", [(1000, 500), (20_000, 999), (20_000, 1_000),
                                      (20_000, 1_001), (20_000, 15_000), (1_001, 1_000)])
def test_the_one_object_of_a_failed_slice_is_not_pickled_again(backend, size, at):
    """Atoms never fail, and where the pickler was in a flat level says which item
    failed: it is reduced by the failed dump, by the scan, and once more to name why,
    never a fourth time to find it. Two side by side are both found."""
    Refuses.calls = 0
    items: list[object] = list(range(size))
    items[at] = Refuses()
    report = picklecheck.check(items, backends=(backend,), roundtrip=False)
    assert [c.path for c in report.culprits] == [f"obj[{at}]"]
    assert Refuses.calls == 3
    if at + 1 < size:
        items[at + 1] = Refuses()
        report = picklecheck.check(items, backends=(backend,), roundtrip=False)
        assert [c.path for c in report.culprits] == [f"obj[{at}]", f"obj[{at + 1}]"]


@pytest.mark.parametrize("backend", ["pickle", "dill"])
def test_a_culprit_last_in_its_level_ends_the_scan(backend, monkeypatch):
    """Past a level's last item there is nothing left to pickle: the scan runs the
    backend's pickler once, never a second time on nothing."""
    from picklecheck.backends import get_backend

    runs = []
    real = type(get_backend(backend)).run

    def counted(self, pickler, obj):
        runs.append(type(obj).__name__)
        return real(self, pickler, obj)

    monkeypatch.setattr(type(get_backend(backend)), "run", counted)
    items: list[object] = [*range(5_000), _gen()]
    report = picklecheck.check(items, backends=(backend,), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj[5000]"]
    assert runs.count("FedList") == 1, runs


class Fine:
    """Pickles, and is not an atom."""


@pytest.mark.parametrize("protocol", [0, 2, 5])
@pytest.mark.parametrize("first, second", [("lock", "fine"), ("fine", "lock"), ("lock", "lock"),
                                           ("lock", "int"), ("int", "lock")])
@pytest.mark.parametrize("at", [1_000, 4_000, 9_998])
def test_the_first_two_items_of_a_batch_are_told_apart(protocol, first, second, at):
    """The C pickler takes a batch's first two items before it saves the first, so where
    it was names either: the one that is not an atom is the one that failed, and two
    objects are pickled again one by one. Every culprit is found, and nothing else."""
    make = {"lock": threading.Lock, "fine": Fine, "int": lambda: 7}
    items: list[object] = list(range(10_000))
    items[at], items[at + 1] = make[first](), make[second]()
    report = picklecheck.check(items, backends=("pickle",), protocol=protocol, roundtrip=False)
    expected = [f"obj[{i}]" for i, kind in ((at, first), (at + 1, second)) if kind == "lock"]
    assert _paths(report) == expected


def test_an_item_the_flat_feed_does_not_look_at_is_pickled_again_with_its_checks():
    """A flat level's items go to the pickler unlooked-at. A big list among them that fails
    is fed item by item once found (its culprit named inside it), and the same lock met
    again after a search lost its memo is known, not a second culprit."""
    lock = threading.Lock()
    inner = list(range(1_000))
    inner[500] = lock
    items: list[object] = list(range(10_000))
    items[3_000], items[6_000] = inner, lock
    report = picklecheck.check(items, backends=("pickle",), roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [("obj[3000][500]", lock)]


def _row(kind, i, value):
    return {"tuple": lambda: (i, value), "list": lambda: [i, f"n{i}", value],
            "dict": lambda: {"id": i, "value": value}}[kind]()


_INSIDE = {"tuple": "[1]", "list": "[2]", "dict": "['value']"}


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle", "dill"])
@pytest.mark.parametrize("kind", ["tuple", "list", "dict"])
def test_culprits_in_rows_are_named_inside_their_row(backend, kind):
    """Rows (small tuples, lists, dicts: what a query or a JSON file gives) are fed like
    atoms: every culprit is named inside its own row, at batch boundaries too."""
    where = [0, 999, 1_000, 1_001, 2_500, 19_999]
    rows = [_row(kind, i, i * 2.5) for i in range(20_000)]
    for i in where:
        rows[i] = _row(kind, i, _gen())
    report = picklecheck.check(rows, backends=(backend,), roundtrip=False)
    assert _paths(report) == sorted(f"obj[{i}]{_INSIDE[kind]}" for i in where)


def test_a_big_row_among_small_ones_is_searched_item_by_item():
    """A row long enough to be fed a level down is found, and its culprit named in it;
    rows shared with an index are each one culprit, named where first met."""
    rows = [(i, i * 2.5) for i in range(5_000)]
    rows[1_234] = tuple(range(100)) + (threading.Lock(),)
    rows[4_000] = (4_000, _gen())
    data = {"rows": rows, "by_id": {row[0]: row for row in rows}}
    report = picklecheck.check(data, backends=("pickle",), roundtrip=False)
    assert _paths(report) == ["obj['rows'][1234][100]", "obj['rows'][4000][1]"]
