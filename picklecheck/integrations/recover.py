"""Find the object a framework was serializing when it failed, from the exception alone.

A pickling failure surfaces far from the object: ``Pool.map`` re-raises what its
task-handler thread hit, Dask and Ray wrap the pickler's error in their own. But the
pickler's frames survive in the traceback of the exception or of one it chains to
(``__cause__``, ``__context__``, the members of an exception group), and a frame that
has finished keeps its locals: the serializer frame's argument *is* the payload.

Two traps decide the rules here. A frame that is still executing (a feeder thread that
went on to its next item) has locals that moved on, so live frames are skipped. And
joblib's loky feeder may not chain the original error at all; then the feeder thread's
own frame, read right after the failure through :func:`sys._current_frames`, is the
one place the payload still is.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GENERIC_SITES", "SITES", "Recovered", "Site", "exception_chain", "is_joblib_failure",
           "live_frames", "recover", "traceback_positions"]


@dataclass(frozen=True)
class Site:
    """A serializer frame of a framework: where its payload sits when pickling fails."""

    framework: str  # "multiprocessing", "joblib", "dask", "ray", "spark", "pickle"
    path: str  # the end of the frame's file name, with "/" separators
    function: str
    local: str  # the local holding the payload
    backend: str  # picklecheck backend name of the framework's serializer
    fallback: str  # the built-in backend closest to it, while ``backend`` is not registered
    how: str = ""  # how the framework serializes there, for people


_MP = "multiprocessing pickles what it sends with pickle"
_LOKY = "joblib's loky backend pickles what it sends with cloudpickle"
_JOBLIB_POOL = ("joblib's multiprocessing backend pickles what it sends with pickle, in its "
                "pool's task thread")
_DASK = "Dask pickles what it sends with pickle, then cloudpickle"
_RAY = "Ray serializes what it sends with its copy of cloudpickle"
_SPARK = "PySpark serializes what it sends with its copy of cloudpickle"
_SPARK_BROADCAST = "PySpark pickles a broadcast value with pickle"

#: Measured on CPython 3.10-3.13 with joblib 1.6, dask/distributed 2026.8, ray 2.60 and
#: pyspark 4.3: the innermost frame of each that holds the object being serialized.
SITES: tuple[Site, ...] = (
    Site("multiprocessing", "multiprocessing/reduction.py", "dumps", "obj", "multiprocessing", "pickle", _MP),
    Site("multiprocessing", "multiprocessing/reduction.py", "dump", "obj", "multiprocessing", "pickle", _MP),
    Site("multiprocessing", "multiprocessing/connection.py", "send", "obj", "multiprocessing", "pickle", _MP),
    Site("joblib", "loky/backend/reduction.py", "dumps", "obj", "joblib", "cloudpickle", _LOKY),
    Site("joblib", "loky/backend/reduction.py", "dump", "obj", "joblib", "cloudpickle", _LOKY),
    Site("joblib", "joblib/pool.py", "send", "obj", "multiprocessing", "pickle", _JOBLIB_POOL),
    Site("dask", "distributed/protocol/pickle.py", "dumps", "x", "dask", "cloudpickle", _DASK),
    Site("dask", "distributed/protocol/serialize.py", "pickle_dumps", "x", "dask", "cloudpickle", _DASK),
    Site("dask", "dask/tokenize.py", "_normalize_pickle", "o", "dask", "cloudpickle", _DASK),
    Site("ray", "ray/_private/serialization.py", "serialize", "value", "ray", "cloudpickle", _RAY),
    Site("ray", "ray/_private/worker.py", "put_object", "value", "ray", "cloudpickle", _RAY),
    Site("ray", "ray/_common/serialization.py", "pickle_dumps", "obj", "ray", "cloudpickle", _RAY),
    # (where Ray refuses a remote function or actor class too big to export)
    Site("ray", "ray/_private/function_manager.py", "export", "function", "ray", "cloudpickle", _RAY),
    Site("ray", "ray/_private/function_manager.py", "export_actor_class", "Class", "ray",
         "cloudpickle", _RAY),
    Site("spark", "pyspark/serializers.py", "dumps", "obj", "spark", "cloudpickle", _SPARK),
    Site("spark", "pyspark/core/broadcast.py", "dump", "value", "pickle", "pickle", _SPARK_BROADCAST),
    Site("spark", "pyspark/broadcast.py", "dump", "value", "pickle", "pickle", _SPARK_BROADCAST),
)

#: Serializers called directly (``cloudpickle.dumps(state)``): tried after every framework
#: site, since frameworks call them too and their own frame says more.
GENERIC_SITES: tuple[Site, ...] = (
    Site("cloudpickle", "cloudpickle/cloudpickle.py", "dumps", "obj", "cloudpickle", "cloudpickle"),
    Site("cloudpickle", "cloudpickle/cloudpickle.py", "dump", "obj", "cloudpickle", "cloudpickle"),
    Site("dill", "dill/_dill.py", "dumps", "obj", "dill", "dill"),
    Site("dill", "dill/_dill.py", "dump", "obj", "dill", "dill"),
)

#: The loky feeder thread's frame, read while it still runs (see the module docstring).
_LOKY_FEEDER = Site("joblib", "loky/backend/queues.py", "_feed", "obj", "joblib", "cloudpickle", _LOKY)

#: Parts of a file name that mark code of a framework, not of the user.
FRAMEWORK_DIRS = ("/multiprocessing/", "/concurrent/futures/", "/joblib/", "/dask/",
                  "/distributed/", "/ray/", "/pyspark/", "/tornado/", "/asyncio/",
                  "/threading.py", "/runpy.py", "/picklecheck/", "/_pytest/", "/pluggy/",
                  "/cloudpickle/", "/dill/", "/pickle.py", "/copyreg.py")

_MISSING = object()


@dataclass
class Recovered:
    """The payload of a failed serialization, with what is known about where it failed."""

    payload: Any
    site: Site
    error: BaseException  # the exception whose traceback held the serializer frame
    frames: list[types.FrameType] = field(default_factory=list)  # every frame seen, outer first
    live: bool = False  # read from a running thread (the loky fallback)


def _norm(filename: str) -> str:
    return filename.replace("\\", "/")


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it chains to, breadth first: causes before contexts, every
    member of an exception group, each exception once."""
    seen: set[int] = set()
    queue = [exc]
    while queue:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        members = getattr(current, "exceptions", None)
        if isinstance(members, (tuple, list)):
            queue.extend(m for m in members if isinstance(m, BaseException))
        for linked in (current.__cause__, current.__context__):
            if isinstance(linked, BaseException):
                queue.append(linked)


def traceback_frames(exc: BaseException) -> list[types.FrameType]:
    """The frames of ``exc``'s traceback, outermost first."""
    frames: list[types.FrameType] = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return frames


def traceback_positions(exc: BaseException) -> dict[int, tuple[int, int]]:
    """For each frame of ``exc``'s traceback (by id), the line and instruction it was at
    when the exception passed: the frame itself may have moved on since."""
    positions: dict[int, tuple[int, int]] = {}
    tb = exc.__traceback__
    while tb is not None:
        positions[id(tb.tb_frame)] = (tb.tb_lineno, tb.tb_lasti)
        tb = tb.tb_next
    return positions


def live_frames() -> set[int]:
    """Ids of every frame some thread is executing now (their locals still change)."""
    ids: set[int] = set()
    for frame in sys._current_frames().values():
        current: types.FrameType | None = frame
        while current is not None:
            ids.add(id(current))
            current = current.f_back
    return ids


def site_of(frame: types.FrameType, sites: tuple[Site, ...] = SITES) -> Site | None:
    """The serializer site ``frame`` runs, if it is one."""
    code = frame.f_code
    filename = _norm(code.co_filename)
    for site in sites:
        if code.co_name == site.function and filename.endswith(site.path):
            return site
    return None


class SentFrom(Exception):  # noqa: N818 - what it carries, not an error of its own
    """Where a task failed to pickle in a pool's own thread (its traceback, whose frames
    hold the task), chained to ``error`` when a framework drops that error's traceback
    before raising it in the caller's thread (joblib's ``multiprocessing`` backend: see
    :mod:`picklecheck.integrations.hook`)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error

    def __str__(self) -> str:
        return "where the task failed to pickle, in the pool's task thread"


def recover(exc: BaseException) -> Recovered | None:
    """The object being serialized when ``exc`` (or an exception it chains to) was raised.

    Looks at each exception's traceback, innermost frame first, for a finished serializer
    frame (:data:`SITES`); falls back to a running loky feeder thread.
    """
    live = live_frames()
    chain = list(exception_chain(exc))
    for sites in (SITES, GENERIC_SITES):
        for current in chain:
            found = _in_traceback(current, sites, live)
            if found is not None:
                site, payload = found
                # (A carrier of frames stands for the error it was kept for.)
                error = current.error if type(current) is SentFrom else current
                return Recovered(payload, site, error, traceback_frames(exc))
    if any(is_joblib_failure(e) for e in chain):
        return _from_loky_feeder(exc)
    return None


def _in_traceback(exc: BaseException, sites: tuple[Site, ...], live: set[int]
                  ) -> tuple[Site, Any] | None:
    for frame in reversed(traceback_frames(exc)):
        site = site_of(frame, sites)
        if site is None or id(frame) in live:
            continue
        payload = frame.f_locals.get(site.local, _MISSING)
        if payload is not _MISSING:
            return site, payload
    return None


def is_joblib_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is joblib's or loky's own report of a task it could not send."""
    return "joblib" in (type(exc).__module__ or "") or "loky" in str(exc)[:200] or (
        "Could not pickle the task to send it to the workers" in str(exc))


def _from_loky_feeder(exc: BaseException) -> Recovered | None:
    """joblib/loky does not always chain the pickler's error: read the feeder thread's
    ``obj`` while it still holds the call item that failed."""
    for frame in sys._current_frames().values():
        current: types.FrameType | None = frame
        while current is not None:
            if site_of(current, (_LOKY_FEEDER,)) is not None:
                payload = current.f_locals.get("obj", _MISSING)
                if type(payload).__name__ == "_CallItem":
                    return Recovered(payload, _LOKY_FEEDER, exc, traceback_frames(exc), live=True)
            current = current.f_back
    return None


def is_framework_frame(frame: types.FrameType) -> bool:
    """True for frames of a framework, the standard library's process tools or picklecheck."""
    filename = _norm(frame.f_code.co_filename)
    return any(part in filename for part in FRAMEWORK_DIRS) or filename.startswith("<frozen")


def user_frame(frames: list[types.FrameType]) -> tuple[types.FrameType | None, types.FrameType | None]:
    """The user's frame that called into the framework, and the framework's entry frame.

    ``frames`` is outermost first (a traceback): the entry is the first framework frame
    after the last stretch of user frames that precedes it.
    """
    caller: types.FrameType | None = None
    for frame in frames:
        if is_framework_frame(frame):
            if caller is not None:
                return caller, frame
            continue
        caller = frame
    return caller, None
