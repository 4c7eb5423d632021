"""A bounded ``repr`` that never raises and never walks a huge graph."""

from __future__ import annotations

import collections
import functools
import itertools
import reprlib
import sys
import threading
from typing import Any

__all__ = ["saferepr", "type_name"]

MAX_REPR = 120


#: Containers whose repr shows their items (and so, in a cycle, themselves).
_NESTING = (list, tuple, dict, set, frozenset, collections.deque)


class _Repr(reprlib.Repr):
    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxstring = maxsize
        self.maxother = maxsize
        self.maxlist = self.maxtuple = self.maxset = self.maxdict = 4
        self.maxlevel = 2
        self._methods: dict[str, Any] = {}
        # The containers being shown, per thread: one instance serves every thread, and
        # a check abandoned inside a __repr__ never takes its containers off.
        self._shown = threading.local()

    def repr1(self, x: Any, level: int) -> str:
        # reprlib's own lookup (by the type's name, spaces made underscores), built and
        # looked up as a string on every item: remembered per name, found the same way.
        typename = type(x).__name__
        method = self._methods.get(typename)
        if method is None:
            name = "repr_" + "_".join(typename.split()) if " " in typename else "repr_" + typename
            method = self._methods[typename] = getattr(self, name, self.repr_instance)
        if not issubclass(type(x), _NESTING):
            return method(x, level)  # type: ignore[no-any-return]
        # A container inside itself is shown as repr() shows it: [...] (reprlib has no
        # such rule, and cyc = [cyc, 1] read [[[...], 1], 1], a level that is not there).
        shown = getattr(self._shown, "ids", None)
        if shown is None:
            shown = self._shown.ids = set()
        if id(x) in shown:
            return "{...}" if issubclass(type(x), (dict, set, frozenset)) else (
                "(...)" if issubclass(type(x), tuple) else "[...]")
        shown.add(id(x))
        try:
            return method(x, level)  # type: ignore[no-any-return]
        finally:
            shown.discard(id(x))

    def repr_bytes(self, obj: bytes, level: int) -> str:
        # reprlib has no bytes rule: without this, repr() of a 1 GiB payload runs in full.
        if len(obj) <= self.maxstring:
            return repr(obj)
        half = self.maxstring // 2
        return repr(obj[:half])[:-1] + "..." + repr(obj[-half:])[2:]

    repr_bytearray = repr_bytes

    # reprlib sorts a dict's keys (a set's items) to show the first few: on a million
    # keys that costs more than pickling them. Big ones show their first few as they are.
    def repr_dict(self, obj: dict[Any, Any], level: int) -> str:
        return super().repr_dict(_first(obj, self.maxdict), level)  # type: ignore[arg-type]

    def repr_set(self, obj: set[Any], level: int) -> str:
        return super().repr_set(_first(obj, self.maxset), level)  # type: ignore[arg-type]

    def repr_frozenset(self, obj: frozenset[Any], level: int) -> str:
        return super().repr_frozenset(_first(obj, self.maxset), level)  # type: ignore[arg-type]

    # The standard library's dicts write every item (a Counter sorts them first): a big one
    # shows its first few, as a dict does.
    def repr_OrderedDict(self, obj: Any, level: int) -> str:  # noqa: N802 - reprlib's naming
        return self._mapping(obj, level, collections.OrderedDict)

    def repr_Counter(self, obj: Any, level: int) -> str:  # noqa: N802
        return self._mapping(obj, level, collections.Counter)

    def repr_defaultdict(self, obj: Any, level: int) -> str:
        return self._mapping(obj, level, collections.defaultdict)

    def _mapping(self, obj: Any, level: int, kind: Any) -> str:
        if type(obj) is not kind:
            return self.repr_instance(obj, level)
        if kind is collections.OrderedDict and sys.version_info < (3, 12):
            # OrderedDict([(key, value), ...]) before Python 3.12
            head: Any = _Head(obj.items(), self.maxlist)
            return f"OrderedDict({self.repr_list(head, level)})"
        items = self.repr_dict(obj, level)
        if kind is collections.defaultdict:
            return f"defaultdict({self.repr1(obj.default_factory, level - 1)}, {items})"
        return f"{kind.__name__}({items})"

    def repr_instance(self, obj: Any, level: int) -> str:
        try:
            text = repr(obj)
        except BaseException as exc:  # noqa: BLE001 - user __repr__ may raise anything
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            return f"<{type_name(obj)} object (repr raised {type(exc).__name__})>"
        if not isinstance(text, str):
            return f"<{type_name(obj)} object (repr returned {type(text).__name__})>"
        return _shorten(text, self.maxother)


class _Head:
    """The first items of a big dict or set, standing in for it in reprlib: sorting
    them is cheap, and ``len`` still says how many there are."""

    def __init__(self, obj: Any, keep: int) -> None:
        self._obj = obj
        self._keep = keep

    def __len__(self) -> int:
        return len(self._obj)

    def __iter__(self) -> Any:
        return itertools.islice(iter(self._obj), self._keep)

    def __getitem__(self, key: Any) -> Any:
        return self._obj[key]


_SORT_MAX = 1000


def _first(obj: Any, keep: int) -> Any:
    """``obj`` itself when sorting it is cheap, else a view of its first few items."""
    return obj if len(obj) <= _SORT_MAX else _Head(obj, keep + 1)


def _shorten(text: str, size: int) -> str:
    text = " ".join(text.split()) if "\n" in text else text
    if len(text) <= size:
        return text
    keep = size - 3
    return text[: keep // 2 + keep % 2] + "..." + text[len(text) - keep // 2 :]


@functools.lru_cache(maxsize=8)
def _repr_of(maxsize: int) -> _Repr:
    return _Repr(maxsize)  # keeps nothing of a call's object (only its lookups): one per size


#: Items whose repr is C code, and which reprlib shows as ``repr`` does when short.
_SHORT_ATOMS = frozenset({int, float, bool, type(None), str})
#: reprlib shortens an int's repr longer than this (its ``maxlong``).
_MAXLONG = 40


def _atoms_repr(obj: Any, maxsize: int) -> str | None:
    """reprlib's text for a list or tuple whose first items are short numbers, strings,
    booleans or None, made at C speed (reprlib makes Python calls per item): the most
    common payload there is. None for anything else."""
    kind = type(obj)
    if kind is not list and kind is not tuple:
        return None
    head = obj[:4]  # _Repr's maxlist and maxtuple
    if not _SHORT_ATOMS.issuperset(map(type, head)):
        return None
    pieces = list(map(repr, head))
    if max(map(len, pieces), default=0) > min(_MAXLONG, maxsize):
        return None  # reprlib would shorten it
    if len(obj) > len(head):
        pieces.append("...")
    if kind is list:
        return "[" + ", ".join(pieces) + "]"
    return "(" + pieces[0] + ",)" if len(obj) == 1 else "(" + ", ".join(pieces) + ")"


def saferepr(obj: Any, maxsize: int = MAX_REPR) -> str:
    """``repr(obj)`` cut to ``maxsize`` characters; a raising or recursive repr is a finding."""
    text = _atoms_repr(obj, maxsize)
    if text is not None:
        return _shorten(text, maxsize)
    try:
        return _shorten(_repr_of(maxsize).repr(obj), maxsize)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001
        return f"<{type_name(obj)} object (repr raised {type(exc).__name__})>"


def type_name(obj: Any) -> str:
    """The qualified name of ``type(obj)``: ``_thread.lock``, ``collections.OrderedDict``,
    ``Point`` for builtins and ``__main__`` types."""
    return qualified_name(type(obj))


def qualified_name(cls: Any) -> str:
    try:
        module = cls.__module__
        qualname = getattr(cls, "__qualname__", None) or cls.__name__  # a TypeVar: __name__
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - hostile metaclass (any BaseException)
        return "<unknown type>"
    if not isinstance(qualname, str):
        return "<unknown type>"
    if not isinstance(module, str) or module in ("builtins", "__main__"):
        return qualname
    return f"{module}.{qualname}"
