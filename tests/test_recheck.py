"""Tests for picklecheck.integrations.recheck and the Verifier's trust (issue 13)."""

from __future__ import annotations

import io
import sys
import threading
import types

import pytest

from picklecheck.backends import BACKEND_NAMES, get_backend
from picklecheck.integrations.config import resolve
from picklecheck.integrations.recheck import (
    SAMPLE,
    by_reference,
    recording_pickler,
    shape,
    still_global,
)
from picklecheck.integrations.verifier import Verifier, ordered


class Record:
    """A plain module-level class: pickled by reference."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


class Slotted:
    """Attributes in slots, not in a __dict__."""

    __slots__ = ("a", "b")

    def __init__(self, a, b):
        self.a, self.b = a, b


class Hostile:
    """Every dunder a fingerprint might call raises."""

    def __len__(self):
        raise RuntimeError("no len")

    def __getattribute__(self, name):
        raise RuntimeError("no attributes")

    def __iter__(self):
        raise RuntimeError("no iteration")


def changed(value, change) -> bool:
    """Whether ``change(value)`` changes ``shape(value)``."""
    before = shape(value)
    change(value)
    return shape(value) != before


# -- what the shape sees ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("make", "change"),
    [
        pytest.param(lambda: [1, 2], lambda v: v.append(3), id="list append"),
        pytest.param(lambda: list(range(100)), lambda v: v.__setitem__(-1, object()),
                     id="last item of a long list replaced"),
        pytest.param(lambda: {"a": 1}, lambda v: v.__setitem__("b", 2), id="dict key added"),
        pytest.param(lambda: {"a": [1]}, lambda v: v["a"].append(2), id="nested list grows"),
        pytest.param(lambda: {"a": {"x": 1}}, lambda v: v["a"].__setitem__("x", object()),
                     id="nested value rebound"),
        pytest.param(lambda: Record(conn=None), lambda v: setattr(v, "conn", threading.Lock()),
                     id="attribute rebound"),
        pytest.param(lambda: Record(items=[]), lambda v: v.items.append(1),
                     id="attribute list grows"),
        pytest.param(lambda: Slotted(1, 2), lambda v: setattr(v, "b", [3]), id="slot rebound"),
        pytest.param(lambda: {1, 2}, lambda v: v.add(3), id="set grows"),
        pytest.param(lambda: [{"role": "user"}] * 1 + [{"role": "bot", "text": ""}],
                     lambda v: v[-1].__setitem__("text", "token"), id="streamed chat message"),
    ],
)
def test_shape_sees_common_in_place_changes(make, change):
    """Appends, rebinding of sampled items and attributes, one level down too."""
    assert changed(make(), change)


def test_shape_misses_a_change_past_the_sample():
    """The documented limit: an item in the middle of a long list, rebound in place."""
    rows = [{"id": i} for i in range(4 * SAMPLE)]
    assert not changed(rows, lambda v: v[2 * SAMPLE].__setitem__("id", object()))


def test_shape_calls_no_user_code():
    """A value whose every dunder raises still has a shape."""
    value = Hostile()
    assert shape(value) == shape(value)


def test_shape_of_a_dataframe_sees_a_new_column():
    """Adding a column to a DataFrame changes its shape (pandas, when installed)."""
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": range(10)})
    assert changed(frame, lambda v: v.__setitem__("b", 1))


# -- globals pickled by name ------------------------------------------------------------

def test_still_global_notices_a_redefined_class():
    """A class is valid until its module holds a different object under its name."""
    module = types.ModuleType("picklecheck_test_rerun")
    exec("class Point:\n    pass\n", module.__dict__)  # noqa: S102 - a module's source, as a rerun runs it
    module.Point.__module__ = module.__name__
    sys.modules[module.__name__] = module
    try:
        old = module.Point
        assert still_global(old)
        exec("class Point:\n    pass\n", module.__dict__)  # noqa: S102
        assert not still_global(old)
    finally:
        del sys.modules[module.__name__]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_recording_pickler_notes_classes_and_functions(backend):
    """Every backend's recording pickler writes the same bytes and notes what it saved."""
    be = get_backend(backend)
    value = {"record": Record(x=1), "fn": len, "rows": [1, 2]}
    buffer = io.BytesIO()
    pickler = recording_pickler(be, buffer, 4)
    be.run(pickler, value)
    noted = by_reference(pickler.picklecheck_globals)
    assert Record in noted and len in noted
    assert be.loads(buffer.getvalue())["record"].x == 1


# -- the verifier's trust ------------------------------------------------------------

def verifier(**settings) -> Verifier:
    """A Verifier with the given settings."""
    return Verifier(resolve(mode="warn", **settings), trusting=True)


class Counted:
    """Counts its dumps."""

    dumps = 0

    def __reduce__(self):
        Counted.dumps += 1
        return (Counted, ())


def test_trusted_values_are_not_dumped_again():
    """With trust an unchanged value is skipped; a changed one is dumped again."""
    check = verifier()
    items = [Counted()]
    Counted.dumps = 0
    assert check.failures([("items", items)]) == {}
    assert check.failures([("items", items)], trust=True) == {}
    assert Counted.dumps == 1
    items.append(Counted())
    assert check.failures([("items", items)], trust=True) == {}
    assert Counted.dumps == 3


def test_redump_dumps_trusted_values_without_loading():
    """redump=True dumps every value but loads only what changed."""
    check = verifier(roundtrip=True)
    items = [Counted()]
    Counted.dumps = 0
    check.failures([("items", items)])
    check.failures([("items", items)], trust=True, redump=True)
    assert Counted.dumps == 2


class Inner:
    """Small (slots), so it comes from another allocator size class than Outer."""

    __slots__ = ("payload",)

    def __init__(self, payload):
        self.payload = payload


class Outer:
    """Holds an Inner."""

    def __init__(self, inner):
        self.inner = inner


def test_a_replacement_at_the_old_address_is_still_seen():
    """An item freed and replaced (CPython reuses the address at once) is checked again."""
    check = verifier()
    missed = 0
    for _ in range(20):  # the allocator often, not always, hands out the freed addresses
        box = [Outer(Inner(1))]
        assert check.failures([("box", box)]) == {}
        box.pop()
        box.append(Outer(Inner(threading.Lock())))
        missed += not check.failures([("box", box)], trust=True)
    assert missed == 0


def test_a_failing_value_gives_the_same_report_while_unchanged():
    """A value that failed and did not change is not diagnosed again."""
    check = verifier()
    value = {"lock": threading.Lock()}
    first = check.failures([("cfg", value)])
    again = check.failures([("cfg", value)], trust=True)
    assert list(again) == ["cfg"] and again["cfg"] is first["cfg"]
    value["lock"] = None
    assert check.failures([("cfg", value)], trust=True) == {}


def test_prune_forgets_deleted_keys():
    """Keys no longer in the state are forgotten, so their values are not kept alive."""
    check = verifier()
    check.failures([("a", [1]), ("b", [2])])
    check.failures([("a", [1])], prune=True)
    assert list(check._passed) == ["a"]  # noqa: SLF001 - what is held is the point


def test_a_verifier_that_does_not_trust_keeps_no_values():
    """SessionState's verifier keeps digests, never the values (nothing is kept alive)."""
    check = Verifier(resolve(mode="warn", roundtrip=True))
    value = [Counted()]
    check.failures([("items", value)])
    assert all(p.value is not value for p in check._passed.values())  # noqa: SLF001
    Counted.dumps = 0
    check.failures([("items", value)], trust=True)
    assert Counted.dumps == 1


def test_ordered_never_calls_a_keys_comparison():
    """String subclasses with raising comparisons sort by their text."""

    class Unordered(str):
        def __lt__(self, other):
            raise RuntimeError("no ordering")

        __hash__ = str.__hash__

    class Pretender:
        @property
        def __class__(self):
            raise RuntimeError("no class")

    pretender = Pretender()
    keys = [Unordered("b"), 3, Unordered("a"), pretender]
    assert ordered(keys) == ["a", "b", 3, pretender]
