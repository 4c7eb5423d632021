"""The objects along a culprit's path, as its backend's pickler reached them.

The search keeps a culprit's path as steps, not as the objects on the way. Reports need
those objects: to speak a library's vocabulary (:mod:`~picklecheck.engine.vocabulary`),
to find the outermost library object the user's data holds and the nearest class the
user wrote (:mod:`~picklecheck.engine.boundary`). :func:`resolve` walks the steps again
from the root: exact dicts, lists and tuples by item, everything else through the
walker's own children (the same reductions the search used), so each hop is the object
the pickler saved, never a look-alike. A step that several children share (two members
of a set are both ``[<set element>]``) is tried child by child until the path ends at
the culprit itself; a walk that exceeds its budget gives up and returns None.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picklecheck.engine.walker import MISSING, expand, safe_attr
from picklecheck.model import ATTR, INDEX, ITEM, PathStep

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["MAX_STEPS", "Hop", "resolve"]

#: Paths longer than this (a graph nested to the recursion limit) are not walked again.
MAX_STEPS = 200
#: Reductions one walk may ask for before it gives up.
BUDGET = 400
_FATAL = (KeyboardInterrupt, SystemExit)
_DIRECT = (dict, list, tuple)


@dataclass(frozen=True)
class Hop:
    """One object on a path: the steps from the previous hop's object, and the object.

    ``vocabulary`` marks steps written in a library's own words (``df['col'].iloc[3]``),
    which make the object before them a container of the user's data.
    """

    steps: tuple[PathStep, ...]
    obj: Any
    vocabulary: bool = False


Children = dict[int, tuple[Any, list[Hop]]]


def resolve(root: Any, steps: Sequence[PathStep], target: Any, backend: Backend,
            protocol: int, cache: Children | None = None) -> list[Hop] | None:
    """Every object from ``root`` to ``target`` along ``steps``, or None if that path
    cannot be followed to ``target`` within the budget.

    ``cache`` keeps each expanded object's children (and the object, so its id stays
    its own) across the walks of one report: culprits share most of their paths.
    """
    if len(steps) > MAX_STEPS:
        return None
    if not steps:
        return [Hop((), root)] if root is target else None
    budget = [BUDGET]
    children: Children = {} if cache is None else cache
    # An explicit stack of (hops so far, position in steps, untried candidates).
    stack: list[tuple[list[Hop], int, Iterator[Hop]]] = [
        ([Hop((), root)], 0, _candidates(root, steps, 0, backend, protocol, budget, children))]
    while stack:
        hops, pos, todo = stack[-1]
        hop = next(todo, None)
        if hop is None:
            stack.pop()
            continue
        here = pos + len(hop.steps)
        path = [*hops, hop]
        if here == len(steps):
            if hop.obj is target:
                return path
            continue
        if budget[0] <= 0:
            return None
        stack.append((path, here, _candidates(hop.obj, steps, here, backend, protocol, budget,
                                                children)))
    return None


def _candidates(node: Any, steps: Sequence[PathStep], pos: int, backend: Backend,
                protocol: int, budget: list[int], cache: Children) -> Iterator[Hop]:
    """The children of ``node`` whose steps are the next ones of the path, cheapest
    first: an item of an exact container, an attribute read without running code (the
    walker names a child ``.name`` only when that is the object), then the reduction's
    children (only when those lead nowhere)."""
    step = steps[pos]
    direct = _direct(node, step)
    if direct is not None:
        yield direct
        return
    if step.kind == ATTR:
        value = safe_attr(node, step.value)
        if value is not MISSING:
            yield Hop((step,), value)
    for hop in _children(node, backend, protocol, budget, cache):
        size = len(hop.steps)
        if size and _same(hop.steps, steps[pos:pos + size]):
            yield hop


def _children(node: Any, backend: Backend, protocol: int, budget: list[int],
              cache: Children) -> list[Hop]:
    known = cache.get(id(node))
    if known is not None and known[0] is node:
        return known[1]
    budget[0] -= 1
    try:
        exp = expand(node, backend, protocol)
        hops = [Hop(child.steps, child.obj) for child in map(exp.child, range(len(exp)))]
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - a reduction that raises leads nowhere
        hops = []
    cache[id(node)] = (node, hops)
    return hops


def _direct(node: Any, step: PathStep) -> Hop | None:
    """An exact dict, list or tuple item, looked up without running user code."""
    kind = type(node)
    if kind not in _DIRECT or step.kind not in (ITEM, INDEX) or not step.evaluable:
        return None
    try:
        if kind is dict:
            return Hop((step,), node[step.value]) if step.kind == ITEM else None
        if step.kind == INDEX and isinstance(step.value, int):
            return Hop((step,), node[step.value])
    except (KeyError, IndexError, TypeError):
        return None
    return None


def _same(found: tuple[PathStep, ...], wanted: Sequence[PathStep]) -> bool:
    if len(found) != len(wanted):
        return False
    for a, b in zip(found, wanted, strict=True):
        if a.kind != b.kind:
            return False
        if a.value is not b.value and a.render() != b.render():
            return False
    return True
