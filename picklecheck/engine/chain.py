"""The objects along a culprit's path, as its backend's pickler reached them.

The search keeps a culprit's path as steps, not as the objects on the way. Reports need
those objects: to speak a library's vocabulary (:mod:`~picklecheck.engine.vocabulary`),
to find the outermost library object the user's data holds and the nearest class the
user wrote (:mod:`~picklecheck.engine.boundary`). :func:`resolve` walks the steps again
from the root: exact dicts, lists and tuples by item (and the standard library's deque,
``OrderedDict``, ``defaultdict`` and ``Counter``: a walk through the reduction's hundred
thousand items would name each of them), everything else through the
walker's own children (the same reductions the search used), so each hop is the object
the pickler saved, never a look-alike. A step that several children share (two members
of a set are both ``[<set element>]``) is tried child by child until the path ends at
the culprit itself; a walk that exceeds its budget gives up and returns None.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picklecheck.engine.walker import MISSING, Expansion, expand, safe_attr
from picklecheck.isolation import deadline
from picklecheck.model import ATTR, INDEX, ITEM, PathStep

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["MAX_STEPS", "Hop", "resolve"]

#: Paths longer than this (a graph nested to the recursion limit) are not walked again.
MAX_STEPS = 200
#: Reductions one walk may ask for before it gives up.
BUDGET = 400
#: Children one walk may try before it gives up: where many children share a step's
#: words (parso's state tables: keys of one type, ``<key of type ReservedString>``),
#: trying them deep first is exponential, and no reduction is asked for again.
TRIES = 20_000
_FATAL = (KeyboardInterrupt, SystemExit)
_DIRECT = frozenset({dict, list, tuple, collections.deque, collections.OrderedDict,
                     collections.defaultdict, collections.Counter})


@dataclass(frozen=True)
class Hop:
    """One object on a path: the steps from the previous hop's object, and the object.

    ``vocabulary`` marks steps written in a library's own words (``df['col'].iloc[3]``),
    which make the object before them a container of the user's data.
    """

    steps: tuple[PathStep, ...]
    obj: Any
    vocabulary: bool = False


class _Expanded:
    """An object's expansion, kept for the walks of one report: its children named all
    at once (``hops``) only when a step must be looked for among them, and its items by
    id (``index``) once a waypoint is looked for (see :func:`_candidates`)."""

    __slots__ = ("node", "exp", "hops", "index")

    def __init__(self, node: Any, exp: Expansion | None) -> None:
        self.node, self.exp = node, exp
        self.hops: list[Hop] | None = None
        self.index: dict[int, int] | None = None


Children = dict[int, _Expanded]
#: Children beyond which a waypoint is looked up by id before they are all named.
_MANY = 64


def resolve(root: Any, steps: Sequence[PathStep], target: Any, backend: Backend,
            protocol: int, cache: Children | None = None,
            waypoints: Collection[int] = ()) -> list[Hop] | None:
    """Every object from ``root`` to ``target`` along ``steps``, or None if that path
    cannot be followed to ``target`` within the budget.

    ``cache`` keeps each expanded object's children (and the object, so its id stays
    its own) across the walks of one report: culprits share most of their paths.
    ``waypoints``: ids of objects the search met on the way (see
    :attr:`~picklecheck.engine.finding.Finding.link`), tried first among many children
    that share a step (a set's hundred thousand elements are each ``<set element>``).
    """
    if len(steps) > MAX_STEPS:
        return None
    if not steps:
        return [Hop((), root)] if root is target else None
    budget = [BUDGET]
    children: Children = {} if cache is None else cache
    # An explicit stack of (hops so far, position in steps, untried candidates).
    stack: list[tuple[list[Hop], int, Iterator[Hop]]] = [
        ([Hop((), root)], 0, _candidates(root, steps, 0, backend, protocol, budget, children,
                                         waypoints))]
    tries = TRIES
    while stack:
        tries -= 1
        if tries <= 0 or (tries % 256 == 0 and deadline.expired()):
            return None  # the search's own steps stand (see boundary.place_of)
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
                                                children, waypoints)))
    return None


def _candidates(node: Any, steps: Sequence[PathStep], pos: int, backend: Backend,
                protocol: int, budget: list[int], cache: Children,
                waypoints: Collection[int]) -> Iterator[Hop]:
    """The children of ``node`` whose steps are the next ones of the path, cheapest
    first: an item of an exact container, an attribute read without running code (the
    walker names a child ``.name`` only when that is the object), a waypoint among many
    children, then the reduction's children (only when those lead nowhere)."""
    step = steps[pos]
    direct = _direct(node, step)
    if direct is not None:
        yield direct
        return
    if step.kind == ATTR:
        value = safe_attr(node, step.value)
        if value is not MISSING:
            yield Hop((step,), value)
    known = _expanded(node, backend, protocol, budget, cache)
    exp = known.exp
    if waypoints and exp is not None and len(exp) > _MANY:
        if known.index is None:
            known.index = dict(zip(map(id, exp.objs), itertools.count()))
        for key in waypoints:
            i = known.index.get(key)
            if i is not None:
                hop = _hop(exp, i)
                if hop is not None and _same(hop.steps, steps[pos:pos + len(hop.steps)]):
                    yield hop
    for hop in _children(known):
        size = len(hop.steps)
        if size and _same(hop.steps, steps[pos:pos + size]):
            yield hop


def _expanded(node: Any, backend: Backend, protocol: int, budget: list[int],
              cache: Children) -> _Expanded:
    known = cache.get(id(node))
    if known is not None and known.node is node:
        return known
    budget[0] -= 1
    try:
        exp: Expansion | None = expand(node, backend, protocol)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - a reduction that raises leads nowhere
        exp = None
    known = cache[id(node)] = _Expanded(node, exp)
    return known


def _hop(exp: Expansion, i: int) -> Hop | None:
    try:
        child = exp.child(i)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - naming it ran a hostile __getitem__
        return None
    return Hop(child.steps, child.obj)


def _children(known: _Expanded) -> list[Hop]:
    if known.hops is None:
        exp = known.exp
        try:
            known.hops = [] if exp is None else [
                Hop(child.steps, child.obj) for child in map(exp.child, range(len(exp)))]
        except _FATAL:
            raise
        except BaseException:  # noqa: BLE001 - a reduction that raises leads nowhere
            known.hops = []
    return known.hops


def _direct(node: Any, step: PathStep) -> Hop | None:
    """An exact dict, list or tuple item, looked up without running user code."""
    kind = type(node)
    if kind not in _DIRECT or step.kind not in (ITEM, INDEX) or not step.evaluable:
        return None
    try:
        if issubclass(kind, dict):
            # dict's own lookup: a defaultdict's __missing__ would add the key
            value = dict.get(node, step.value, MISSING) if step.kind == ITEM else MISSING
            return None if value is MISSING else Hop((step,), value)
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
