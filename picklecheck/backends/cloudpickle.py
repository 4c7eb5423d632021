"""cloudpickle: the C pickler with a ``reducer_override`` that saves functions and
classes by value, as a :class:`~picklecheck.backends.base.Backend`."""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any, Protocol

from picklecheck.backends.base import Backend, Sink, reduce_by_pickler
from picklecheck.backends.stdlib import PICKLE

__all__ = ["CloudpickleBackend", "Watcher", "is_cloudpickle_depth_error", "pickled_by_value",
           "watching"]


class CloudpickleBackend(Backend):
    """cloudpickle itself; frameworks that ship or wrap it (Ray, Spark, Dask) subclass
    this with their own copy of cloudpickle (:meth:`cloudpickle`)."""

    name = "cloudpickle"
    loads_as_pickle = True  # Dask, Ray and Spark inherit it: their bytes are cloudpickle's

    def __init__(self) -> None:
        self._reducing_pickler: Any = None

    def cloudpickle(self) -> Any:
        """The cloudpickle module this backend pickles with."""
        return self.module

    def default_protocol(self) -> int:
        return int(self.cloudpickle().DEFAULT_PROTOCOL)

    def pickler(self, file: Any, protocol: int) -> Any:
        return self.cloudpickle().Pickler(file, protocol=protocol)

    def scan_base(self, file: Any, protocol: int) -> Any:
        """cloudpickle's pickler, telling its ``watcher``, once it has one, of each class
        it saves by value whole (see :func:`watching`)."""
        return watching(self.cloudpickle().Pickler)(file, protocol=protocol)

    def unpickler(self, file: Any) -> Any:
        return PICKLE.unpickler(file)

    def contained_unpickler(self, file: Any) -> Any:
        return PICKLE.contained_unpickler(file)

    def reduce(self, obj: Any, protocol: int) -> Any:
        pickler = self._reducing_pickler
        if (pickler is None or pickler.proto != protocol
                or not isinstance(pickler, self.cloudpickle().Pickler)):
            pickler = self._reducing_pickler = self.pickler(Sink(), protocol)
        return reduce_by_pickler(pickler, obj, protocol)

    def is_depth_error(self, exc: BaseException) -> bool:
        return is_cloudpickle_depth_error(exc)


def is_cloudpickle_depth_error(exc: BaseException) -> bool:
    """cloudpickle turns a RecursionError into a PicklingError of its own. (type(), not
    isinstance: a culprit's exception may have a hostile ``__class__`` or ``__str__``.)"""
    if issubclass(type(exc), RecursionError):
        return True
    if not issubclass(type(exc), pickle.PicklingError):
        return False
    try:
        return "excessively deep recursion" in str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__: not cloudpickle's own error
        return False


class Watcher(Protocol):
    """What a watching pickler tells (a scan's :class:`~picklecheck.engine.scan.Good`),
    and asks: whether a function without a module is saved by reference, per function
    (id -> (function, answer)), once per search (see :func:`watching`)."""

    by_reference: dict[int, tuple[Any, bool]]

    def remember(self, objs: tuple[Any, ...], seconds: float) -> None: ...


_WATCHING: dict[type, type] = {}


def watching(pickler_class: type) -> type:
    """A subclass of a cloudpickle ``Pickler`` class whose instances tell their
    ``watcher`` (a scan's :class:`~picklecheck.engine.scan.Good`) of each class saved by
    value whole, and how long that took: a runtime class (a boto3 client's) is otherwise
    pickled again by every level of a search that reaches it before its culprit. Not
    functions: a closure is small and there may be a million of them (telling of each
    cost 4 us, a sixth of the search of 10,000 closures). A class's reduction has its
    state go with a :class:`_Saved` after it, which the pickler reaches once the state
    is saved (a scan's bytes are never loaded).

    It also asks the watcher whether a function with no ``__module__`` (a jinja2
    template's, compiled at run time) is saved by reference: cloudpickle finds out by
    looking the function up in every module loaded (3.5 ms each, in a process with 2,800
    modules), and every level of a search pickles the same functions again."""
    made = _WATCHING.get(pickler_class)
    if made is None:
        base = pickler_class.reducer_override  # type: ignore[attr-defined]
        module = sys.modules[pickler_class.__module__]
        by_value = getattr(pickler_class, "_dynamic_function_reduce", None)

        def reducer_override(self: Any, obj: Any) -> Any:
            watcher = self.watcher
            if (type(obj) is types.FunctionType and watcher is not None
                    and obj.__module__ is None and by_value is not None):
                known = watcher.by_reference.get(id(obj))
                if known is None or known[0] is not obj:
                    by_reference = getattr(module, "_should_pickle_by_reference", None)
                    if by_reference is None:
                        return base(self, obj)
                    known = watcher.by_reference[id(obj)] = (obj, _by_reference(obj,
                                                                                 by_reference))
                return NotImplemented if known[1] else by_value(self, obj)
            rv = base(self, obj)
            if (watcher is None or type(rv) is not tuple or len(rv) < 3 or rv[2] is None
                    or not isinstance(obj, type)):
                return rv
            return (*rv[:2], (rv[2], _Saved(watcher, obj)), *rv[3:])

        made = _WATCHING[pickler_class] = type(
            "Watching" + pickler_class.__name__, (pickler_class,),
            {"watcher": None, "reducer_override": reducer_override,
             "__module__": __name__})
    return made


_MISSING = object()


def _by_reference(function: Any, by_reference: Any) -> bool:
    """cloudpickle's answer (``by_reference``) for a function with no ``__module__``: it
    looks the function up by name in every module loaded, and saves it by value when
    none holds it. That lookup raises, and formats a message naming the module, for
    each module that does not (12 ms in a process of 2,800 modules): here a plain module
    is looked in as ``getattr`` would (its namespace, when it has no ``__getattr__`` of
    its own), and only a module that holds the function asks cloudpickle."""
    name = getattr(function, "__qualname__", None)
    if type(name) is not str or "." in name:
        return bool(by_reference(function))
    for module_name, module in sys.modules.copy().items():
        if (module_name in ("__main__", "__mp_main__") or module is None
                or not isinstance(module, types.ModuleType)):
            continue
        try:
            namespace = module.__dict__
            if type(module) is types.ModuleType and "__getattr__" not in namespace:
                found = namespace.get(name, _MISSING)  # what getattr finds, without raising
            else:
                found = getattr(module, name, _MISSING)  # a module's own lookup runs
            if found is function:
                return bool(by_reference(function))
        except Exception:  # noqa: BLE001, S112 - as cloudpickle passes over it
            continue
    return False


class _Saved:
    """Pickled right after the state of a class saved by value: tells the watcher it
    is saved whole."""

    __slots__ = ("obj", "started", "watcher")

    def __init__(self, watcher: Watcher, obj: Any) -> None:
        self.watcher = watcher
        self.obj = obj
        self.started = perf_counter()

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        self.watcher.remember((self.obj,), perf_counter() - self.started)
        return (int, ())


@contextlib.contextmanager
def pickled_by_value(module: types.ModuleType, backends: Iterable[Backend]) -> Iterator[None]:
    """While it lasts, every copy of cloudpickle the ``backends`` pickle with (cloudpickle's
    own, joblib's, Ray's, Spark's) saves ``module``'s functions and classes by value, as
    it saves those of ``__main__``: the module stands for a script that ``python`` runs
    (``picklecheck job.py:work``), whose functions those frameworks send by value, with
    the globals they use. Copies that had it registered already keep it."""
    registries: list[Any] = []
    for backend in backends:
        registry = _registry_of(backend)
        if registry is not None and all(registry is not r for r in registries):
            registries.append(registry)
    added: list[Any] = []
    try:
        for registry in registries:
            if module.__name__ not in registry.list_registry_pickle_by_value():
                registry.register_pickle_by_value(module)
                added.append(registry)
        yield
    finally:
        for registry in added:
            registry.unregister_pickle_by_value(module)


def _registry_of(backend: Backend) -> Any:
    """The cloudpickle module a backend's pickler comes from, or None (not a copy of
    cloudpickle, or not installed)."""
    if not backend.available:
        return None
    try:
        pickler = backend.pickler(Sink(), pickle.DEFAULT_PROTOCOL)
    except Exception:  # noqa: BLE001 - a framework that cannot make one: nothing to register
        return None
    for klass in type(pickler).__mro__:
        module = sys.modules.get(klass.__module__)
        if module is not None and all(hasattr(module, name) for name in (
                "register_pickle_by_value", "unregister_pickle_by_value",
                "list_registry_pickle_by_value")):
            return module
    return None
