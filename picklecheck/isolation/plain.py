"""Dumps that can run no one's code: proven so as they run, done in the caller's thread.

A check runs in a helper thread while its caller waits (:mod:`.deadline`), because
pickling can call code that never returns: a ``__reduce__``, a ``__getstate__``, a
reducer registered with ``copyreg``. Handing a check over and back costs two thread
switches, tens of microseconds: more than pickling a dict of a thousand numbers. Much of
what people check (session values, rows, settings, ids) is builtin data, whose pickling
runs no Python code at all. :func:`dump` pickles with the C pickler in the caller's
thread and stops the moment that would no longer be so:

* the C pickler asks its dispatch table about every object that is not a number, a
  string, bytes, a builtin container, a plain class or a function. Ours answers only
  for types whose reduction is C code: types written in C (:func:`implemented_in_c`)
  without an instance dict, whose reduction is ``object``'s (a lock, a socket's C
  half: it fails there, as in any dump), and :data:`_C_REDUCED` (dates and times,
  ``range``, ``slice``, builtin functions). For any other type, or one registered with ``copyreg``, it raises
  :class:`Tripped` before anything of that object runs;
* every frame the pickler writes (one per 64 KiB from protocol 4 on) checks the
  check's time limit, so a huge dump still ends at it.

A class or function is saved by reference (its module looked up by name, as pickle
always does). A tripped dump has run nothing but C code and the standard library's:
the check starts again in its helper.
"""

from __future__ import annotations

import copyreg
import datetime
import io
import itertools
import pickle
import types
from typing import Any

from picklecheck.backends.base import Reducers, Sink
from picklecheck.isolation import deadline

__all__ = ["Tripped", "dump", "implemented_in_c", "likely"]

_HEAPTYPE = 1 << 9
#: Builtin types whose own reduction is C code that calls no Python.
_C_REDUCED = frozenset({
    datetime.date, datetime.time, datetime.datetime, datetime.timedelta, datetime.timezone,
    range, slice, type(len),
})
#: What a pickler may run for an object of a type with the default reduction: its
#: ``__reduce_ex__`` is ``object``'s, and so is everything that one looks up.
_DEFAULTS = (("__reduce_ex__", object.__reduce_ex__), ("__reduce__", object.__reduce__),
             ("__getstate__", getattr(object, "__getstate__", None)),
             ("__getnewargs_ex__", None), ("__getnewargs__", None))
#: What a quick look takes for builtin data (classes and functions: saved by name).
_PLAIN = frozenset({type(None), bool, int, float, str, bytes, bytearray, list, tuple, dict,
                    set, frozenset, type, types.FunctionType}) | _C_REDUCED
_SAMPLE = 16
_NESTED = (list, tuple, dict)


class Tripped(Exception):  # noqa: N818 - reads as what happened
    """The dump met an object whose pickling could run someone's code (or ran out of
    time): nothing of it has run."""


def likely(obj: Any, depth: int = 2) -> bool:
    """Whether ``obj`` looks like builtin data (a few of its items are looked at, and a
    few of theirs): a dump that trips late would have been done for nothing (state that
    holds its records in a list under a key trips at the first record)."""
    kind = type(obj)
    if kind not in _PLAIN:
        return False
    if kind is dict:
        sample = list(itertools.chain.from_iterable(itertools.islice(obj.items(), _SAMPLE)))
    elif kind in (list, tuple):
        sample = list(obj[::max(1, len(obj) // _SAMPLE)])
    else:
        return True
    if not _PLAIN.issuperset(map(type, sample)):
        return False
    return depth <= 1 or all(likely(item, depth - 1) for item in sample
                             if type(item) in _NESTED)


def dump(obj: Any, protocol: int, keep: bool) -> tuple[int, bytes | None]:
    """Pickle ``obj`` as ``pickle.dump`` does (same bytes), running no one's code: the
    size, and the bytes when ``keep``. Raises :class:`Tripped` (see the module), or what
    the pickler raised."""
    file: _TimedSink | _TimedBytes = _TimedBytes() if keep else _TimedSink()
    pickler = pickle.Pickler(file, protocol)
    pickler.dispatch_table = _Tripwire(protocol)
    pickler.dump(obj)
    if isinstance(file, _TimedBytes):
        data = file.getvalue()
        return len(data), data
    return file.size, None


class _Tripwire(Reducers):
    """A dispatch table that starts empty and lets the pickler reduce (as it would without
    one) only what runs no Python code; a new one per dump: ``copyreg`` may be given a
    reducer between two."""

    def __init__(self, protocol: int) -> None:
        super().__init__({}, protocol)

    def __missing__(self, cls: Any) -> Any:
        if not _runs_no_code(cls):
            raise Tripped(cls)
        return super().__missing__(cls)


def _runs_no_code(cls: Any) -> bool:
    if not isinstance(cls, type) or type(cls) is not type or cls in copyreg.dispatch_table:
        return False
    if cls in _C_REDUCED and not cls.__flags__ & _HEAPTYPE:
        return True
    return implemented_in_c(cls) and all(
        getattr(cls, name, None) is default for name, default in _DEFAULTS)


#: What the namespace of a class written in C holds (its methods, slots and members).
_C_NAMESPACE = (types.WrapperDescriptorType, types.MethodDescriptorType,
                types.BuiltinFunctionType, types.GetSetDescriptorType,
                types.MemberDescriptorType, types.ClassMethodDescriptorType, str, int,
                type(None))


def implemented_in_c(cls: type) -> bool:
    """Whether ``cls`` and its bases are written in C, their instances without a dict
    (a lock, a socket's C half; a builtin type's or an extension's): their namespaces hold
    no Python function, property or ``__slots__``, and nothing of an instance's own can
    stand in for them, so looking an attribute up on one runs no Python code."""
    return cls.__dictoffset__ == 0 and all("__slots__" not in vars(klass)
               and all(isinstance(v, _C_NAMESPACE) for v in vars(klass).values())
               for klass in cls.__mro__[:-1])


def _check_time() -> None:
    if deadline.expired():
        raise Tripped("time")


class _TimedSink(Sink):
    __slots__ = ()

    def write(self, data: Any) -> int:
        _check_time()
        return super().write(data)


class _TimedBytes(io.BytesIO):
    def write(self, data: Any) -> int:
        _check_time()
        return super().write(data)
