"""What the culprit search finds, before it is explained, and how it keeps paths.

A path is kept as linked cells ``(parent_cell, steps, id, obj)`` while searching, so a
path 100,000 steps deep costs one cell per step, not a copy per step. ``obj`` is the
object itself where scans below it start with it memoized (see
:mod:`picklecheck.engine.scan`), :data:`UNSEEDED` where they must not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picklecheck.backends import Sink
from picklecheck.isolation.foreign import carried, chained, drop_traceback, innermost_function
from picklecheck.model import PathStep

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["FOLDED", "UNSEEDED", "Finding", "Link", "ancestors", "dump_error", "error_of", "exception_name",
           "is_ancestor", "raised_in", "scrub", "scrubbed", "steps_of", "waypoints"]

_FATAL = (KeyboardInterrupt, SystemExit)

#: A path cell's object that scans below it do not memoize in advance.
UNSEEDED = object()
#: How many ancestors a scan memoizes in advance (the nearest ones; see ancestors()).
ANCESTOR_SEEDS = 256
#: The origins of a finding that is its object's own, though what failed is folded into
#: it (``via``): its class, the callable its reduction returns, or its state setter.
FOLDED = ("class", "reconstructor", "setter")

@dataclass
class Finding:
    """A culprit before it is explained: the object, how to reach it, what it raised."""

    obj: Any
    steps: tuple[PathStep, ...]
    exc: BaseException
    stage: str = "dumps"
    origin: str = ""  # "reduce" (its reduction raised), one of FOLDED, "depth", "cycle", "reference"
    via: Any = None  # what was folded into it (a class, reconstructor or setter): see FOLDED
    owner: Any = None  # the object that holds this one (None for the root)
    link: Any = None  # the search's path cell (see Link), where the search knows it
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


Link = Any


def steps_of(link: Link) -> tuple[PathStep, ...]:
    parts: list[tuple[PathStep, ...]] = []
    while link is not None:
        link, steps = link[0], link[1]
        parts.append(steps)
    return tuple(step for steps in reversed(parts) for step in steps)


def is_ancestor(link: Link, key: int) -> bool:
    """Whether the object with id ``key`` is on the path ``link`` (cells carry ids)."""
    while link is not None:
        if len(link) > 2 and link[2] == key:
            return True
        link = link[0]
    return False


def waypoints(link: Link) -> set[int]:
    """The ids of the objects on the path ``link`` (the search's nodes on the way)."""
    out = set()
    while link is not None:
        if len(link) > 2:
            out.add(link[2])
        link = link[0]
    return out


def ancestors(link: Link, cap: int = ANCESTOR_SEEDS) -> list[Any]:
    """The objects on the path ``link`` that scans below it memoize in advance, nearest
    first, at most ``cap`` cells up.

    Nearest first and capped, so that what a node's scan memoizes is always among what
    its parent's scan memoized, plus the parent itself: a child the parent saw fail then
    has a failing child of its own, unless it fails on its own.
    """
    out = []
    while link is not None and cap > 0:
        if len(link) > 3 and link[3] is not UNSEEDED:
            out.append(link[3])
        link = link[0]
        cap -= 1
    return out


def scrub(exc: BaseException) -> BaseException:
    """``exc`` with the tracebacks of it and every exception chained to it dropped: their
    frames would keep alive a pickler's memo (the whole graph) or an unpickler's
    half-built copies for as long as the report lives."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        drop_traceback(current)
        pending.extend(chained(current))
    return exc


#: Where :func:`scrubbed` keeps the function an exception was raised in.
_RAISED_IN = "_picklecheck_raised_in"


def scrubbed(exc: BaseException) -> BaseException:
    """``exc`` scrubbed (see :func:`scrub`), the function it was raised in kept for
    :func:`raised_in`: a finding keeps its error, whose frames would hold the search's
    own (a level's list of a million items) in a cycle the collector must walk."""
    where = innermost_function(exc)
    if where:
        try:
            object.__getattribute__(exc, "__dict__")[_RAISED_IN] = where
        except Exception:  # noqa: BLE001, S110 - no instance dict: "" it is, scrubbed
            pass
    return scrub(exc)


def exception_name(exc: BaseException) -> str:
    """The type name of the exception behind ``exc``: a load in a contained child or a
    new interpreter comes back as an error of ours carrying it (``exception_name``)."""
    return _carried(exc, "exception_name") or type(exc).__name__


def raised_in(exc: BaseException) -> str:
    """The name of the function ``exc`` was raised in: its traceback's innermost frame,
    or as a contained load reported it; "" when neither is known (a scrubbed traceback,
    or one of C code only)."""
    return _carried(exc, "raised_in") or _carried(exc, _RAISED_IN) or innermost_function(exc)


def _carried(exc: BaseException, name: str) -> str:
    value = carried(exc, name)
    return value if isinstance(value, str) else ""


def error_of(action: Callable[[], Any]) -> BaseException | None:
    """What ``action()`` raised (scrubbed: see :func:`scrub`), or None. Fatal signals
    propagate."""
    try:
        action()
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure is a finding
        return scrub(exc)
    return None


def dump_error(backend: Backend, obj: Any, protocol: int) -> BaseException | None:
    """What dumping ``obj`` alone with ``backend`` raises, or None."""
    return error_of(lambda: backend.dump(obj, Sink(), protocol))


