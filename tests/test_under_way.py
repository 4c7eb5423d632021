"""dill's search below a class it saves by value: an object the failed dump had under
way, met again as a child, fails with that failure, unpickled, where its own dump would
only have repeated the failed one (see picklecheck.engine.scan.UnderWay)."""

from __future__ import annotations

import io
from typing import Any

import pytest

import picklecheck
from picklecheck.backends import get_backend
from picklecheck.backends.base import Sink
from picklecheck.engine import locate, scan

dill = pytest.importorskip("dill")


class Counted:
    """Saved by reference; counts how often a pickler reduced one."""

    reductions = 0

    def __reduce__(self):
        Counted.reductions += 1
        return (Counted, ())


class Holder:
    def __init__(self, value: Any) -> None:
        self.value = value


def _made_at_run_time(self_reference: bool = False) -> Any:
    """An instance of a class made at run time, as botocore makes its clients' (dill
    saves it by value), whose attribute holds a big part and, at the end, a generator
    (which dill cannot pickle)."""
    part = {"rows": [Counted() for _ in range(300)],
            "inner": {"deep": [1, (i for i in range(2))]}}
    made = type("Made", (), {"__module__": __name__, "settings": Holder(part)})
    if self_reference:
        made.again = made
    return made()


def _check(obj: Any, hints: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[list, int]:
    """The dill culprits (path, kind) and how many Counted were reduced."""
    if not hints:
        monkeypatch.setattr(scan, "fails_with", lambda *args: False)
        monkeypatch.setattr(locate, "fails_with", lambda *args: False)
    Counted.reductions = 0
    report = picklecheck.check(obj, backends=("dill",), roundtrip=False, expand=True)
    monkeypatch.undo()
    return sorted((c.path, c.kind) for c in report.culprits), Counted.reductions


def _in_a_closure_cell() -> Any:
    """The same, the generator in a closure cell of one of the class's methods: dill
    fills the cell in only once the class is saved, so it fails last."""
    bad = (i for i in range(2))

    def method(self: Any) -> Any:
        return bad

    made = type("Made", (), {"__module__": __name__, "method": method,
                             "rows": [Counted() for _ in range(300)]})
    return made()


@pytest.mark.parametrize(("factory", "ends"), [
    (_made_at_run_time, "['deep'][1]"),
    (lambda: _made_at_run_time(self_reference=True), "['deep'][1]"),
    (_in_a_closure_cell, "['method'].__closure__[0].cell_contents"),
], ids=["attribute", "self-reference", "closure-cell"])
def test_the_same_culprits_with_fewer_dumps(monkeypatch, factory, ends):
    obj = factory()
    plain, plain_work = _check(obj, hints=False, monkeypatch=monkeypatch)
    hinted, hinted_work = _check(obj, hints=True, monkeypatch=monkeypatch)
    assert hinted == plain
    assert [path for path, _ in hinted if path.endswith(ends)]
    # The class's own dump below the instance (300 rows, then the generator) is the one
    # not done again; every other is.
    assert hinted_work <= plain_work - 300


def test_what_a_failure_shows_under_way():
    obj = _made_at_run_time()
    pickler = get_backend("dill").pickler(Sink(), 4)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - dill's own error
        pickler.dump(obj)
    shown = scan.under_way(pickler, caught.value)
    assert shown is not None and shown.exc is caught.value
    made = type(obj)
    generator = obj.settings.value["inner"]["deep"][1]
    assert shown.order[0] == id(obj) and shown.order[-1] == id(generator)
    assert shown.objs[id(made)] is made
    # The instance and its class were saved with the class's by-value save under way;
    # the part below it, saved inside that save, is not.
    assert {id(obj), id(made)} <= shown.deferred
    assert id(obj.settings) not in shown.deferred
    assert scan.fails_with(shown, made)
    assert not scan.fails_with(shown, made, {id(obj.settings): (0, obj.settings)})
    assert not scan.fails_with(shown, obj.settings)


def test_nothing_is_shown_under_way_for_the_c_pickler_or_the_stack():
    """The C pickler's frames are not in a traceback; a failure of the stack's depth
    depends on where the dump started, so it shows nothing to go on."""
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    pickler = get_backend("dill").pickler(io.BytesIO(), 4)
    with pytest.raises(RecursionError) as caught:
        pickler.dump(deep)
    assert scan.under_way(pickler, caught.value) is None
    c_pickler = get_backend("pickle").pickler(Sink(), 4)
    with pytest.raises(TypeError) as failed:
        c_pickler.dump([(i for i in range(2))])
    assert scan.under_way(c_pickler, failed.value) is None


class Route:
    """One of several ways to the same shared object."""

    def __init__(self, to: Any) -> None:
        self.to = to


def test_a_second_route_to_what_failed_is_not_pickled_again():
    """Siblings that reach the object a failure had under way (one client held by many
    handlers) take it as saved: its culprits are searched below the first that failed."""
    shared = _made_at_run_time()
    obj = Holder([Route(shared) for _ in range(5)])
    Counted.reductions = 0
    report = picklecheck.check(obj, backends=("dill",), roundtrip=False, expand=True)
    assert [c.path for c in report.culprits] == [
        "obj.value[0].to.__class__.__dict__['settings'].value['inner']['deep'][1]"]
    # The verdict's dump and the search's dump of the first route reduce the 300 rows;
    # each other route's reduced them again (1,800 without it).
    assert Counted.reductions <= 2 * 300


def test_the_copy_of_a_class_namespace_fails_with_the_one_under_way():
    """dill's save of a class copies its namespace, and the search's reduction of the
    class makes another copy: the same keys and values, so it pickles as the one under
    way did and is not pickled again (nor the 300 rows before the culprit in it)."""
    def method(self: Any) -> None:
        return None

    method.settings = Holder(i for i in range(2))  # type: ignore[attr-defined]
    made = type("Made", (), {"__module__": __name__,
                             "rows": [Counted() for _ in range(300)], "method": method})
    Counted.reductions = 0
    report = picklecheck.check(made(), backends=("dill",), roundtrip=False, expand=True)
    assert [c.path for c in report.culprits] == [
        "obj.__class__.__dict__['method'].settings.value"]
    # The verdict's dump and the search's of the namespace's own level (900 before).
    assert Counted.reductions == 2 * 300


def test_a_copy_stands_in_only_with_the_very_same_items():
    namespace = {"a": Counted(), "b": [1, 2]}
    shown = scan.UnderWay(ValueError("x"), [id(namespace)], {id(namespace): namespace},
                          frozenset({id(namespace)}))
    assert shown.key_of(dict(namespace)) == id(namespace)
    assert shown.key_of(namespace) == id(namespace)
    assert shown.key_of({"a": namespace["a"], "b": [1, 2]}) is None  # an equal list, not it
    assert shown.key_of({"b": namespace["b"], "a": namespace["a"]}) is None  # another order
    assert shown.key_of([namespace["a"], namespace["b"]]) is None
