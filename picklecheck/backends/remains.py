"""What an in-process load leaves behind, made harmless before the collector finds it.

The copies a check loads are only looked at, then dropped; their finalizers would run
in the user's process, on objects the user never made:

* a load that fails half-way leaves objects it created but never finished (a ``tqdm``
  bar whose state never arrived, a wrapper whose ``__getattr__`` recurses because the
  attribute it wraps is missing). They sit in reference cycles until the collector
  runs, at whatever moment and stack depth that happens to be; when that is deep in
  another recursion (the next load of the same bar), the finalizer's own recursion has
  no headroom left and CPython aborts: "Cannot recover from stack overflow";
* a load that works can still give a copy whose finalizer harms: a redis client copied
  by dill closes its pool under a lock that dill restored held by no thread, and the
  process hangs forever; a copy of a temporary file's wrapper deletes the original's
  file.

So while an in-process load runs, the collector is off (no finalizer of anything runs
inside the load's recursion), and afterwards every object the load created that the
unpickler still holds (or reaches) and whose class has a Python ``__del__`` is
*disarmed*: its class is swapped for a twin with the same memory layout and no
finalizer. Objects that existed before the load (classes, singletons a reducer
returned) are never touched: a young collection just before the load leaves the
collector's youngest generation to what the load makes, and only those qualify. Finalizers written in C (files, sockets) still run: they release only what
the copy itself opened.

A disarmed copy is not a harmless one: dropped where it really loads, it runs those
finalizers (a ``shelve`` copy rewrites the shelf's index from its stale snapshot, a
temporary file's copy deletes the file). In the sandboxed child, where the kernel
refuses what they try, a load passes a list to :func:`disarmed`, and the copy is
dropped *armed* again (:func:`rearm`) while the child's watch names what its
finalizers try (see :func:`picklecheck.isolation.contain`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["disarmed", "identity", "is_one_of", "own_class", "rearm"]

_HEAPTYPE = 1 << 9
#: An object's identity as a number, like ``id`` (the default hash is its address,
#: rotated), without ``id``'s audit event: a loading child's watch would hear thousands.
identity = object.__hash__
_twins: dict[type, type | None] = {}
#: Objects whose class could not be swapped: kept alive rather than finalized broken.
_kept: list[Any] = []


#: Objects a load disarmed, with their own classes (None: kept alive instead; see
#: :func:`rearm`).
Swapped = list[tuple[Any, "type | None"]]


@contextmanager
def disarmed(unpickler: Any, swapped: Swapped | None = None) -> Iterator[None]:
    """Run a load with the collector off, then disarm what it made (see the module);
    each object disarmed, with its class, goes to ``swapped`` when given."""
    enabled = gc.isenabled()
    gc.disable()
    # A young collection first: the youngest generation then holds only what the load
    # makes (what survives moves on; garbage left by earlier loads is already disarmed).
    gc.collect(0)
    try:
        yield
    finally:
        try:
            _disarm(unpickler, swapped)
        except Exception:  # noqa: BLE001, S110 - the load's own outcome is what counts
            pass
        if enabled:
            gc.enable()


def rearm(swapped: Swapped) -> None:
    """Give each object in ``swapped`` its own class (and finalizer) back, or let go of
    it (one kept alive, its class being one no twin could be made for), and empty it."""
    released = set()
    for obj, cls in swapped:
        if cls is None:
            released.add(identity(obj))
        else:
            object.__setattr__(obj, "__class__", cls)
    if released:
        _kept[:] = [obj for obj in _kept if identity(obj) not in released]
    swapped.clear()


def _disarm(unpickler: Any, swapped: Swapped | None) -> None:
    """Swap the class of each object the load created and the unpickler still reaches,
    when that class has a Python ``__del__``."""
    fresh = gc.get_objects(generation=0)
    armed = {t for t in set(map(type, fresh)) if _python_finalizer(t)}
    if not armed:
        return  # the usual case: nothing it made has a finalizer
    fresh_ids = set(map(identity, fresh))
    for obj in _reachable(_held_by(unpickler), fresh_ids):
        if type(obj) in armed:
            cls = type(obj)
            kept = not _swap(obj)
            if swapped is not None:
                swapped.append((obj, None if kept else cls))


def _held_by(unpickler: Any) -> list[Any]:
    """What the unpickler still holds: its memo, and (pure-Python ones) its stacks."""
    held: list[Any] = []
    try:
        held.extend(unpickler.memo.copy().values())
    except Exception:  # noqa: BLE001 - an unpickler without a readable memo
        held = []
    for name in ("stack", "metastack"):
        value = getattr(unpickler, name, None)
        if isinstance(value, list):
            held.extend(value)
    return held


def _reachable(roots: list[Any], fresh_ids: set[int]) -> Iterator[Any]:
    """Objects created by the load (``fresh_ids``) reachable from ``roots`` through
    other such objects."""
    seen: set[int] = set()
    stack = [o for o in roots if identity(o) in fresh_ids]
    while stack:
        obj = stack.pop()
        if identity(obj) in seen:
            continue
        seen.add(identity(obj))
        yield obj
        stack.extend(o for o in gc.get_referents(obj)
                     if identity(o) in fresh_ids and identity(o) not in seen)


def _python_finalizer(cls: type) -> bool:
    """Whether the ``__del__`` instances of ``cls`` would run is a Python function."""
    for klass in cls.__mro__:
        finalizer = klass.__dict__.get("__del__")
        if finalizer is not None:
            return callable(finalizer) and hasattr(finalizer, "__code__")
    return False


def _swap(obj: Any) -> bool:
    """Disarm ``obj``; whether its class was swapped (else it is kept alive)."""
    twin = _twin(type(obj))
    if twin is not None:
        try:
            object.__setattr__(obj, "__class__", twin)  # past any hostile __setattr__
            return True
        except TypeError:
            pass
    _kept.append(obj)
    return False


def _twin(cls: type) -> type | None:
    """A class with the memory layout of ``cls`` and no finalizer, made without running
    any code of the user's (no metaclass, no ``__init_subclass__``), or None."""
    if cls not in _twins:
        _twins[cls] = _make_twin(cls)
    return _twins[cls]


def _make_twin(cls: type) -> type | None:
    layout = cls  # the class that last added to the instance layout
    while layout.__base__ is not None and _same_layout(layout, layout.__base__):
        layout = layout.__base__
    namespace: dict[str, Any] = {}
    if not layout.__flags__ & _HEAPTYPE:
        base: type | None = layout
        namespace["__slots__"] = ()
    else:
        base = layout.__base__
        if "__slots__" in layout.__dict__:
            namespace["__slots__"] = layout.__dict__["__slots__"]
    if base is None or not _plain_to_subclass(base):
        return None
    namespace["__module__"] = __name__
    namespace["__doc__"] = f"a half-loaded {cls.__qualname__}, disarmed"
    namespace["_disarmed_of"] = cls  # for what looks at the copy before it is rearmed
    try:
        return type(layout.__name__, (base,), namespace)
    except Exception:  # noqa: BLE001 - a layout this cannot mirror
        return None


def own_class(obj: Any) -> type:
    """The class of ``obj``, or, if it is disarmed (see the module), its own class."""
    cls = type(obj)
    if vars(cls).get("__module__") == __name__:
        original = vars(cls).get("_disarmed_of")
        if isinstance(original, type):
            return original
    return cls


def is_one_of(obj: Any, classes: frozenset[tuple[str, str]]) -> bool:
    """Whether the class of ``obj`` (its own, if it is disarmed) or a base is one of
    ``classes``, each named by module and name (nothing is imported to compare)."""
    return any((vars(k).get("__module__"), k.__name__) in classes
               for k in own_class(obj).__mro__)


def _same_layout(a: type, b: type) -> bool:
    return (a.__basicsize__ == b.__basicsize__ and a.__itemsize__ == b.__itemsize__
            and a.__dictoffset__ == b.__dictoffset__
            and a.__weakrefoffset__ == b.__weakrefoffset__)


def _plain_to_subclass(base: type) -> bool:
    """Subclassing ``base`` runs no code of the user's: its metaclass is ``type`` and
    nothing in its MRO but ``object`` defines ``__init_subclass__``."""
    if type(base) is not type:
        return False
    return all("__init_subclass__" not in vars(k) for k in base.__mro__ if k is not object)
