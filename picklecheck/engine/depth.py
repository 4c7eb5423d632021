"""Depth failures: where the pickler gave up, or the cycle through ``__reduce__``
arguments that made it recurse forever.

No child of a too-deep object fails on its own, so these are located by walking down
in the pickler's order to the depth limit measured for the backend, watching for a
path that leads back to an ancestor through arguments (saved before the ancestor is
memoized, so the pickler never ends).
"""

from __future__ import annotations

import contextvars
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from picklecheck.backends.base import stack_depth
from picklecheck.engine.finding import Finding, Link, dump_error, scrub, steps_of
from picklecheck.engine.walker import ARGS, ATOMS, CLASS, FUNC, Expansion, expand
from picklecheck.isolation.foreign import traceback_of

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["depth_finding", "depth_limit", "headroom", "mark_verdict", "runaway"]

_FATAL = (KeyboardInterrupt, SystemExit)

_DEPTH_LIMITS: dict[tuple[str, int], int] = {}
#: Seconds spent measuring how deep the graph goes below where the pickler gave up (it
#: only picks which of a few siblings to name).
_MEASURE_SECONDS = 1.0
#: An object met at the depth limit with fewer levels under it is a leaf of the graph
#: (a node's payload), not where it nests (see _deeper_sibling).
_SHALLOW = 8


#: How deep the stack was where the check's own dump of the object ran (see headroom).
_VERDICT_DEPTH: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "picklecheck_verdict_depth", default=None)
#: Frames a search's dump or load sits below the search's loop beyond those of the
#: verdict's dump below the check (a few calls, and the lists a scan feeds).
_SEARCH_FRAMES = 12

_limit_lock = threading.Lock()
_extras: list[int] = []  # the headroom of each search under way
_limits: list[int] = []  # [the limit before the first, the limit set now]


def mark_verdict() -> None:
    """Note how deep the stack is here, where the check dumps the object (see
    :func:`headroom`)."""
    _VERDICT_DEPTH.set(stack_depth())


@contextmanager
def headroom() -> Iterator[None]:
    """Run a search with the recursion limit raised by how much deeper its dumps and loads
    run than the check's own dump did, so they have the stack that dump had.

    A search dumps the object's parts from frames further down, and a part that the whole
    dump saved near the limit failed there with a ``RecursionError``: named a culprit it
    is not (a jinja2 template of 180 blocks, which dill saves through a chain of frames
    per function, gave 100 such culprits, in 33 s). The limit is the process's: raising it
    is counted across searches running at once, and put back when the last one ends,
    unless something else changed it meanwhile. From Python 3.12 it bounds Python frames
    only (a pure-Python pickler's: dill's); the C pickler has a C limit of its own."""
    base = _VERDICT_DEPTH.get()
    extra = 0 if base is None else stack_depth() - base + _SEARCH_FRAMES
    if extra <= 0:
        yield
        return
    _raise_by(extra)
    try:
        yield
    finally:
        _lower_by(extra)


def _raise_by(extra: int) -> None:
    with _limit_lock:
        if not _extras:
            _limits[:] = [sys.getrecursionlimit(), 0]
        _extras.append(extra)
        _set_limit(_limits[0] + max(_extras))


def _lower_by(extra: int) -> None:
    with _limit_lock:
        _extras.remove(extra)
        if sys.getrecursionlimit() != _limits[1]:
            return  # changed by someone else while the search ran: theirs now
        _set_limit(_limits[0] + max(_extras, default=0))


def _set_limit(limit: int) -> None:
    try:
        sys.setrecursionlimit(limit)
    except RecursionError:  # lower than this thread is deep: left as it is
        return
    _limits[1] = limit


def depth_limit(backend: Backend, protocol: int) -> int:
    """How many nested lists ``backend`` can dump from here, measured once."""
    key = (backend.name, protocol)
    if key not in _DEPTH_LIMITS:
        chain: list[Any] = [[]]
        for _ in range(200_000):
            chain.append([chain[-1]])
        lo, hi = 1, len(chain) - 1
        if dump_error(backend, chain[hi], protocol) is None:
            lo = hi
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if dump_error(backend, chain[mid], protocol) is None:
                lo = mid
            else:
                hi = mid - 1
        _DEPTH_LIMITS[key] = lo
        del chain
    return _DEPTH_LIMITS[key]


def depth_finding(start: Any, link: Link, level: int, exc: BaseException,
                   backend: Backend, protocol: int) -> Finding:
    """Walk down from ``start`` in the pickler's order to where it gives up."""
    limit = depth_limit(backend, protocol)
    exit_marker = object()
    visited: set[int] = set()
    on_path: dict[int, int] = {}
    path: list[tuple[Any, Link, str]] = []
    stack: list[Any] = [(start, link, level, "")]
    while stack:
        item = stack.pop()
        if item is exit_marker:
            obj, _, _ = path.pop()
            on_path.pop(id(obj), None)
            continue
        obj, here, depth, role = item
        key = id(obj)
        if key in on_path:
            position = on_path[key]
            leaving = path[position + 1][2] if position + 1 < len(path) else role
            if leaving in (ARGS, CLASS, FUNC):
                ancestor, ancestor_link, _ = path[position]
                return Finding(ancestor, steps_of(ancestor_link), exc, origin="cycle",
                               detail=_cycle_detail(path[position:], obj))
            continue
        if key in visited:
            continue
        visited.add(key)
        if depth >= limit:
            until = time.monotonic() + _MEASURE_SECONDS
            below = _depth_below(obj, backend, protocol, until)
            if below < _SHALLOW and path:
                # A leaf the pickler met first at the limit (a node's small payload): the
                # graph goes on deeper through a sibling, which is what to flatten.
                obj, here, below = _deeper_sibling(path[-1], obj, here, below, backend,
                                                   protocol, until)
            return Finding(obj, steps_of(here), exc, origin="depth",
                           extra={"limit": limit, "level": depth, "nested": depth + below})
        try:
            exp = expand(obj, backend, protocol)
        except _FATAL:
            raise
        except RecursionError as recursion:  # not deep: its own code recursed (see runaway)
            return runaway(obj, here, recursion, "dumps")
        except BaseException:  # noqa: BLE001
            continue
        stack.append(exit_marker)
        on_path[key] = len(path)
        path.append((obj, here, role))
        for i in reversed(range(len(exp))):
            child = exp.child(i)
            if type(child.obj) not in ATOMS:
                stack.append((child.obj, (here, child.steps), depth + exp.levels, child.role))
    return Finding(start, steps_of(link), exc, origin="depth",
                   extra={"limit": limit, "level": level, "nested": None})


def runaway(obj: Any, link: Link, exc: RecursionError, stage: str, owner: Any = None) -> Finding:
    """``obj``'s own reduction recursed without end (an attribute lookup that calls
    itself): a culprit of its own, named after the function that kept calling itself."""
    detail = _recurring_function(exc)
    scrub(exc)
    return Finding(obj, steps_of(link), exc, stage, origin="recursion", owner=owner, link=link,
                   detail=f"in {detail}" if detail else "")


def _recurring_function(exc: BaseException) -> str:
    """The function that appears most often in ``exc``'s traceback."""
    counts: dict[str, int] = {}
    tb = traceback_of(exc)
    while tb is not None:
        code = tb.tb_frame.f_code
        name = getattr(code, "co_qualname", None)  # Python 3.11+
        if name is None:
            owner = tb.tb_frame.f_locals.get("self", None)
            name = f"{type(owner).__qualname__}.{code.co_name}" if owner is not None else code.co_name
        counts[name] = counts.get(name, 0) + 1
        tb = tb.tb_next
    return max(counts, key=counts.__getitem__) if counts else ""


def _deeper_sibling(parent: tuple[Any, Link, str], obj: Any, here: Link, below: int,
                    backend: Backend, protocol: int, until: float) -> tuple[Any, Link, int]:
    """The child of ``parent`` under which the graph goes deepest (``obj`` unless one goes
    deeper), with its link and depth."""
    owner, owner_link, _ = parent
    exp = _expanded(owner, backend, protocol)
    if exp is None:
        return obj, here, below
    for i in range(len(exp)):
        child = exp.child(i)
        if type(child.obj) in ATOMS or child.obj is obj:
            continue
        depth = _depth_below(child.obj, backend, protocol, until)
        if depth > below:
            obj, here, below = child.obj, (owner_link, child.steps), depth
    return obj, here, below


def _depth_below(obj: Any, backend: Backend, protocol: int, until: float) -> int:
    """Levels under ``obj`` (at least): along its first non-atomic children, or along a
    walk that goes down its last children first (a linked list's ``next`` after its
    payload), whichever goes deeper, each as far as it gets by ``until`` (a monotonic
    time: a graph that makes new objects as it is reduced, a ``MagicMock``'s, never
    ends)."""
    return max(_first_children_depth(obj, backend, protocol, until),
               _walked_depth(obj, backend, protocol, until))


def _walked_depth(obj: Any, backend: Backend, protocol: int, until: float,
                  budget: int = 50_000) -> int:
    """The deepest level a depth-first walk under ``obj`` reaches within ``budget``
    objects (each object once; its last child first)."""
    deepest, walked = 0, 0
    seen = {id(obj): obj}  # held: an object made by a reduction keeps its id to itself
    stack = [(obj, 0)]
    while stack and walked < budget and time.monotonic() < until:
        node, levels = stack.pop()
        walked += 1
        deepest = max(deepest, levels)
        exp = _expanded(node, backend, protocol)
        if exp is None:
            continue
        for child in exp.objs:
            if type(child) not in ATOMS and id(child) not in seen:
                seen[id(child)] = child
                stack.append((child, levels + exp.levels))
    return deepest


def _first_children_depth(obj: Any, backend: Backend, protocol: int, until: float,
                          cap: int = 1_000_000) -> int:
    """Levels under ``obj`` along its first non-atomic children (bounded)."""
    levels = 0
    seen: dict[int, Any] = {}  # held, as in _walked_depth
    while levels < cap and id(obj) not in seen and time.monotonic() < until:
        seen[id(obj)] = obj
        exp = _expanded(obj, backend, protocol)
        if exp is None:
            break
        nxt = next((c for c in exp.objs if type(c) not in ATOMS), None)
        if nxt is None:
            break
        levels += exp.levels
        obj = nxt
    return levels


def _expanded(obj: Any, backend: Backend, protocol: int) -> Expansion | None:
    """What ``backend`` saves for ``obj``, or None when its reduction raises."""
    try:
        return expand(obj, backend, protocol)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - a reduction that raises leads nowhere
        return None


def _cycle_detail(path: list[tuple[Any, Link, str]], back_to: Any) -> str:
    from picklecheck.engine.saferepr import type_name

    names = [type_name(obj) for obj, _, _ in path] + [type_name(back_to)]
    return " -> ".join(names)


