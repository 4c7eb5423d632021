"""multiprocessing and concurrent.futures: ``multiprocessing.reduction.ForkingPickler``.

``Pool.map``, ``Pool.apply_async``, ``ProcessPoolExecutor.submit`` and
``Queue.put`` send each task through ``ForkingPickler`` (in Pool's task-handler
thread, the executor's feeder thread, or the caller). It is the C pickler with a
dispatch table of its own: copyreg's, plus the reducers multiprocessing registers
(bound methods, method descriptors, ``partial``, sockets, ``Connection``; views such
as ``dict_keys`` and ``array`` only once ``multiprocessing.managers`` is imported).
So it is walked the way plain pickle is, with that table, read from the live class
each time: what multiprocessing registered in this process is what counts.

The start method decides what a worker's load means (see
:mod:`picklecheck.isolation.workers`): ``spawn`` and ``forkserver`` workers are new
interpreters that import the main script as ``__mp_main__`` (and nothing at all
from ``python -c``, stdin or a notebook); a ``fork`` worker is a copy of this
process. ``"multiprocessing"`` means ``spawn``: the default on macOS and Windows,
what Python 3.14's default (forkserver) shares with it, and the strict answer that
holds everywhere. ``"multiprocessing:fork"`` and friends name a start method. (The
start method "set in this process" cannot be trusted: any library that asks for it
with ``get_start_method()`` fixes it to the platform default.)

Sockets and connections are handed to the worker by multiprocessing's resource
sharer, which keeps a duplicate of the descriptor until a worker connects back to
this process to ask for it. That hand-over is the framework's transport, not the
value's: a check gives the duplicates back right after each dump, and its loads
(sandboxed ones may not connect anywhere) rebuild such sockets and connections as
inert placeholders. So do they a manager's proxy, which connects to the manager as it
loads: in a worker (which has this program's authkey) that is what proxies are for
(with pickle, a cache or another program, it is a culprit: see
``picklecheck.engine.kinds``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from picklecheck.backends.base import Backend, Sink, reduce_by_pickler
from picklecheck.backends.stdlib import PICKLE

__all__ = ["STARTING", "START_METHODS", "HandingOverBackend", "MultiprocessingBackend",
           "starting_worker"]

START_METHODS = ("spawn", "forkserver", "fork")
#: What a backend's name ends with when it pickles a ``Process`` as it starts: the
#: arguments of ``Process(target, args).start()`` and a ``Pool``'s ``initargs``, where
#: queues, locks, events, shared values and connections go to the new worker.
STARTING = ":start"


class HandingOverBackend(Backend):
    """A framework whose pickler hands sockets and connections over through
    multiprocessing's resource sharer (multiprocessing's, loky's): every dump gives the
    duplicated descriptors back, and loads (``pickle.loads``, as the framework's) rebuild
    them as placeholders (see the module docstring)."""

    loads_as_pickle = True

    def unpickler(self, file: Any) -> Any:
        return handed_over_as_placeholders(PICKLE.unpickler(file))

    def contained_unpickler(self, file: Any) -> Any:
        return handed_over_as_placeholders(PICKLE.contained_unpickler(file))

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        with given_back():
            self.pickler(file, protocol).dump(obj)

    def run(self, pickler: Any, obj: Any) -> None:
        with given_back():
            pickler.dump(obj)

    def reduce(self, obj: Any, protocol: int) -> Any:
        with given_back():
            return reduce_by_pickler(self.reducing_pickler(protocol), obj, protocol)

    def reducing_pickler(self, protocol: int) -> Any:
        """The pickler whose reductions :meth:`reduce` reads (it writes nowhere)."""
        return self.pickler(Sink(), protocol)


class MultiprocessingBackend(HandingOverBackend):
    name = "multiprocessing"
    install_name = "multiprocessing.reduction"
    install_hint = "part of the standard library"
    framework = "multiprocessing"
    hints = {
        **dict.fromkeys(("socket", "database", "file", "thread", "executor",
                         "c_type", "custom_reduce", "other"),
                        "with multiprocessing, open it once per worker in a Pool initializer "
                        "(Pool(initializer=setup, initargs=...) storing it in a module-level "
                        "global) and send only plain data"),
        # One per worker would exclude nothing across workers, or carry nothing between
        # them: what workers share must be multiprocessing's.
        "lock": ("a threading lock excludes only this process's threads: for one the workers "
                 "share, make a multiprocessing.Lock() and hand it over as they start "
                 "(Pool(initializer=setup, initargs=(lock,)), stored in a module-level "
                 "global), or a Manager().Lock(), which can go with each task"),
        "queue": ("an in-process queue reaches only this process's threads: use a "
                  "multiprocessing.Queue() handed over as the workers start (Pool "
                  "initializer), or a Manager().Queue(), which can go with each task"),
        "lambda": ("ForkingPickler saves functions by name: use a module-level def, or "
                   "joblib with its default (loky) backend, which sends lambdas and "
                   "closures by value"),
        "local": ("ForkingPickler saves functions by name: move it to module level, or use "
                  "joblib with its default (loky) backend, which sends closures by value"),
        "main_reference": ("a spawned worker imports your main script as __mp_main__; from "
                           "python -c, stdin or a notebook there is none, so Pool.map hangs "
                           "and ProcessPoolExecutor breaks: move it into a module (and keep "
                           "the script's work under if __name__ == '__main__':), or use "
                           "joblib, which sends it by value"),
        "unimportable": ("a spawned worker imports with this process's sys.path: make that "
                         "module importable there, or use joblib with "
                         "cloudpickle.register_pickle_by_value(module)"),
    }

    def __init__(self, start_method: str | None = None, starting: bool = False) -> None:
        if start_method is not None and start_method not in START_METHODS:
            msg = (f"unknown start method {start_method!r} for multiprocessing: "
                   f"choose among {', '.join(START_METHODS)}")
            raise ValueError(msg)
        self.start_method = start_method
        #: Whether it pickles a ``Process`` as it starts (see :func:`starting_worker`).
        self.starting = starting
        if start_method is not None:
            self.name = f"multiprocessing:{start_method}"
        if starting:
            self.name = f"{self.name}{STARTING}"

    def dump(self, obj: Any, file: Any, protocol: int) -> None:
        with starting_worker(self.starting):
            super().dump(obj, file, protocol)

    def run(self, pickler: Any, obj: Any) -> None:
        with starting_worker(self.starting):
            super().run(pickler, obj)

    def reduce(self, obj: Any, protocol: int) -> Any:
        with starting_worker(self.starting):
            return super().reduce(obj, protocol)

    @property
    def worker(self) -> str:  # type: ignore[override]
        """The start method whose worker loads the bytes."""
        return self.start_method or "spawn"

    @property
    def available(self) -> bool:
        if self.start_method is None:
            return True
        import multiprocessing

        return self.start_method in multiprocessing.get_all_start_methods()

    def pickler(self, file: Any, protocol: int) -> Any:
        return self.module.ForkingPickler(file, protocol)


#: What rebuilds a socket or connection from the resource sharer (by connecting back),
#: or a manager's proxy (by connecting to the manager).
HANDED_OVER = frozenset({
    ("multiprocessing.managers", "RebuildProxy"),
    ("multiprocessing.reduction", "_rebuild_socket"),
    ("multiprocessing.connection", "rebuild_connection"),
    ("joblib.externals.loky.backend._posix_reduction", "_rebuild_socket"),
    ("joblib.externals.loky.backend._posix_reduction", "rebuild_connection"),
})


def handed_over_as_placeholders(unpickler: Any) -> Any:
    """``unpickler`` with the rebuilders of handed-over descriptors replaced by a
    placeholder (see the module docstring)."""
    strict = unpickler.find_class

    def find_class(module: str, name: str) -> Any:
        if (module, name) in HANDED_OVER:
            return _placeholder
        return strict(module, name)

    unpickler.find_class = find_class
    return unpickler


def _placeholder(*args: Any, **kwargs: Any) -> None:
    """Stands for a socket or connection the worker would get from the resource sharer,
    or a proxy connected to its manager."""
    return None


@contextlib.contextmanager
def given_back() -> Iterator[None]:
    """Close the descriptors multiprocessing's resource sharer duplicated for sockets
    and connections pickled in this block: a check's loads never ask the sharer for
    them (they rebuild placeholders)."""
    sharer_module = sys.modules.get("multiprocessing.resource_sharer")
    sharer = getattr(sharer_module, "_resource_sharer", None)
    before = set(getattr(sharer, "_cache", ()))
    try:
        yield
    finally:
        _give_back(sys.modules.get("multiprocessing.resource_sharer"), before)


def _give_back(sharer_module: Any, before: set[Any]) -> None:
    sharer = getattr(sharer_module, "_resource_sharer", None)
    cache = getattr(sharer, "_cache", None)
    lock = getattr(sharer, "_lock", None)
    if not isinstance(cache, dict) or lock is None:
        return
    with lock:
        fresh = [key for key in cache if key not in before]
        entries = [cache.pop(key) for key in fresh]
    for _send, close in entries:
        with contextlib.suppress(OSError):
            close()


class _StartingWorker:
    """Stands for the ``Popen`` of a worker being started, which spawn and forkserver set
    while they pickle its ``Process``: what multiprocessing asks of it then is to hand each
    descriptor (a queue's pipe, a shared value's memory) to the new worker, by number. A
    check starts no worker: it only needs them to pickle as they would."""

    def __init__(self) -> None:
        handed: type = _HandedFd  # Windows hands over handles, not descriptors
        try:
            from multiprocessing import popen_spawn_posix

            handed = popen_spawn_posix._DupFd
        except ImportError:
            pass
        self.DupFd = handed  # the name multiprocessing.reduction looks up

    def duplicate_for_child(self, fd: int) -> int:
        return fd


class _HandedFd:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def detach(self) -> int:
        return self.fd


@contextlib.contextmanager
def starting_worker(starting: bool = True) -> Iterator[None]:
    """Pickle in this thread as spawn and forkserver pickle a ``Process`` they start: with
    a worker being started, whose start may carry what only starting workers may get
    (``Queue``, ``Lock``, ``Event``, ``Value``...: each asks that a worker be starting).
    multiprocessing keeps that per thread, so a check's helper thread enters it itself."""
    if not starting:
        yield
        return
    from multiprocessing import context

    before = context.get_spawning_popen()
    context.set_spawning_popen(_StartingWorker())  # type: ignore[arg-type]  # stands for one
    try:
        yield
    finally:
        context.set_spawning_popen(before)
