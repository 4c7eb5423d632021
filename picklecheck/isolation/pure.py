"""Loads that can run no one's code: proven so as the bytes are read, done in this process.

Unpickling runs code only through the globals its bytes name: a callable that REDUCE
calls, a class whose ``__new__``, ``__setstate__``, ``__setattr__`` or ``__getattr__``
runs while its instance is built, or whose ``__hash__`` and ``__eq__`` run when it
is put in a set or a dict, or whose ``__del__`` runs when the copy is dropped.
:func:`load` reads the bytes with the C unpickler (as fast as ``pickle.loads``) and
resolves each global itself, importing nothing and calling no module's
``__getattr__``, and allows only

* constructors of the standard library (and numpy's) that run no Python code:
  ``set``, ``frozenset``, ``bytearray``, ``complex``, ``collections.OrderedDict``,
  ``datetime.datetime``, ``numpy.ndarray``, ... (:data:`_CONSTRUCTORS`);
* *plain* classes (:func:`_plain`): ``type`` as metaclass, and nothing in their MRO
  that would run at load (no Python ``__new__``, ``__setstate__``, ``__setattr__``,
  ``__getattr__``, ``__getattribute__``, ``__del__``, ``__init_subclass__``, no
  setter, no hash of their own, only builtin bases a load cannot reach into). A
  plain class is handed to the unpickler as a twin (not a subclass) whose ``__new__``
  makes an instance of the class itself with the class's own C ``__new__`` (the NEWOBJ
  opcode of protocol 2 and up), and which refuses to be called: bytes that would
  *call* the class, running its ``__init__``, stop.

Anything else raises :class:`NotPure` before it is resolved: nothing has run but the
building of plain objects and builtin containers, and the caller loads the bytes
where loads are contained. Protocols 0 and 1 are never pure (they build instances
by calling their class).
"""

from __future__ import annotations

import io
import pickle
import sys
import types
import weakref
from typing import Any

from picklecheck.backends import standin

__all__ = ["NotPure", "load"]

_HEAPTYPE = 1 << 9
#: Builtin bases whose instances a load fills only through C code of their own.
_BUILTIN_BASES = frozenset({object, dict, list, set, frozenset, tuple, int, float, complex,
                            str, bytes, bytearray})
#: Names a load may look up on a class or an instance as it builds one.
_RUNS_AT_LOAD = frozenset({
    "__new__", "__setstate__", "__setattr__", "__delattr__", "__getattr__",
    "__getattribute__", "__del__", "__init_subclass__", "__setitem__", "__delitem__",
    "append", "extend", "add", "__set_name__",
    # what a constructor below calls on an argument, were the bytes to pass it one
    "__iter__", "__next__", "__len__", "__length_hint__", "__index__", "__float__",
    "__complex__", "__buffer__", "__bytes__",
})
#: (module, qualified name) of callables and classes that run no Python code.
_CONSTRUCTORS = frozenset({
    ("builtins", n) for n in ("set", "frozenset", "bytearray", "complex", "slice", "range")
} | {
    ("collections", n) for n in ("OrderedDict", "deque", "defaultdict")
} | {
    ("datetime", n) for n in ("date", "time", "datetime", "timedelta", "timezone")
} | {
    ("decimal", "Decimal"), ("_codecs", "encode"),
} | {
    (m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    for n in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"), ("numpy", "dtype"),
})


class NotPure(Exception):  # noqa: N818 - reads as what it says
    """The bytes name something a load would run (``what``): load them contained."""

    def __init__(self, what: str) -> None:
        super().__init__(f"loading it would run {what}")
        self.what = what


def load(data: bytes) -> Any:
    """``pickle.loads(data)`` when that provably runs no code (see the module), else
    :class:`NotPure`, raised before anything but plain objects was built."""
    if len(data) < 2 or data[0] != pickle.PROTO[0] or data[1] < 2:
        raise NotPure("a protocol 0 or 1 pickle (it calls classes to build instances)")
    return _Unpickler(io.BytesIO(data)).load()


class _Unpickler(standin.StandIns, pickle.Unpickler):  # what a load search left out
    def find_class(self, module: str, name: str) -> Any:
        return _resolve(module, name)


def _resolve(module: str, name: str) -> Any:
    """What the global resolves to for a pure load, or :class:`NotPure`. Judged on every
    load (once per global: the unpickler memoizes it): a class may have gained a
    ``__setstate__`` since the last one."""
    owner = sys.modules.get(module)
    if owner is None:
        raise NotPure(f"the import of {module}")
    obj: Any = owner
    for part in name.split("."):  # through modules and classes only, never a __getattr__
        if type(obj) is not types.ModuleType and type(obj) is not type:
            raise NotPure(f"a lookup of {module}.{name}")
        namespace = vars(obj)
        if part not in namespace:
            raise NotPure(f"a lookup of {module}.{name}")
        obj = namespace[part]
    if (module, name) in _CONSTRUCTORS and _genuine(obj, module, name):
        return obj
    if type(obj) is type and _plain(obj):
        try:
            return _twin(obj)
        except Exception as exc:  # noqa: BLE001 - a layout that cannot be mirrored
            raise NotPure(f"a subclass of {module}.{name}") from exc
    raise NotPure(f"{module}.{name}")


def _genuine(obj: Any, module: str, name: str) -> bool:
    """Whether ``obj`` is the C-implemented constructor the name promises (not something
    put in its place: ``collections.OrderedDict = os.system``)."""
    compiled = type(obj) is types.BuiltinFunctionType or (
        isinstance(obj, type) and not obj.__flags__ & _HEAPTYPE)
    return (compiled and getattr(obj, "__module__", None) == module
            and getattr(obj, "__qualname__", None) == name)


def _plain(cls: type) -> bool:
    """Whether building an instance of ``cls`` with ``object.__new__`` and filling its
    ``__dict__``, hashing it and dropping it run no Python code (see the module)."""
    if type(cls) is not type:
        return False
    for klass in cls.__mro__:
        if not klass.__flags__ & _HEAPTYPE:
            if klass not in _BUILTIN_BASES:
                return False
            continue
        namespace = vars(klass)
        if not _RUNS_AT_LOAD.isdisjoint(namespace):
            return False
        hash_of_its_own = "__hash__" in namespace and namespace["__hash__"] is not None
        if hash_of_its_own or ("__eq__" in namespace and cls.__hash__ is not None):
            return False
        for value in namespace.values():
            kind = type(value)
            if (hasattr(kind, "__set__") or hasattr(kind, "__delete__")) and kind not in (
                    types.MemberDescriptorType, types.GetSetDescriptorType):
                return False  # a property's setter runs when a slot's state is set
    return True


_twins: weakref.WeakKeyDictionary[type, type] = weakref.WeakKeyDictionary()


class _Twin(type):
    """The metaclass of a plain class's stand-in: calling the stand-in (what bytes do to
    run a class's ``__init__``) refuses."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise NotPure(f"{cls.__qualname__}.__init__ (the bytes call the class)")


def _twin(cls: type) -> type:
    """``cls``'s stand-in for the unpickler (see the module): a class of its own, not a
    subclass (``cls.__subclasses__()`` stays as it was), whose ``__new__`` makes an
    instance of ``cls`` itself with ``cls.__new__``, which is C code for a plain class
    and refuses arguments where ``pickle.loads`` would (a ``__getnewargs__`` without a
    ``__new__``). It holds ``cls`` weakly, and goes when ``cls`` does."""
    twin = _twins.get(cls)
    if twin is None:
        real = weakref.ref(cls)

        def __new__(twin: type, *args: Any, **kwargs: Any) -> Any:  # noqa: N807
            made = real()
            if made is None:
                raise NotPure("a class that no longer exists")
            return made.__new__(made, *args, **kwargs)

        twin = _twins[cls] = _Twin(cls.__name__, (), {
            "__new__": __new__, "__slots__": (), "__module__": cls.__module__,
            "__qualname__": cls.__qualname__})
    return twin
