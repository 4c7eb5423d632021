"""Trees of plain data (a library's parsed JSON) found at C speed, and passed over where
only a failure matters: by the C picklers' verdicts once another backend has failed, and
by every scan of a search. Nothing in one can fail, so verdicts, bytes and culprits stay
the backends' own."""

from __future__ import annotations

import collections
import io
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import json_like

import picklecheck
from picklecheck.backends import get_backend, plaintree
from picklecheck.backends.base import Sink

cloudpickle = pytest.importorskip("cloudpickle")

_ATOMS = (type(None), bool, int, float, str, bytes)


class Refuses:
    """Fails to pickle with a message naming it: which one failed first shows the order."""

    def __init__(self, tag: Any) -> None:
        self.tag = tag

    def __reduce__(self):
        raise TypeError(f"refuses {self.tag}")


class Client:
    """A library client's shape: attributes that reach one service model."""


class Text(str):
    """A str subclass: not plain (a pickler saves it by reduction)."""


def _model(n: int = 200) -> collections.OrderedDict[str, Any]:
    """A parsed JSON document as botocore holds one: OrderedDicts all the way down."""
    od = collections.OrderedDict
    shapes = od((f"Shape{i}", od(type="structure", members=od(
        (f"Member{j}", od(shape="String", tags=["a", "b"])) for j in range(3))))
        for i in range(n))
    return od(version="2.0", metadata=od(protocol="rest-xml"), shapes=shapes)


def _reference(obj: Any) -> tuple[str, set[int]]:
    """What :func:`plaintree.containers` answers, worked out the slow way: "not plain",
    "cyclic", or "plain" with the ids of the root and every non-empty container in it."""
    found, cyclic, plain = {id(obj)}, False, True
    seen: set[int] = set()

    def walk(node: Any, path: frozenset[int]) -> None:
        nonlocal cyclic, plain
        if type(node) in _ATOMS:
            return
        if type(node) not in plaintree.NESTED:
            plain = False
            return
        if type(node) is collections.OrderedDict and vars(node):
            plain = False
        if id(node) in path:
            cyclic = True
            return
        if node:
            found.add(id(node))
        if id(node) in seen:
            return
        seen.add(id(node))
        inner = path | {id(node)}
        parts = list(node.items()) if isinstance(node, dict) else list(node)
        for part in parts:
            for piece in (part if isinstance(node, dict) else (part,)):
                walk(piece, inner)

    walk(obj, frozenset())
    if not plain:
        return "not plain", set()
    return ("cyclic", set()) if cyclic else ("plain", found)


def _answer(obj: Any, bound: int = 64) -> tuple[str, set[int]]:
    try:
        tree = plaintree.containers(obj, bound, {})
    except plaintree.NotPlain:
        return "not plain", set()
    return ("cyclic", set()) if tree is None else ("plain", set(map(id, tree)))


oddities = st.sampled_from([Refuses(1), Refuses, len, Text("x"), 1j, bytearray(b"x"),
                            threading.Lock(), range(3), collections.OrderedDict])


@settings(max_examples=300, deadline=None)
@given(st.lists(json_like() | oddities, min_size=1, max_size=8),
       st.sampled_from([list, tuple, dict, collections.OrderedDict]))
def test_containers_answer_as_a_slow_walk_does(items, wrap):
    """Plain or not, cyclic or not, and which containers: as a recursive walk says, for
    parsed-JSON-like data (shared parts, OrderedDicts holding themselves or with
    attributes) with odd objects planted as values."""
    obj = wrap(items) if wrap in (list, tuple) else wrap(
        (f"k{i}", item) for i, item in enumerate(items))
    assert _answer(obj) == _reference(obj)


def test_keys_count_and_known_trees_are_not_walked_again():
    """A dict's non-string keys are looked at (a tuple key holding an instance is not
    plain); the containers of a tree already known are left out."""
    assert _answer({(1, Refuses("key")): 1})[0] == "not plain"
    assert _answer({(1, 2): 1, Text("k"): 2})[0] == "not plain"
    empty = collections.OrderedDict()
    empty.lock = threading.Lock()  # an empty one's attributes are saved all the same
    assert _answer({"a": [empty], "b": collections.OrderedDict(c=empty)})[0] == "not plain"
    for backend in ("pickle", "cloudpickle"):
        obj = collections.OrderedDict(model=_model(3), extra=collections.OrderedDict(e=empty))
        assert _verdict(backend, obj, 5) == _library(backend, obj, 5)
        assert "lock" in _verdict(backend, obj, 5)[1]
    model = _model(5)
    known = dict(zip(map(id, plaintree.containers(model, 64, {})),
                     plaintree.containers(model, 64, {}), strict=True))
    outer = {"model": model, "rows": [[1, 2], [3]]}
    tree = plaintree.containers(outer, 64, known)
    assert tree is not None
    assert {id(c) for c in tree} == {id(outer), id(outer["rows"]), id(outer["rows"][0]),
                                     id(outer["rows"][1])}


def _settings(**values: Any) -> Any:
    """A plain instance: from Python 3.13 its ``__dict__`` keeps its values in the
    instance, while the instance lives (a class of its own: another instance's attribute
    names could make its dict one of the usual kind), and the dict's referents are empty."""
    obj = type("Settings", (), {})()
    for name, value in values.items():
        setattr(obj, name, value)
    return obj


@pytest.mark.parametrize("where", ["the root", "inside a list"])
def test_an_instances_dict_is_walked_for_its_values(where):
    """An instance's ``__dict__`` (its own, as its reduction hands it to a pickler) is
    looked into like any dict (on Python 3.13 its values are not among its referents: a
    dill search passed over one holding a generator)."""
    plain = _settings(**{f"s{i}": i for i in range(9)}, rows=[[1, 2], {"k": (3,)}])
    mixed = _settings(**{f"s{i}": i for i in range(9)}, gen=(i for i in [1]))
    deep = _settings(**{f"s{i}": i for i in range(9)}, rows=[[1, Refuses("deep")]])
    for owner in (plain, mixed, deep):
        obj = vars(owner) if where == "the root" else [vars(owner), 1]
        assert _answer(obj) == _reference(obj)
    assert _answer(vars(mixed))[0] == _answer(vars(deep))[0] == "not plain"
    assert len(_answer(vars(plain))[1]) == 5  # the dict, rows, [1, 2], {"k": ...}, (3,)


def test_dill_finds_a_culprit_below_an_instance_with_many_attributes():
    """dill's quick pickler passes over trees of plain data: not over an instance's state
    whose values a garbage-collector walk does not show (Python 3.13)."""
    parent, child = Client(), Client()
    for i in range(9):
        setattr(child, f"setting{i}", i)
    child.parent, parent.children = parent, [child]
    child.gen = (i for i in [1])
    report = picklecheck.check(parent, backends=("dill",), name="root", roundtrip=False)
    assert [c.path for c in report.culprits] == ["root.children[0].gen"]


def test_a_tree_deeper_than_the_bound_is_not_called_plain():
    deep: list[Any] = [1]
    for _ in range(70):
        deep = [deep]
    assert _answer(deep, bound=64)[0] == "cyclic"  # None: not known to end in time
    assert _answer(deep, bound=80)[0] == "plain"


def _verdict(backend: str, obj: Any, protocol: int, file: Any = None) -> tuple[Any, str]:
    file = io.BytesIO() if file is None else file
    try:
        get_backend(backend).verdict_dump(obj, file, protocol, others_failed=True)
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return None, repr(exc)
    return file.getvalue(), ""


def _library(backend: str, obj: Any, protocol: int) -> tuple[Any, str]:
    dumps = {"pickle": __import__("pickle").dumps, "cloudpickle": cloudpickle.dumps}[backend]
    try:
        return dumps(obj, protocol), ""
    except Exception as exc:  # noqa: BLE001 - the exception is the result
        return None, repr(exc)


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_the_quick_verdict_fails_and_succeeds_as_the_library_does(backend):
    """After another backend failed, the C picklers' verdict passes over plain trees: the
    same first failure as the library's dumps, or its very bytes."""
    planted = st.integers(0, 99).map(Refuses)

    @settings(max_examples=150, deadline=None)
    @given(st.lists(json_like() | planted, min_size=1, max_size=10), st.sampled_from([2, 4, 5]))
    def same(items, protocol):
        obj = [items, collections.OrderedDict(model=_model(3), items=items)]
        assert _verdict(backend, obj, protocol) == _library(backend, obj, protocol)

    same()


@pytest.mark.parametrize("backend", ["pickle", "cloudpickle"])
def test_a_passed_over_dump_that_does_not_fail_is_done_again(backend):
    obj = {"model": _model(), "rows": list(range(50))}
    expected = _library(backend, obj, 5)[0]
    assert _verdict(backend, obj, 5) == (expected, "")
    sink = Sink()
    get_backend(backend).verdict_dump(obj, sink, 5, others_failed=True)
    assert sink.size == len(expected)


def _client() -> tuple[Client, Any]:
    """A client whose twelve parts reach one service model, with a lock in one part and
    a generator in another (beside the model, in an ``OrderedDict``)."""
    model = _model()
    client = Client()
    for i in range(12):
        setattr(client, f"part{i}", {"model": model, "index": i})
    client.part3["lock"] = threading.Lock()
    client.part9["nested"] = collections.OrderedDict(model=model, gen=(i for i in range(2)))
    return client, model


def _count_walks(monkeypatch, tree: Any) -> list[int]:
    """A list that gets an item each time ``tree`` is walked from its root."""
    walks: list[int] = []
    real = plaintree.containers

    def counted(obj, bound, known):
        if obj is tree:
            walks.append(1)
        return real(obj, bound, known)

    monkeypatch.setattr(plaintree, "containers", counted)
    return walks


def test_a_search_walks_a_shared_model_once_and_finds_every_culprit(monkeypatch):
    """A client's attributes each reach the same service model: each C pickler's search
    walks it once (and never pickles it), and the culprits are the ones there (dill
    pickles no lock: only the generator)."""
    client, model = _client()
    walks = _count_walks(monkeypatch, model)
    found = {}
    for backend in ("pickle", "cloudpickle", "dill"):
        walks.clear()
        report = picklecheck.check(client, backends=(backend,), roundtrip=False, name="c")
        found[backend] = sorted((c.path, c.kind) for c in report.culprits)
        if backend != "dill":
            assert len(walks) == 1, backend
    assert found["pickle"] == found["cloudpickle"] == [
        ("c.part3['lock']", "lock"), ("c.part9['nested']['gen']", "generator")]
    assert [p for p, _ in found["dill"]] == ["c.part9['nested']['gen']"]


def test_one_check_walks_a_shared_model_once_for_all_its_backends(monkeypatch):
    """Plain is plain for every backend: pickle's search, then cloudpickle's verdict and
    search, share what the check has found, and each names the culprits it names alone."""
    client, model = _client()
    walks = _count_walks(monkeypatch, model)
    report = picklecheck.check(client, backends=("pickle", "cloudpickle"), roundtrip=False,
                               name="c")
    assert len(walks) == 1
    expected = [("c.part3['lock']", "lock"), ("c.part9['nested']['gen']", "generator")]
    assert sorted((c.path, c.kind) for c in report.culprits) == expected
    for backend in ("pickle", "cloudpickle"):
        assert sorted((c.path, c.kind) for c in report.results[backend].culprits) == expected


def test_pass_overs_given_the_same_trees_walk_each_tree_once():
    """Two reducers (two dumps of one check) that share ``Trees``: what one found plain or
    not, the other knows; each counts only what it passed over."""
    trees = plaintree.Trees()
    plain, mixed = _model(3), collections.OrderedDict(a=1, b=Refuses("b"))
    first = plaintree.PassOver(lambda od: ("reduced", od), trees)
    second = plaintree.PassOver(lambda od: ("second", od), trees)
    assert first(plain) is plaintree.PASSED_OVER and first(mixed) == ("reduced", mixed)
    assert (id(plain) in trees.known, id(mixed) in trees.mixed) == (True, True)
    assert second(plain["shapes"]) is plaintree.PASSED_OVER  # known as part of ``plain``
    assert second(mixed) == ("second", mixed)
    assert (first.passed, second.passed) == (1, 1)
    assert plaintree.PassOver(lambda od: od).trees is not trees  # a new one by default


def test_pass_over_walks_each_tree_once_plain_or_not(monkeypatch):
    """A tree found plain is passed over from then on, one that is not is handed to
    ``otherwise`` from then on: neither is walked again."""
    walks: list[Any] = []
    real = plaintree.containers

    def counted(obj, bound, known):
        walks.append(obj)
        return real(obj, bound, known)

    monkeypatch.setattr(plaintree, "containers", counted)
    plain = _model(3)
    mixed = collections.OrderedDict(a=1, b=Refuses("b"))
    passing = plaintree.PassOver(lambda od: ("reduced", od))
    for _ in range(3):
        assert passing(plain) is plaintree.PASSED_OVER
        assert passing(plain["shapes"]) is plaintree.PASSED_OVER  # known as part of it
        assert passing(mixed) == ("reduced", mixed)
    assert walks == [plain, mixed]
    assert passing.passed == 6
