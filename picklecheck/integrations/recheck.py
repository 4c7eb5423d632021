"""Knowing, without pickling it again, that a session value still pickles as it did.

Streamlit checks session state at the end of every run, and most of it did not change
since the last run: a 40 MB DataFrame costs ~40 ms to dump and as much to load, 100,000
small dicts ~80 ms. This module decides, in microseconds, when a value that passed
before may be trusted again. ``id()`` alone is not enough (issue 4's closing note):

* a container changes in place without changing its id, so a value is trusted only
  while its :func:`shape` (a bounded structural fingerprint) is unchanged;
* an unchanged instance stops pickling when a rerun redefines its ``__main__`` class
  (or a module is reloaded), so the classes and functions the last dump wrote *by
  reference* are recorded (:func:`recording_pickler`) and must still be what their
  module holds under that name (:func:`still_global`, once per distinct global).

What the shape sees, and so what is caught without a full dump: the value rebound
(identity), its type or length, and the identity, type and length of a sample of its
items or attributes (the first and last :data:`SAMPLE` at each of :data:`DEPTH`
levels). What it cannot see: an in-place change deeper than that, or in the middle of
a large container, that keeps every sampled length and identity. Those are caught by
the next full check, which the caller runs every so often (see
:meth:`picklecheck.integrations.verifier.Verifier.failures`).

Nothing here calls user code: lengths, items and attributes are read through the
exact built-in types' own slots or :func:`gc.get_referents`.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Any

__all__ = ["DEPTH", "SAMPLE", "Passed", "by_reference", "recording_pickler", "shape",
           "still_global"]

#: Items sampled from each end of a container, and levels of the value looked into.
SAMPLE = 4
DEPTH = 2

_ATOMS = (type(None), bool, int, float, complex, str, bytes)
_BY_NAME = (types.FunctionType, types.BuiltinFunctionType)


@dataclass
class Passed:
    """What is remembered about a value that passed: enough to trust it next time.

    ``value`` is held (not its id), and so is every object its shape sampled
    (``kept``): CPython reuses a freed object's address at once (a replaced dict
    often gets the old one's id), and a held object's id cannot be reused while the
    record lives. ``digest`` is the hash of the bytes that last loaded (None
    without a round trip).
    """

    value: Any
    shape: tuple[Any, ...]
    globals: tuple[Any, ...] = ()
    digest: bytes | None = None
    kept: tuple[Any, ...] = ()

    def holds(self, value: Any, valid: dict[int, bool]) -> bool:
        """True when ``value`` is the same object, of the same shape, with the same globals.

        ``valid`` caches :func:`still_global` per global for one pass over the state.
        """
        if value is not self.value or shape(value) != self.shape:
            return False
        for obj in self.globals:
            known = valid.get(id(obj))
            if known is None:
                known = valid[id(obj)] = still_global(obj)
            if not known:
                return False
        return True


def shape(value: Any, depth: int = DEPTH, keep: list[Any] | None = None) -> tuple[Any, ...]:
    """A cheap structural fingerprint: type, size and a sample of identities, ``depth`` deep.

    ``keep`` receives every sampled object, for the caller to hold (see :class:`Passed`).
    """
    kind = type(value)
    if kind in _ATOMS:
        return (id(kind), id(value))
    size, sample = _sample(value, kind)
    if keep is not None:
        keep += sample
    parts: list[Any] = [id(kind), size]
    parts += [id(item) for item in sample]
    if depth > 1:
        parts += [shape(item, depth - 1, keep) for item in sample if type(item) not in _ATOMS]
    return tuple(parts)


def _sample(value: Any, kind: type) -> tuple[int, list[Any]]:
    """The number of children and the first and last :data:`SAMPLE` of them."""
    if issubclass(kind, dict):
        size = dict.__len__(value)
        items = dict.items(value)
        head = [x for pair in islice(items, SAMPLE) for x in pair]
        if size <= SAMPLE:
            return size, head
        return size, head + [x for pair in islice(reversed(items), SAMPLE) for x in pair]
    if issubclass(kind, (list, tuple)):
        seq: Any = list if issubclass(kind, list) else tuple
        size = seq.__len__(value)
        if size <= 2 * SAMPLE:
            return size, list(seq.__getitem__(value, slice(None)))
        return size, [*seq.__getitem__(value, slice(SAMPLE)),
                      *seq.__getitem__(value, slice(-SAMPLE, None))]
    if issubclass(kind, (set, frozenset)):
        group: Any = set if issubclass(kind, set) else frozenset
        return group.__len__(value), list(islice(group.__iter__(value), 2 * SAMPLE))
    return _referents(value)


def _referents(value: Any) -> tuple[int, list[Any]]:
    """What the object refers to (its attributes, slots, class), without calling its code.

    An instance's ``__dict__`` (a referent on some Python versions, its values on
    others) is opened, so attributes count the same way everywhere.
    """
    found: list[Any] = []
    size = 0
    for ref in gc.get_referents(value):
        if type(ref) is dict:
            count, sample = _sample(ref, dict)
            size += count
            found += sample[1::2] if count <= SAMPLE else sample  # values; or keys and values
        else:
            size += 1
            found.append(ref)
    if len(found) <= 2 * SAMPLE:
        return size, found
    return size, found[:SAMPLE] + found[-SAMPLE:]


def still_global(obj: Any) -> bool:
    """Whether ``obj`` is still what its module holds under its name, as pickle requires.

    pickle writes a class or function as ``module.qualname`` and refuses it when that
    name now holds a different object ("it's not the same object as __main__.Point"):
    exactly what happens to a value made by an earlier Streamlit run's class.
    """
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    name = getattr(obj, "__qualname__", None)
    if module is None or not isinstance(name, str):
        return False
    found: Any = module
    for part in name.split("."):
        found = getattr(found, part, _GONE)
        if found is _GONE:
            return False
    return found is obj


_GONE = object()


_RECORDING: dict[tuple[str, type], type] = {}


def recording_pickler(backend: Any, file: Any, protocol: int) -> Any:
    """A pickler of ``backend`` into ``file`` that notes every class and function it saves.

    It is a subclass of the backend's own pickler class whose ``reducer_override`` sees
    every object but exact dicts, lists, tuples, sets and atoms (the C pickler's rule),
    so the cost is one call per other object; it defers to the base class's own
    ``reducer_override`` (cloudpickle has one). The notes are in ``picklecheck_globals``.
    """
    base = type(backend.pickler(_NullFile(), protocol))
    made = _RECORDING.get((backend.name, base))
    if made is None:
        made = _RECORDING[(backend.name, base)] = _recording_subclass(base)
    return made(file, protocol)


def _recording_subclass(base: type) -> type:
    inherited = getattr(base, "reducer_override", None)

    class Recording(base):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.picklecheck_globals: list[Any] = []

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, type) or type(obj) in _BY_NAME:
                self.picklecheck_globals.append(obj)
            if inherited is None:
                return NotImplemented
            return inherited(self, obj)

    Recording.__name__ = Recording.__qualname__ = f"Recording{base.__name__}"
    return Recording


def by_reference(saved: Iterable[Any]) -> tuple[Any, ...]:
    """The distinct recorded globals that were written by name (those that resolve)."""
    seen: dict[int, Any] = {}
    for obj in saved:
        if id(obj) not in seen and still_global(obj):
            seen[id(obj)] = obj
    return tuple(seen.values())


class _NullFile:
    __slots__ = ()

    def write(self, data: Any) -> int:
        return len(data)
