"""What one scan saw pickle is not pickled again by the next scans of the same search, and
that never hides a culprit nor makes an innocent object one."""

from __future__ import annotations

import sys
import types

import pytest

import picklecheck


class Node:
    """A plain importable instance."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


def _gen():
    yield 1


def _bulk():
    """Enough data that pickling it takes a while (so a scan remembers it as good)."""
    return [f"row-{i}" for i in range(20_000)]


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_a_back_reference_through_a_remembered_object_makes_no_false_culprit(backend):
    """X is saved whole under A (A memoized as its ancestor) and remembered; later N holds
    X, whose back-reference leads to A's generator: N must not be called a culprit."""
    a = Node(gen=_gen())
    x = Node(back=a, bulk=_bulk())
    a.x = x
    root = {"m": Node(a=a), "p": Node(n=Node(x=x, pad=_bulk()))}
    report = picklecheck.check(root, backends=(backend,), roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [("obj['m'].a.gen", a.gen)]


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_a_big_shared_object_is_searched_once_and_its_culprits_found(backend):
    """A big object shared by many failing branches: each culprit is found exactly once."""
    shared = Node(bulk=_bulk(), gen=_gen())
    branches = {f"b{i}": Node(shared=shared, bulk=_bulk(), own=_gen()) for i in range(5)}
    report = picklecheck.check(branches, backends=(backend,), roundtrip=False)
    paths = sorted(c.path for c in report.culprits)
    assert paths == sorted([f"obj['b{i}'].own" for i in range(5)] + ["obj['b0'].shared.gen"])


def _settings(obj, n=8):
    for i in range(n):
        setattr(obj, f"setting{i}", i)
    return obj


def test_dill_carries_only_what_it_saved_in_full_past_a_failure():
    """dill's search keeps, after a failure, what it had saved in full (not what was under
    way): a branch half-saved through a back-reference still has both culprits found."""
    root, part, other = Node(), Node(), Node()
    part.first = Node(root=root)  # back to the grandparent: its save runs into other.holder
    part.second = Node(other=other)
    _settings(part)
    other.holder = Node(first=_gen(), second=_gen(), bulk=_bulk())
    root.part, root.other = part, other
    _settings(root)
    report = picklecheck.check(root, backends=("dill",), name="root", roundtrip=False)
    assert sorted((c.path, c.kind) for c in report.culprits) == [
        ("root.other.holder.first", "generator"), ("root.other.holder.second", "generator")]


class Counted:
    """Pickles fine, and counts how often a pickler reduced it."""

    reductions = 0

    def __reduce__(self):
        type(self).reductions += 1
        return (Counted, ())


def _chain(depth, leaf):
    """``depth`` nodes deep, each holding a Counted *before* the next level."""
    for i in range(depth):
        leaf = Node(**{f"a{i}": Counted(), "next": leaf})
    return leaf


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_an_object_known_to_fail_is_not_pickled_again_on_other_routes(backend):
    """A failing object reached from many places (a client behind every bound method of
    an event registry) is searched once: the other routes meet it as a memo hit, so
    neither the shared object nor what it holds is pickled once per route."""
    client = Node(payload=[Counted() for _ in range(50)], lock=_gen())
    handlers = {f"h{i}": Node(owner=client, own=i) for i in range(20)}
    root = {"service": Node(client=client), "events": Node(handlers=handlers)}
    Counted.reductions = 0
    report = picklecheck.check(root, backends=(backend,), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj['service'].client.lock"]
    assert Counted.reductions <= 5 * 50, Counted.reductions  # not once per handler (27)


def test_dill_does_not_pickle_again_what_its_failed_dump_saved():
    """dill (a pure-Python pickler) leaves in its frames what it saved in full before it
    failed: the search starts from that, from the verdict's dump down every level, so
    what sits before the culprit deep in a chain is pickled about once, not once per
    level."""
    root = _chain(12, Node(gen=_gen()))
    Counted.reductions = 0
    report = picklecheck.check(root, backends=("dill",), name="root", roundtrip=False)
    assert [c.path for c in report.culprits] == ["root" + ".next" * 12 + ".gen"]
    assert Counted.reductions <= 2 * 12, Counted.reductions


def _parsed_json(counted):
    """A library's parsed JSON: nested OrderedDicts (``object_pairs_hook``), with
    ``counted`` Counted leaves among the strings."""
    import collections

    return collections.OrderedDict(
        (f"shape{i}", collections.OrderedDict(type="structure", doc="x" * 40, leaf=Counted(),
                                              members=collections.OrderedDict(a="s", b="t")))
        for i in range(counted))


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_parsed_json_saved_whole_inside_a_failing_chain_is_not_pickled_again_per_level(
        backend):
    """The C pickler does not say what it finished before it failed, but an exact
    OrderedDict is reduced by our code, which sees its last item saved: parsed JSON met
    deep inside a failing chain (a client's service model behind its event handlers)
    is memoized by the scans of the levels below, not pickled once per level."""
    counted = 1000
    root = _chain_of_nodes(10, Node(model=_parsed_json(counted), gen=_gen()))
    Counted.reductions = 0
    report = picklecheck.check(root, backends=(backend,), name="root", roundtrip=False)
    assert [c.path for c in report.culprits] == ["root" + ".next" * 10 + ".gen"]
    # The verdict, the first scan (where it is first seen whole), one spare: not 11.
    assert Counted.reductions <= 3 * counted, Counted.reductions // counted


def _chain_of_nodes(depth, leaf):
    for _ in range(depth):
        leaf = Node(next=leaf)
    return leaf


def test_dill_weak_proxies_are_saved_as_dill_saves_them_without_searching_the_heap(
        monkeypatch):
    """A weak proxy's referent comes from the proxy (dill searches gc.get_objects(), tens
    of milliseconds per proxy in a large process): the bytes are dill's own."""
    import io
    import weakref

    import dill

    from picklecheck.backends import get_backend

    target = Node(x=1)
    obj = [target, weakref.proxy(target), weakref.proxy(_settings)]
    expected = dill.dumps(obj, 4)
    monkeypatch.setattr(dill._dill, "_locate_object", _no_heap_search)
    buffer = io.BytesIO()
    get_backend("dill").dump(obj, buffer, 4)
    assert buffer.getvalue() == expected


_DILL_SAME_BYTES = """
import collections, io, sys
import numpy as np
import dill
from picklecheck.backends import get_backend

class Sub(np.ndarray):
    pass

stated = collections.OrderedDict(a=1)
stated.note = "kept"
objs = [collections.OrderedDict(a=[1, collections.OrderedDict(b=2)]), stated,
        np.add, np.dtype("f8"), np.arange(3).view(Sub), [np.multiply, np.multiply]]
ours = []
for obj in objs:  # ours first: dill's numpy hook registers types as they are met
    buffer = io.BytesIO()
    get_backend("dill").dump(obj, buffer, 4)
    ours.append(buffer.getvalue())
assert ours == [dill.dumps(obj, 4) for obj in objs], "bytes differ from dill's"
print("same")
"""


def test_dill_pickler_writes_dills_bytes_from_a_fresh_start():
    """The dill pickler decides once per type what dill's save decides per object, and
    reduces OrderedDicts without copyreg._slotnames: in a new interpreter, where dill
    registers numpy's types as it meets them, its bytes are dill's own."""
    import subprocess
    import sys

    pytest.importorskip("numpy")
    done = subprocess.run([sys.executable, "-c", _DILL_SAME_BYTES], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "same", done.stderr


def test_dill_pickler_writes_dills_bytes_for_json_like_data():
    """The dill pickler's quicker ways with OrderedDicts and string items keep dill's
    bytes, on every protocol, for any nesting and sharing."""
    import dill
    from hypothesis import given, settings
    from hypothesis import strategies as st
    from strategies import json_like

    from picklecheck.backends import get_backend

    backend = get_backend("dill")

    @settings(max_examples=300, deadline=None)
    @given(json_like(), st.integers(0, 5))
    def same(obj, protocol):
        assert backend.dumps(obj, protocol) == dill.dumps(obj, protocol)

    same()


@pytest.mark.parametrize("protocol", [1, 2, 4, 5])
def test_dill_pickler_writes_dills_bytes_for_big_batches_and_frames(protocol):
    """More than a batch of items (1000), strings past a frame (64 KiB), frames ending
    after a key or a value, one shared string met thousands of times."""
    import collections

    import dill

    from picklecheck.backends import get_backend

    shared = "shared-value"
    big = collections.OrderedDict((f"key{i}", shared if i % 3 else f"v{i}") for i in range(2_500))
    obj = [big, {f"k{i}": big for i in range(1_001)}, {"long": "x" * 70_000, "also": big},
           collections.OrderedDict(long="y" * 100_000),
           {str(i): "v" * (i % 50) for i in range(20_000)}]
    assert get_backend("dill").dumps(obj, protocol) == dill.dumps(obj, protocol)


def test_dill_asks_its_numpy_questions_once_per_type(monkeypatch):
    """dill walks an object's MRO three times per object to ask whether it is numpy's;
    the answer depends on the type alone (dill asks only where numpy is installed)."""
    pytest.importorskip("numpy")
    import dill

    from picklecheck.backends import get_backend

    class Fresh:  # a type no earlier dump has met
        def __init__(self, i):
            self.i = i

    asked = []
    real = dill._dill.numpyufunc
    monkeypatch.setattr(dill._dill, "numpyufunc", lambda t: asked.append(t) or real(t))
    get_backend("dill").dumps([Fresh(i) for i in range(500)], 4)
    assert asked.count(Fresh) == 1, asked.count(Fresh)


def test_dill_pickler_uses_a_save_function_registered_after_it_was_made():
    """dill.register after the first check still counts, as it does for dill itself."""
    import dill

    from picklecheck.backends import get_backend

    get_backend("dill").dumps(Node(x=1), 4)

    class Late:
        pass

    def save_late(pickler, obj):
        pickler.save_reduce(int, (7,), obj=obj)

    dill.register(Late)(save_late)
    try:
        assert dill.loads(get_backend("dill").dumps(Late(), 4)) == 7
    finally:
        del dill._dill.Pickler.dispatch[Late]


def _no_heap_search(*args, **kwargs):
    raise AssertionError("searched gc.get_objects() for a live proxy's referent")


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_scans_reduce_ordered_dicts_as_they_reduce_themselves_without_slotnames(
        backend, monkeypatch):
    """A scan pickler reads a plain-dict dispatch table at C speed, and reduces exact
    OrderedDicts without copyreg._slotnames (called, uncached, for each one by their
    own __reduce__): the same bytes, and the culprit among them still found."""
    import collections
    import copyreg
    import io
    import pickle

    from picklecheck.backends import get_backend

    plain = collections.OrderedDict(a=1, b=[collections.OrderedDict(c=2)])
    with_state = collections.OrderedDict(x=1)
    with_state.note = "kept"
    chosen = get_backend(backend)
    library = chosen.module  # the library's own dumps, not ours
    # instances (their type added to the table when first met), a class (never added:
    # saved by reference), and (cloudpickle only) a lambda
    objs = [plain, with_state, [plain, plain], [Node(x=1), Node(y=2), Node, type(Node)]]
    if backend == "cloudpickle":
        objs.append([with_state, lambda: with_state])
    for obj in objs:
        buffer = io.BytesIO()
        pickler = chosen.pickler(buffer, 4)
        vars(pickle.Pickler)["dispatch_table"].__set__(  # a scan's table, in a real dump
            pickler, getattr(chosen.scan_pickler(4), "dispatch_table", copyreg.dispatch_table))
        pickler.dump(obj)
        assert buffer.getvalue() == library.dumps(obj, 4)
        assert chosen.dumps(obj, 4) == library.dumps(obj, 4)  # a verdict's bytes too
    calls = []
    real = copyreg._slotnames
    monkeypatch.setattr(copyreg, "_slotnames", lambda cls: calls.append(cls) or real(cls))
    models = {f"m{i}": collections.OrderedDict(shape=list(range(5)), doc="x")
              for i in range(200)}
    client = Node(models=models, lock=_gen())
    for _ in range(5):  # each level holds the models before the way down to the lock
        client = Node(models=models, inner=client)
    report = picklecheck.check(client, backends=(backend,), name="client", roundtrip=False)
    assert [c.path for c in report.culprits] == ["client" + ".inner" * 5 + ".lock"]
    # cloudpickle's verdict reduces them as the scans do; pickle's reads pickle's own
    # table (faster for every other type), where each one asks copyreg once
    assert len(calls) <= (10 if backend == "cloudpickle" else 200 + 10), len(calls)


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_what_was_saved_whole_is_not_pickled_again_inside_other_failing_branches(backend):
    """An object a scan saw pickle whole, slowly (a client's loaded service model), is
    a memo hit wherever a later scan meets it inside a failing branch, not only where it
    is a direct child: the deeper the culprit, the more scans that would pickle it again."""
    model = Node(payload=[Counted() for _ in range(50)], bulk=_bulk() * 5)  # slow to save
    root = Node(first=Node(model=model, lock=_gen()),
                second=Node(inner=Node(inner=Node(model=model, other=_gen()))))
    Counted.reductions = 0
    report = picklecheck.check(root, backends=(backend,), name="root", roundtrip=False)
    assert sorted(c.path for c in report.culprits) == [
        "root.first.lock", "root.second.inner.inner.other"]
    assert Counted.reductions <= 4 * 50, Counted.reductions


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_a_handful_of_children_is_scanned_one_by_one(backend):
    """A dozen attributes pickled as one run would, on a failure, be pickled again from
    the first: the big one before the failing one twice."""
    shared = [Counted() for _ in range(50)]
    root = Node(**{f"a{i}": i for i in range(9)}, big=Node(rows=shared), bad=Node(gen=_gen()))
    Counted.reductions = 0
    report = picklecheck.check(root, backends=(backend,), name="root", roundtrip=False)
    assert [c.path for c in report.culprits] == ["root.bad.gen"]
    # the verdict's dump, then the root's scan: once each
    assert Counted.reductions == 2 * len(shared), Counted.reductions


def test_a_run_is_remembered_only_when_its_items_were_slow_each():
    """A run of records saved in a microsecond each is pickled again sooner than it is
    remembered item by item; a run slow on average (one heavy item) is remembered."""
    from picklecheck.engine.scan import SLOW_SAVE, Good

    items = [Node(i=i) for i in range(64)]
    good = Good()
    good.remember(items, SLOW_SAVE * len(items) / 2)
    assert not any(good.holds(item) for item in items)
    good.remember(items, SLOW_SAVE * len(items) * 2)
    assert all(good.holds(item) for item in items)
    good = Good()
    good.remember(items[:1], SLOW_SAVE * 2)
    assert good.holds(items[0])


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_a_scan_again_without_the_skips_still_passes_over_plain_trees(backend, monkeypatch):
    """The scan again of a node whose children passed only thanks to a skip (as above)
    does without what was saved whole, not without what is known of trees of plain
    data: a service model held there is passed over, not pickled item by item (a boto3
    EC2 resource's client meta: 30 ms of its 115)."""
    from collections import OrderedDict

    from picklecheck.engine import scan

    made = []

    def trees_only(self):
        made.append(original(self))
        return made[-1]

    original = scan.Good.trees_only
    monkeypatch.setattr(scan.Good, "trees_only", trees_only)
    # Whatever the clock says: every save is remembered as good, none as heavy.
    monkeypatch.setattr(scan, "SLOW_SAVE", 0.0)
    monkeypatch.setattr(scan, "HEAVY_SAVE", float("inf"))
    model = OrderedDict((f"shape{i}", OrderedDict(type="string", doc=f"d{i}"))
                        for i in range(500))
    a = Node(gen=_gen())
    x = Node(back=a, bulk=_bulk(), model=model)
    a.x = x
    root = {"m": Node(a=a), "p": Node(n=Node(x=x, pad=_bulk()))}
    report = picklecheck.check(root, backends=(backend,), roundtrip=False)
    assert [(c.path, c.obj) for c in report.culprits] == [("obj['m'].a.gen", a.gen)]
    assert made, "no scan again without the skips: the scenario no longer tests it"
    assert sum(good.plain.passed for good in made) >= 1


def test_a_class_saved_by_value_whole_is_not_pickled_again_by_each_level(monkeypatch):
    """cloudpickle saves a class made at run time by value (a boto3 client's): saved whole
    inside an item that failed, it is remembered like an item saved whole, and the next
    levels of the search, which reach it again before their culprit, memoize it."""
    from picklecheck.engine import scan

    monkeypatch.setattr(scan, "HEAVY_SAVE", 0.0)  # heavy, whatever the clock says
    made = type("Made", (), {"rows": [Counted() for _ in range(300)], "bulk": _bulk()})
    leaf = Node(x=Node(kind=made), gen=_gen())
    for _ in range(4):
        leaf = Node(x=Node(kind=made), next=leaf)  # made is met inside each x first
    Counted.reductions = 0
    report = picklecheck.check(leaf, backends=("cloudpickle",), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj" + ".next" * 4 + ".gen"]
    # The verdict's dump and the first scan's; before, every level's too (1,800).
    assert Counted.reductions == 2 * 300


@pytest.mark.parametrize("siblings", [1, 12], ids=["few", "scan"])
def test_what_siblings_after_a_failure_saved_whole_is_not_pickled_again_below(siblings):
    """dill's search starts an item's own search with what was saved in full before it
    failed; what the siblings after it saved (a client's other attributes, reaching the
    same loader and event handlers) counts too: the item's own children reach it again."""
    shared = Node(rows=[Counted() for _ in range(300)])
    failing = Node(g=Node(gen=_gen()), t=Node(h=shared))
    root = Node(f=failing, **{f"s{i}": Node(h=shared) for i in range(siblings)})
    Counted.reductions = 0
    report = picklecheck.check(root, backends=("dill",), roundtrip=False, name="root")
    assert [c.path for c in report.culprits] == ["root.f.g.gen"]
    assert Counted.reductions == 300  # by the first sibling after it; 600 before


def test_cloudpickle_asks_once_per_search_whether_a_function_without_a_module_is_found(
        monkeypatch):
    """A function compiled at run time has no ``__module__`` (a jinja2 template's):
    cloudpickle looks it up in every module loaded to know whether to save it by
    reference (12 ms each in a process of 2,800 modules). The search's scans ask that
    once per function, not at every level that pickles it again."""
    import cloudpickle.cloudpickle as cp

    namespace: dict = {}
    exec("def helper(x):\n    return x\n", namespace)  # noqa: S102 - a function of no module
    helper = namespace["helper"]
    assert helper.__module__ is None
    asked = []
    real = cp._should_pickle_by_reference

    def counted(obj, *args, **kwargs):
        if obj is helper:
            asked.append(obj)
        return real(obj, *args, **kwargs)

    monkeypatch.setattr(cp, "_should_pickle_by_reference", counted)
    leaf = Node(gen=_gen())
    for _ in range(4):
        leaf = Node(next=[helper, leaf])  # each level's failing item pickles it first
    report = picklecheck.check(leaf, backends=("cloudpickle",), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj" + ".next[1]" * 4 + ".gen"]
    assert len(asked) <= 2  # the verdict's dump, and the search's first


def test_a_culprit_saved_by_reference_is_not_dumped_again_to_confirm_it(monkeypatch):
    """A function pickle saves by reference has no children: nothing found failing
    after it can be inside it, so it is a culprit without a dump again (each one looks
    the function up in every module loaded: 6 ms in a process of 2,800 modules)."""
    asked = []
    from picklecheck.engine import locate

    real = locate._fails_alone

    def counted(node, *args, **kwargs):
        asked.append(node)
        return real(node, *args, **kwargs)

    monkeypatch.setattr(locate, "_fails_alone", counted)
    handlers = {f"on_{i}": (lambda event, i=i: (event, i)) for i in range(10)}
    report = picklecheck.check(handlers, backends=("pickle",), roundtrip=False)
    assert sorted(x.path for x in report.culprits) == sorted(f"obj['on_{i}']" for i in range(10))
    assert asked == []


def test_whether_a_function_without_a_module_is_saved_by_reference_is_cloudpickles_answer(
        monkeypatch):
    """The scans' quicker look for a function of no module (see test above) answers as
    cloudpickle does: by value when no module holds it; by reference when a module
    holds it, in its namespace or through its own ``__getattr__``; by value again when
    that module is registered to be pickled by value."""
    import cloudpickle
    import cloudpickle.cloudpickle as cp

    from picklecheck.backends.cloudpickle import _by_reference

    namespace: dict = {}
    exec("def loose(x):\n    return x\n", namespace)  # noqa: S102 - a function of no module
    loose = namespace["loose"]
    assert loose.__module__ is None

    def agree():
        answer = cp._should_pickle_by_reference(loose)
        assert _by_reference(loose, cp._should_pickle_by_reference) is answer
        return answer

    assert agree() is False
    holder = types.ModuleType("picklecheck_test_holder")
    holder.loose = loose
    monkeypatch.setitem(sys.modules, holder.__name__, holder)
    assert agree() is True
    cloudpickle.register_pickle_by_value(holder)
    try:
        assert agree() is False
    finally:
        cloudpickle.unregister_pickle_by_value(holder)
    del holder.loose
    holder.__getattr__ = lambda name: loose if name == "loose" else None
    assert agree() is True
