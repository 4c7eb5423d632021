"""The scan's resumption: a failed save never lets a half-saved object pass as saved."""

from __future__ import annotations

import threading

import pytest

import picklecheck


class Box:
    """A plain instance (importable, so it pickles by reference)."""


def _gen():
    yield 1


def _axes_shape(culprit):
    """The issue's reproduction: the first attribute leads back to the object, a later one
    holds the culprit inside two more objects, and there are enough attributes for a scan."""
    ax = Box()
    ax.figure = Box()
    ax.figure.axes = [ax]
    ax.yaxis = Box()
    ax.yaxis.formatter = Box()
    ax.yaxis.formatter.func = culprit
    for i in range(8):
        setattr(ax, f"setting{i}", i)
    return ax


@pytest.mark.parametrize("backend, culprit", [
    ("pickle", lambda v: v),
    ("pickle", threading.Lock()),
    ("cloudpickle", threading.Lock()),
    ("dill", _gen()),
])
def test_back_reference_before_the_culprit_names_the_culprit(backend, culprit):
    """A child leading back to its parent does not hide the parent's later children."""
    ax = _axes_shape(culprit)
    report = picklecheck.check(ax, backends=(backend,), name="ax", roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [("ax.yaxis.formatter.func", culprit)]


def _settings(obj, n=8):
    for i in range(n):
        setattr(obj, f"setting{i}", i)
    return obj


def test_back_reference_to_a_grandparent_hides_no_culprit():
    """A grandchild leading back to the root, whose save half-saves a later branch of the
    root, does not hide that branch's culprits from the scans below the root."""
    root, part, other = Box(), Box(), Box()
    part.first = Box()
    part.first.root = root  # back to the grandparent: its save runs into other.holder
    part.second = Box()
    part.second.other = other
    _settings(part)
    other.holder = Box()
    other.holder.lock = threading.Lock()
    other.holder.gen = _gen()
    root.part, root.other = part, other
    _settings(root)
    report = picklecheck.check(root, backends=("pickle",), name="root", roundtrip=False)
    assert sorted((c.path, c.kind) for c in report.culprits) == [
        ("root.other.holder.gen", "generator"), ("root.other.holder.lock", "lock")]


def test_many_failures_find_every_culprit_in_order():
    """Failures spread over a long list are each found once, in order, without truncation."""
    items = [Box() for _ in range(300)]
    locks = {}
    for i, item in enumerate(items):
        item.peer = items[(i * 7) % len(items)]
        item.value = i
        if i % 13 == 5:
            item.meta = {"lock": threading.Lock()}
            locks[i] = item.meta["lock"]
    report = picklecheck.check({"items": items, "index": dict(enumerate(items))},
                               backends=("pickle",), roundtrip=False, max_culprits=1000)
    assert not report.results["pickle"].truncated
    assert sorted(id(c.obj) for c in report.culprits) == sorted(map(id, locks.values()))


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle", "dill"])
def test_items_of_an_index_saved_before_are_skipped_and_new_ones_searched(backend):
    """An index whose values are records saved before (skipped in runs at C speed) and,
    between them, objects it alone holds: each of those that fails is found, at the start
    of a run, inside one, right after one and last."""
    records = [Box() for _ in range(300)]
    for i, record in enumerate(records):
        record.value = i
    values = list(records)
    for at in (299, 164, 128, 100, 0):  # from the end, so each lands where it says
        odd = Box()
        odd.gen = _gen()
        values.insert(at, odd)
    index = {f"k{i}": v for i, v in enumerate(values)}
    report = picklecheck.check({"records": records, "index": index}, backends=(backend,),
                               roundtrip=False)
    keys = [k for k, v in index.items() if not isinstance(getattr(v, "value", None), int)]
    assert sorted(c.path for c in report.culprits) == sorted(
        f"obj['index']['{k}'].gen" for k in keys)


@pytest.mark.parametrize("backend, protocol", [
    ("pickle", 0), ("pickle", 2), ("pickle", 5), ("cloudpickle", 5), ("dill", 4)])
@pytest.mark.parametrize("as_tuple", [False, True])
def test_a_failing_run_names_its_item_across_batches(backend, protocol, as_tuple):
    """Instances go to the pickler in runs, at C speed; the item of a run that failed is
    named from how far the run was drawn, with no second pickling. Culprits on either side
    of the pickler's batches of 1000, back to back, at both ends, a culprit met again
    later, and instances shared with earlier items are each named once, exactly."""
    generator = _gen()
    places = [0, 1, 2, 63, 64, 998, 999, 1000, 1001, 1002, 1997, 1998, 1999, 2000, 2001, 2499]
    items = []
    for i in range(2500):
        box = Box()
        box.value = i
        box.peer = items[i // 2] if i else None  # shared with an earlier item
        items.append(box)
    for i in places:
        items[i].culprit = generator if i == 1001 else threading.Lock()
    items[1500].again = items[998].culprit  # a culprit met again: named where first met
    data = tuple(items) if as_tuple else items
    report = picklecheck.check({"items": data}, backends=(backend,), protocol=protocol,
                               name="obj", roundtrip=False, max_culprits=1000)
    failing = places if backend != "dill" else [1001]  # dill saves locks
    assert sorted(c.path for c in report.culprits) == sorted(
        f"obj['items'][{i}].culprit" for i in failing)
    assert not report.results[backend].truncated


def test_matplotlib_figure_names_the_formatter_lambda():
    """A Figure whose axis formatter is FuncFormatter(lambda) blames the lambda, not the Figure."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots()
    try:
        ax.plot([1, 2, 3])
        percent = lambda v, pos: f"{v:.0f}%"  # noqa: E731 - the culprit under test
        ax.yaxis.set_major_formatter(FuncFormatter(percent))
        report = picklecheck.check(fig, backends=("pickle",), name="fig", roundtrip=False)
    finally:
        plt.close(fig)
    assert [c.obj for c in report.culprits] == [percent]
    culprit = report.culprits[0]
    assert culprit.kind == "lambda"
    assert eval(culprit.path, {"fig": fig}) is percent  # noqa: S307


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_no_scan_outlives_its_search(backend):
    """A scan's pickler memoizes the lists fed to it, whose generators hold the scan (and
    what it saw under way holds them again): a cycle. With the collector paused, as a
    check pauses it, every scan stayed, with its memo, until the check ended."""
    import gc

    from picklecheck.engine.scan import Scan

    rows = [Box() for _ in range(300)]
    for i, row in enumerate(rows):
        row.values = list(range(10))
        row.gen = _gen() if i % 60 == 59 else None
        row.parent = rows  # a back-reference: the search feeds the list level by level
    was_on = gc.isenabled()
    gc.disable()
    try:
        report = picklecheck.check({"rows": rows}, backends=(backend,), roundtrip=False)
        alive = sum(type(o) is Scan for o in gc.get_objects())
    finally:
        if was_on:
            gc.enable()
    assert len(report.culprits) == 5
    assert alive == 0
