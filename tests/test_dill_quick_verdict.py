"""dill's verdict after another backend failed: big trees of plain data are passed over
(found plain at C speed), and what the dump raises, the bytes of one that does not fail,
and the culprits found are still dill's own."""

from __future__ import annotations

import collections
import io
import sys
from typing import Any

import pytest

import picklecheck
from picklecheck.backends import get_backend
from picklecheck.backends.base import Sink

dill = pytest.importorskip("dill")


class Refuses:
    """Fails to pickle with a message naming it: which one failed first shows the order."""

    def __init__(self, tag):
        self.tag = tag

    def __reduce__(self):
        raise TypeError(f"refuses {self.tag}")


def _service_model(n=300):
    """A parsed JSON document as botocore holds one: OrderedDicts all the way down."""
    od = collections.OrderedDict
    shapes = od((f"Shape{i}", od(type="structure", members=od(
        (f"Member{j}", od(shape="String", location="header")) for j in range(4))))
        for i in range(n))
    operations = od((f"Op{i}", od(name=f"Op{i}", http=od(method="GET", requestUri="/"),
                                  errors=[od(shape="NoSuchKey")])) for i in range(n))
    return od(version="2.0", metadata=od(protocol="rest-xml"), operations=operations,
              shapes=shapes)


def _quick(obj, protocol=4, file=None):
    """dill's verdict dump, told that another backend failed: (bytes, exception)."""
    file = io.BytesIO() if file is None else file
    try:
        get_backend("dill").verdict_dump(obj, file, protocol, others_failed=True)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return None, exc
    return file.getvalue(), None


def _dills(obj, protocol=4):
    try:
        return dill.dumps(obj, protocol), None
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return None, exc


def test_big_trees_are_passed_over_and_the_failure_is_dills():
    model = _service_model()
    obj = {"model": model, "cache": {"service-2": model, "rows": list(range(100))},
           "client": Refuses("client")}
    pickler = get_backend("dill").passing_pickler(Sink(), 4)[0]
    with pytest.raises(TypeError, match="refuses client"):
        pickler.dump(obj)
    assert pickler.skipped_trees >= 1  # the model was passed over, once
    assert id(model) in pickler.memo and id(model["shapes"]["Shape7"]) in pickler.memo
    _, exc = _quick(obj)
    assert repr(exc) == repr(_dills(obj)[1])


def test_a_quick_dump_that_does_not_fail_gives_dills_bytes():
    """The quick dump's bytes lack the trees it handed over: it is done again."""
    obj = {"model": _service_model(50), "rows": [{"id": i} for i in range(20)]}
    expected = dill.dumps(obj, 4)
    assert _quick(obj) == (expected, None)
    sink = Sink()
    get_backend("dill").verdict_dump(obj, sink, 4, others_failed=True)
    assert sink.size == len(expected)


def test_a_tree_too_deep_for_dills_stack_is_left_to_dill():
    """dill's pure-Python pickler runs out of stack in a tree the C pickler saves: that
    tree is left to dill's pickler, so the dump fails there as the usual one does, and
    the search finds it (not only the failure after it)."""
    frame, depth = sys._getframe(), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1
    deep: list[Any] = []
    for _ in range((sys.getrecursionlimit() - depth) * 2 // 5):  # C: 2 levels a frame, dill: 3
        deep = [deep]
    dill_backend = get_backend("dill")
    import pickle

    pickle.dumps(deep, 4)  # the C pickler can save it...
    obj = {f"k{i}": i for i in range(10)} | {"deep": [deep] * 9, "late": Refuses("late")}
    with pytest.raises(RecursionError):  # ...dill's cannot
        dill_backend.dump(obj, Sink(), 4)
    _, exc = _quick(obj)
    assert isinstance(exc, RecursionError)
    report = picklecheck.check(obj, backends=("pickle", "dill"), roundtrip=False, name="obj")
    assert "RecursionError" in report.results["dill"].error
    paths = [c.path for c in report.culprits if "dill" in c.backends]
    assert any(path.startswith("obj['deep']") for path in paths), paths


def test_a_type_dill_saves_its_own_way_is_never_handed_over():
    """A save function registered with dill for a plain type (here list) is dill's way:
    no tree is passed over while it is there."""
    saved = []

    def save_list(pickler, obj):
        saved.append(len(obj))
        pickler.save_reduce(list, (tuple(obj),), obj=obj)

    dill.register(list)(save_list)
    try:
        obj = {"rows": list(range(20)), "model": _service_model(5), "bad": Refuses("bad")}
        pickler = get_backend("dill").passing_pickler(Sink(), 4)[0]
        with pytest.raises(TypeError, match="refuses bad"):
            pickler.dump(obj)
        assert pickler.skipped_trees == 0
        assert 20 in saved
    finally:
        dill._dill.Pickler.dispatch[list] = dill._dill.StockPickler.save_list


def test_the_quick_verdict_fails_and_succeeds_as_dill_does():
    """Plain data of any shape with refusing objects planted anywhere: the same first
    failure as dill.dumps, or dill's own bytes."""
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from strategies import json_like

    planted = st.integers(0, 99).map(Refuses)
    trees = st.lists(json_like() | planted, min_size=1, max_size=12)

    @settings(max_examples=200, deadline=None)
    @given(trees, st.sampled_from([2, 4, 5]), st.integers(0, 11))
    def same(items, protocol, width):
        # A list wide enough to be handed over, and one that may not be.
        obj = [items, list(range(width)), {str(i): items for i in range(width)}]
        data, exc = _quick(obj, protocol)
        expected, expected_exc = _dills(obj, protocol)
        assert data == expected
        assert repr(exc) == repr(expected_exc)

    same()


def test_the_check_finds_the_same_culprits_with_and_without_the_quick_verdict():
    """pickle failing first makes dill's verdict quick; dill's culprits are the same as
    when dill is checked alone (its verdict then the usual dump)."""
    model = _service_model()
    obj = {"model": model, "handlers": [Refuses("h1"), {"m": model, "x": Refuses("h2")}],
           "gen": (i for i in range(3))}
    both = picklecheck.check(obj, backends=("pickle", "dill"), roundtrip=False, expand=True)
    alone = picklecheck.check(obj, backends=("dill",), roundtrip=False, expand=True)

    def dills(report):
        return sorted((c.path, c.kind) for c in report.culprits if "dill" in c.backends)

    assert dills(both) == dills(alone)
    assert len(dills(both)) == 3
    assert both.results["dill"].error == alone.results["dill"].error


def test_the_search_passes_over_big_trees_in_every_scan(monkeypatch):
    """Each scan of dill's search passes over a big tree of plain data as the quick
    verdict does (it throws its bytes away): the tree is walked, never pickled again,
    and the culprits are the ones pickling finds. The verdict fails before it reaches
    the tree, so nothing of it is carried into the search."""
    model = _service_model()
    obj = [Refuses("first"), {"model": model, "gen": (i for i in range(2))},
           {"again": model, "x": Refuses("last")}]
    pickler_class = type(get_backend("dill").pickler(Sink(), 4))
    real = pickler_class._save_od
    saved = []

    def counted(self, od):
        if od is model and id(od) not in self.memo:  # not a memo hit: saved here
            saved.append(od)
        return real(self, od)

    monkeypatch.setattr(pickler_class, "_save_od", counted)
    report = picklecheck.check(obj, backends=("dill",), roundtrip=False, name="obj")
    assert sorted(c.path for c in report.culprits) == [
        "obj[0]", "obj[1]['gen']", "obj[2]['x']"]
    assert saved == []
    assert report.results["dill"].error == "TypeError: refuses first"


def test_functions_and_classes_are_not_plain_data():
    """dill saves a function or a class sometimes by value (a __main__ function, a class
    it cannot import), and an OrderedDict's attributes as its state: a tree holding one
    stays dill's."""
    with_attribute = collections.OrderedDict(a=1)
    with_attribute.note = "kept"
    for odd in (_service_model, Refuses, range(3), collections.OrderedDict, with_attribute,
                (1, range(2)), 1j):
        pickler = get_backend("dill").passing_pickler(Sink(), 4)[0]
        pickler.dump({"rows": [str(i) for i in range(9)] + [odd]})
        assert pickler.skipped_trees == 0, odd
    pickler = get_backend("dill").passing_pickler(Sink(), 4)[0]
    pickler.dump({"rows": [str(i) for i in range(9)] + [collections.OrderedDict(a=1)]})
    assert pickler.skipped_trees == 1


def _make_lambda():
    return lambda row: row  # local: pickle cannot find it by name, dill saves it by value


def _make_generator():
    return (i for i in range(3))


@pytest.mark.parametrize(("culprit", "quick"), [(_make_lambda, False), (_make_generator, True)])
def test_the_quick_verdict_only_when_pickles_culprits_say_dill_fails_too(monkeypatch,
                                                                          culprit, quick):
    """pickle failing on functions alone (a pandas Styler's formatters) says nothing of
    dill, which saves them by value: dill's verdict is its usual dump, not a quick one
    that passes over a tree, succeeds and is done again for its bytes. A generator
    fails with dill too: then it is quick."""
    backend = get_backend("dill")
    made = []
    real = type(backend).passing_pickler

    def counted(self, *args, **kwargs):
        made.append(args)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(backend), "passing_pickler", counted)
    obj = {"model": _service_model(), "formatter": culprit()}
    report = picklecheck.check(obj, backends=("pickle", "dill"), roundtrip=False)
    assert not report.results["pickle"].ok
    assert report.results["dill"].ok is not quick
    assert bool(made) is quick
