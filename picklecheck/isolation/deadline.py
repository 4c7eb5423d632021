"""A time limit on a whole check: cooperative where the engine loops, enforced where a
single call never returns.

Two limits per check. At the **soft** limit (a little before the end) the engine's
loops stop on their own (:func:`expired` is a one-line test in the culprit search,
the scan and the depth walk), loads get no more time, and the report says what was
not finished (``truncated``, ``skipped``). The **hard** limit is for one call that
never returns: a ``__reduce__`` that sleeps, a ``__repr__`` that waits on a lock.
:func:`run_within` runs the check in a helper thread (with the caller's context
variables) while the caller's thread waits; at the hard limit the caller stops
waiting, asks the helper to stop (an asynchronous exception, delivered when it next
runs Python code), and raises :class:`CheckTimeout` saying where it was stuck.

Why the caller's thread waits rather than works: only the main thread can be
interrupted by a signal, and Streamlit runs scripts (and so checks) in a thread of
its own, so a watchdog cannot reliably interrupt the caller. The helper is a daemon
thread: if the stuck call never returns, it never blocks the interpreter's exit.
"""

from __future__ import annotations

import contextvars
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["DEFAULT_TIMEOUT", "HELPER_NAME", "WAITING", "CheckTimeout", "Deadline", "current",
           "expired", "limit", "run_within"]

#: The name of the threads checks run in (the benchmarks' clock reads theirs).
HELPER_NAME = "picklecheck-check"

DEFAULT_TIMEOUT = 60.0
T = TypeVar("T")


class Deadline:
    """When a check must end: ``soft`` (loops stop) and ``hard`` (the caller returns),
    as ``time.monotonic()`` values; both infinite for ``seconds=None``."""

    __slots__ = ("hard", "seconds", "soft", "start", "stopped")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.start = time.monotonic()
        self.stopped = False
        if seconds is None or math.isinf(seconds):
            self.soft = self.hard = math.inf
        else:
            self.hard = self.start + seconds
            self.soft = self.hard - min(seconds * 0.15, 3.0)

    def expired(self) -> bool:
        """Whether the engine should stop starting new work."""
        return self.stopped or time.monotonic() >= self.soft

    def remaining(self) -> float:
        """Seconds until the soft limit (never negative; ``inf`` without a limit)."""
        return max(0.0, self.soft - time.monotonic())

    def stop(self) -> None:
        self.stopped = True


#: Idents of threads that only wait for a check running in a helper thread: they hold
#: no lock a forked child could need (see picklecheck.isolation.child).
WAITING: set[int] = set()


class _Context:
    # A class attribute, not a module global: dill saves a module that is not installed
    # (a checkout) by value, with its globals, and a ContextVar does not pickle.
    current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
        "picklecheck_deadline", default=None)


def current() -> Deadline | None:
    """The deadline of the check running in this context, if any."""
    return _Context.current.get()


def expired() -> bool:
    """True when the running check's soft limit has passed: stop starting new work."""
    deadline = _Context.current.get()
    return deadline is not None and deadline.expired()


def limit(deadline: Deadline) -> _Current:
    """Make ``deadline`` the current one for the block."""
    return _Current(deadline)


class _Current:
    """:func:`limit`'s block (a class, not a generator: it is entered once or twice per
    check, and a generator-based one costs a few microseconds each time)."""

    __slots__ = ("deadline", "token")

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline

    def __enter__(self) -> Deadline:
        self.token = _Context.current.set(self.deadline)
        return self.deadline

    def __exit__(self, *exc: object) -> None:
        _Context.current.reset(self.token)


class CheckTimeout(Exception):  # noqa: N818 - reads as what happened
    """A check did not return by its hard limit; ``where`` names the call it was in."""

    def __init__(self, seconds: float, where: str) -> None:
        self.seconds = seconds
        self.where = where
        super().__init__(f"the check did not finish within {seconds:g} s" +
                         (f" (stuck in {where})" if where else ""))


class _Abandoned(BaseException):  # noqa: N818
    """Sent into a check's helper thread once its caller has stopped waiting."""


def run_within(fn: Callable[[], T], deadline: Deadline) -> T:
    """``fn()`` (in a helper thread when there is a limit), or :class:`CheckTimeout`."""
    if math.isinf(deadline.hard):
        with limit(deadline):
            return fn()
    helper = _Helper.take()
    me = threading.get_ident()
    WAITING.add(me)
    try:
        finished = helper.run(contextvars.copy_context(), deadline, fn)
    except BaseException:
        deadline.stop()
        helper.abandon(KeyboardInterrupt)
        raise
    finally:
        WAITING.discard(me)
    if not finished:
        where = _where(helper.thread)
        deadline.stop()
        helper.abandon(_Abandoned)
        raise CheckTimeout(deadline.seconds or 0.0, where)
    box = helper.box
    helper.release()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


class _Helper:
    """A daemon thread that runs checks one at a time, kept for the next check when one
    returns (starting a thread per check cost more than a small check itself); one
    whose check ran out of time is abandoned, never reused. An idle helper leaves after
    :data:`IDLE_SECONDS`, and at once when this process forks (so that a process the
    caller forks right after a check, as a ``multiprocessing`` pool does, finds no
    thread of ours: Python 3.12 warns of forks with threads)."""

    #: Seconds an idle helper waits for the next check before it leaves.
    IDLE_SECONDS = 2.0

    _idle: list[_Helper] = []
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.box: dict[str, Any] = {}
        self.done = threading.Lock()
        self.thread = threading.Thread(target=self._serve, name=HELPER_NAME,
                                       daemon=True)
        self.thread.start()

    @classmethod
    def take(cls) -> _Helper:
        with cls._lock:
            if cls._idle:
                return cls._idle.pop()
        return cls()

    def run(self, context: contextvars.Context, deadline: Deadline,
            fn: Callable[[], Any]) -> bool:
        """Run ``fn`` in this helper; whether it finished before the hard limit."""
        self.done.acquire()
        self.jobs.put((context, deadline, fn))
        return self.done.acquire(timeout=max(0.0, deadline.hard - time.monotonic()))

    def release(self) -> None:
        """Back to the idle helpers, holding nothing of the last check's."""
        self.done.release()
        self.box = {}
        with self._lock:
            self._idle.append(self)

    def abandon(self, exc_type: type[BaseException]) -> None:
        self.jobs.put(None)  # leave once the stuck call returns
        _interrupt(self.thread, exc_type)

    @classmethod
    def retire_idle(cls) -> None:
        """Let every idle helper go, and wait until it has (see the class)."""
        with cls._lock:
            leaving, cls._idle[:] = list(cls._idle), []
        for helper in leaving:
            helper.jobs.put(None)
        for helper in leaving:
            helper.thread.join(1.0)

    def _leave_if_idle(self) -> bool:
        with self._lock:
            if self not in self._idle:
                return False  # taken for a check at this very moment: its job is queued
            self._idle.remove(self)
            return True

    def _serve(self) -> None:
        WAITING.add(threading.get_ident())
        try:
            while True:
                try:
                    job = self.jobs.get(timeout=self.IDLE_SECONDS)
                except queue.Empty:
                    if self._leave_if_idle():
                        return
                    continue
                if job is None:
                    return
                context, deadline, fn = job
                WAITING.discard(threading.get_ident())
                try:
                    self.box["value"] = context.run(_limited, deadline, fn)
                except _Abandoned:
                    return
                except BaseException as exc:  # noqa: BLE001 - handed to the caller
                    self.box["error"] = exc
                finally:
                    WAITING.add(threading.get_ident())
                    # Nothing of the check may outlive it here: the job holds the caller's
                    # object, which (waiting for the next job) would stay alive, its
                    # finalizers unrun, until the helper left.
                    job = context = deadline = fn = None
                    self.done.release()
        except _Abandoned:
            return
        finally:
            WAITING.discard(threading.get_ident())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_Helper.retire_idle)


def _limited(deadline: Deadline, fn: Callable[[], T]) -> T:
    with limit(deadline):
        return fn()


def _interrupt(thread: threading.Thread, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` in ``thread`` when it next runs Python code."""
    if thread.ident is None or not thread.is_alive():
        return
    import ctypes

    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident),
                                               ctypes.py_object(exc_type))


def _qualname(frame: Any) -> str:
    code = frame.f_code
    qualname = getattr(code, "co_qualname", None)  # 3.11+
    if qualname:
        return str(qualname)
    owner = frame.f_locals.get("self", frame.f_locals.get("cls"))
    if owner is not None:  # 3.10: Class.method from the instance the method runs on
        cls = owner if isinstance(owner, type) else type(owner)
        return f"{cls.__qualname__}.{code.co_name}"
    return str(code.co_name)


_OURS = tuple(os.path.dirname(os.path.dirname(p)) + os.sep for p in (__file__,))
_LIBRARIES = ("pickle.py", "copyreg.py", "threading.py", "contextvars", "dill", "cloudpickle")


def _where(thread: threading.Thread) -> str:
    """The innermost frame of the helper that is neither ours nor a pickler's."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith(_OURS) and not any(lib in name for lib in _LIBRARIES):
            return f"{_qualname(frame)} ({os.path.basename(name)}:{frame.f_lineno})"
        frame = frame.f_back
    return ""
