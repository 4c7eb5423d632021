"""Finding every culprit: the deepest objects a backend cannot dump or load.

The search goes top-down from an object already known to fail. At each failing
node the backend's real pickler pickles the node's children (as the walker names
them) in one pass (:mod:`picklecheck.scan`), which says which child was being saved
whenever it raised and resumes after it, so every failing child is found at about
the cost of pickling the node once. A node whose children all pickle fails
on its own, and is the culprit. Everything heavy runs in the backend's own
pickler, at C speed for pickle and cloudpickle.

Depth failures (``RecursionError``, or cloudpickle's "excessively deep recursion")
are handed to :mod:`picklecheck.depth`.
"""

from __future__ import annotations

import functools
import io
import itertools
import types
from collections.abc import Callable, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from picklecheck.engine import usable
from picklecheck.engine.depth import depth_finding, headroom, runaway
from picklecheck.engine.finding import (
    UNSEEDED,
    Finding,
    Link,
    ancestors,
    error_of,
    is_ancestor,
    scrub,
    scrubbed,
    steps_of,
)
from picklecheck.engine.kinds import recurses_when_loaded
from picklecheck.engine.scan import (
    Failure,
    FedList,
    Good,
    Memo,
    Scan,
    UnderWay,
    carry_on,
    completed_memo,
    fails_with,
    frames_of,
    holds_big,
    memo_of_pickler,
    memo_size,
    merged,
    saved_since,
    seed,
    seed_below,
    seeded_pickler,
    under_way,
)
from picklecheck.engine.usercode import UserCode
from picklecheck.engine.walker import ATOMS, CLASS, LEAF, SETTER, Expansion, expand
from picklecheck.isolation import contain, deadline

if TYPE_CHECKING:
    from picklecheck.backends import Backend, plaintree

__all__ = ["locate_dumps", "locate_loads", "locate_references"]

_FATAL = (KeyboardInterrupt, SystemExit)
#: What a load calls (besides classes): never left out of a load scan's bytes.
_CALLED = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
           types.BuiltinMethodType, functools.partial)
_FEW = 8
#: A load failure is located in rounds: up to this many children (or items) are loaded
#: one by one in a single batch; more are cut into this many runs, each run that fails is
#: cut again in the next round (a load gives no position).
_FANOUT = 64
#: Payload bytes loaded in one batch at most (a round of many is loaded in several).
_BATCH_BYTES = 32 << 20
#: Parts of one round whose dump runs out of stack (see PartsTooDeep) before the round
#: stops: each such dump goes as deep as the stack allows, which takes long.
_DEEP_PARTS = 3


class PartsTooDeep(Exception):  # noqa: N818 - control flow, not an error
    """Raised by :func:`_roundtrip_errors`: the dumps of :data:`_DEEP_PARTS` groups ran out
    of stack. The whole object dumped, so its parts cannot be judged one by one (dill
    saves a function by value through a chain of frames per function it reaches: one of
    a jinja2 template's 180 blocks, saved alone, went deeper than the whole template)."""


def _roundtrip_errors(backend: Backend, groups: Sequence[Sequence[Any]],
                      protocol: int, left_out: Memo | None = None,
                      deep_parts: int = _DEEP_PARTS) -> list[BaseException | None]:
    """What dumping then loading each group (as one list) raises, or None; all the
    loads of one call run in one contained child. Objects in ``left_out`` (the node and
    its ancestors) are not in the bytes: a load puts a stand-in there (see
    :mod:`picklecheck.backends.standin`). A group whose dump runs out of stack is taken as
    loading, until ``deep_parts`` have: then :class:`PartsTooDeep`."""
    errors: list[BaseException | None] = []
    payloads: dict[int, bytes] = {}

    def load() -> None:
        data = list(payloads.values())
        outcomes = contain.load_many(backend, data, usable.probe_each_for(data))
        for i, outcome in zip(payloads, outcomes, strict=True):
            load_exc = usable.load_error(outcome)  # what it raised, or why it is unusable
            errors[i] = scrub(load_exc) if load_exc is not None else None
        payloads.clear()

    size = deep = 0
    for i, objs in enumerate(groups):
        buffer = io.BytesIO()
        pickler = backend.pickler_leaving_out(buffer, protocol, left_out) if left_out else None
        if pickler is not None:
            errors.append(error_of(lambda: backend.run(pickler, FedList(iter(objs)))))  # noqa: B023
        else:
            errors.append(error_of(lambda: backend.dump(FedList(iter(objs)), buffer, protocol)))  # noqa: B023
        if errors[-1] is not None and backend.is_depth_error(errors[-1]):
            # The whole dumped: this part ran out of stack only on its own. It is left
            # unjudged (taken as loading); when parts keep doing so, the node is named.
            deep += 1
            if deep >= deep_parts:
                raise PartsTooDeep
            errors[-1] = None
            continue
        if errors[-1] is None:
            data = buffer.getvalue()
            if payloads and size + len(data) > _BATCH_BYTES:
                load()
                size = 0
            payloads[i] = data
            size += len(data)
    if payloads:
        load()
    return errors


#: What a scanner returns: the failing children, the levels it fed (to name them), whether
#: it skipped a child as good, and per failing child the memo its own scan starts with
#: and what its failure showed under way.
Scanned = tuple[list[Failure], dict[tuple[int, ...], Expansion], bool,
                dict[tuple[int, ...], Memo], dict[tuple[int, ...], UnderWay]]


def dump_scan(backend: Backend, node: Any, exp: Expansion, protocol: int, limit: int,
              skip: Memo, seeds: dict[int, Any], good: Good | None = None,
              carry: Memo | None = None, known: UnderWay | None = None) -> Scanned:
    """The children (and items of big containers among them) that fail to dump, with
    ``seeds`` (the node's ancestors) and ``skip`` (every object this search already
    knows fails: its culprits are searched under it, wherever else it is reached)
    counting as saved (see :mod:`.scan`), and ``carry``
    too (what a pure-Python pickler saved in full before failing in this node: each
    object in it is pickled once per search, not once per level); children in ``good``
    are skipped. Also says whether one was. ``known``: what the failure that led to the
    node showed under way (a pure-Python pickler's): a child among it fails with it,
    and is not pickled again (under a class dill saves by value, each level of the
    chain pickled most of a client again before it reached the culprit)."""
    memo = _scan_memo(skip, seeds, good, carry)
    if len(exp) <= _FEW and not holds_big(exp.objs):
        failures, used, carries, shown = _few_scan(backend, exp, protocol, limit, skip, memo,
                                                   good, carry, known)
        return failures, {(): exp}, used, carries, shown
    scan = Scan(backend, protocol, set(skip), memo, good=good)
    failures = scan.run(node, exp, limit, known)
    return failures, scan.levels, scan.used_good, scan.carries, scan.under_way


def _scan_memo(known: Memo, seeds: dict[int, Any], good: Good | None,
               carry: Memo | None) -> Memo:
    """What a scan's picklers start with memoized: what is known to fail (its culprits
    are searched under it), the ancestors, what was saved whole and slowly (not pickled
    again anywhere), and what a pure-Python pickler saved in full before failing here."""
    memo = merged(carry, known) if carry else dict(known)
    for obj in itertools.chain(seeds.values(), good.heavy.values() if good else ()):
        seed(memo, obj)
    return memo


def _few_scan(backend: Backend, exp: Expansion, protocol: int, limit: int, skip: Memo,
              memo: Memo, good: Good | None, carry: Memo | None = None,
              known: UnderWay | None = None
              ) -> tuple[list[Failure], bool, dict[tuple[int, ...], Memo],
                         dict[tuple[int, ...], UnderWay]]:
    """A handful of children, one dump each (cheaper than setting up a scan): one pickler
    while they pickle, so what one saved is a memo hit for the next; a new one after a
    failure (the old memo holds what the failure left half-saved), with the failed child
    memoized like the seeds. A child that was slow to save joins ``good``. A child
    ``known`` to be under way fails as the dump would have made it fail, without one
    (its own search carries on with ``carry``)."""
    failures: list[Failure] = []
    carries: dict[tuple[int, ...], Memo] = {}
    shown: dict[tuple[int, ...], UnderWay] = {}
    pickler, spent, used, fresh = None, None, False, 0
    level = (frozenset(map(id, exp.objs)),)  # a child is named where it is (see seed_below)
    for i, obj in enumerate(exp.objs):
        if len(failures) >= limit:
            break
        if type(obj) in ATOMS or id(obj) in skip:
            continue
        if good is not None and good.holds(obj):
            used = True
            continue
        saved = memo_of_pickler(pickler) if known is not None else None
        if known is not None and id(obj) not in memo and fails_with(known, obj, memo, saved):
            failures.append(((i,), known.exc))
            shown[(i,)] = known
            # Its search starts with what was saved before it, as after a dump of it
            # that failed (see completed_memo), and so do the children after it.
            before = saved if saved is not None else carry
            if before:
                carries[(i,)] = dict(before)
            seed(memo, obj)
            seed_below(memo, known, obj, level)
            if saved is not None:
                seed(saved, obj)
                seed_below(saved, known, obj, level)
            else:
                pickler, spent = None, pickler or spent
            continue
        if pickler is None:
            pickler = seeded_pickler(backend, protocol, memo, good, spent)
            fresh = memo_size(pickler) or 0
        started, mark = perf_counter(), memo_size(pickler)
        exc = _failure(backend, pickler, obj)
        if exc is not None:
            failures.append(((i,), exc))
            frames = frames_of(pickler, exc)
            completed = completed_memo(pickler, exc, mark, frames)
            if completed:
                carries[(i,)] = completed
                memo = merged(completed, memo)
            busy = under_way(pickler, exc, frames)
            seed(memo, obj)
            if busy is not None:
                shown[(i,)] = busy
                seed_below(memo, busy, obj, level)
            scrub(exc)  # its frames would keep the pickler's memo alive
            pickler, spent = None, pickler
        elif good is not None:
            good.remember((obj,), perf_counter() - started)
    if pickler is not None and failures:
        carry_on(carries, failures, saved_since(pickler, fresh, memo))
    return failures, used, carries, shown


def _failure(backend: Backend, pickler: Any, obj: Any) -> BaseException | None:
    """What ``pickler`` raised dumping ``obj`` (traceback kept: see completed_memo)."""
    try:
        backend.run(pickler, obj)
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure is a finding
        return exc
    return None


def roundtrip_scan(backend: Backend, node: Any, exp: Expansion, protocol: int, limit: int,
                   skip: Memo, seeds: dict[int, Any], good: Good | None = None,
                   carry: Memo | None = None, known: UnderWay | None = None) -> Scanned:
    """The children whose dump-then-load fails, in rounds (a load gives no position):
    each round loads the runs still in question, one load_many (see _FANOUT), so a
    failing child among n costs about log_64(n) rounds, and its load is the only one
    per round that fails (failing loads are often the slow ones: a deep recursion).

    ``seeds`` (the node and its ancestors) are left out of the bytes, a stand-in loaded
    in their place: a child that refers back up fails only if it fails on its own. So is
    what the search already knows fails (``skip``), as a dump scan memoizes it: its
    culprits are searched under it, wherever else it is reached."""
    objs = [None if id(o) in skip else o for o in exp.objs] if skip else exp.objs
    left = _leaving_out(seeds, skip)
    failures: list[Failure] = []
    pending = _runs(0, len(objs))
    while pending and len(failures) < limit and not deadline.expired():
        # One round: every run still in question, its loads in one batch.
        try:
            errors = _roundtrip_errors(backend, [objs[lo:hi] for lo, hi in pending],
                                       protocol, left)
        except PartsTooDeep:
            # Its parts cannot be dumped alone: the node is named itself (see _locate).
            return [], {(): exp}, False, {}, {}
        split = []
        for (lo, hi), exc in zip(pending, errors, strict=True):
            if exc is None:
                continue
            if hi - lo == 1:
                failures.append(((lo,), exc))
            else:
                split += _runs(lo, hi)
        pending = split
    return sorted(failures, key=lambda pair: pair[0]), {(): exp}, False, {}, {}


def _runs(lo: int, hi: int) -> list[tuple[int, int]]:
    """``lo:hi`` cut into at most :data:`_FANOUT` runs of (nearly) equal length."""
    step = -(-(hi - lo) // _FANOUT)
    return [(i, min(i + step, hi)) for i in range(lo, hi, step)]


def locate_dumps(root: Any, backend: Backend, protocol: int, root_exc: BaseException,
                 max_culprits: int, carry: Memo | None = None,
                 trees: plaintree.Trees | None = None,
                 under: UnderWay | None = None) -> tuple[list[Finding], bool]:
    """Every culprit that makes ``backend`` fail to dump ``root``; and whether the
    search stopped at ``max_culprits``. ``carry``: what the failed dump saved in full
    (:func:`~picklecheck.engine.scan.failed_dump`), not to be pickled again;
    ``trees``: what the check knows of trees of plain data (see scan.Good); ``under``:
    what the failed dump had under way
    (:func:`~picklecheck.engine.scan.failed_dump`), not to be pickled again."""
    with headroom():
        return _locate(root, backend, protocol, root_exc, max_culprits, dump_scan, "dumps",
                       carry, trees, under)


def locate_loads(root: Any, backend: Backend, protocol: int, root_exc: BaseException,
                 max_culprits: int) -> tuple[list[Finding], bool]:
    """Every culprit that dumps but does not load back (in this process); every round
    of loads in one child where it can."""
    with contain.serving(), headroom():
        return _locate(root, backend, protocol, root_exc, max_culprits, roundtrip_scan,
                       "loads")


def _locate(root: Any, backend: Backend, protocol: int, root_exc: BaseException,
            max_culprits: int, scanner: Callable[..., Scanned],
            stage: str, carry: Memo | None = None,
            trees: plaintree.Trees | None = None,
            under: UnderWay | None = None) -> tuple[list[Finding], bool]:
    found: list[Finding] = []
    # Every object known to fail (or to contain one), as a memo (scans start with it).
    seen: Memo = {id(root): (0, root)}
    good = Good(trees) if stage == "dumps" else None  # what this search saw pickle (see scan.Good)
    expanded: dict[int, _Expanded] = {}
    cyclic: set[int] = set()
    truncated = False
    stack: list[tuple[Any, Link, BaseException, int, Any, Memo | None, int,
                      UnderWay | None]] = [
        (root, (None, (), id(root), root), root_exc, 0, None, carry, 1, under)
    ]
    crowds = _Crowds(max_culprits)
    while stack:
        if len(found) >= max_culprits:
            return found, True
        crowds.count(found)
        if crowds.full(stack[-1][1]):  # its library object has culprits enough: look elsewhere
            stack.pop()
            truncated = True
            continue
        if deadline.expired():  # out of time: at least the deepest failing node known
            node, link, exc, _, owner, _, _, _ = stack[-1]
            return found or [Finding(node, steps_of(link), exc, stage, owner=owner, link=link)], True
        # ``known_then``: how many objects were known to fail when the node was found failing
        node, link, exc, level, owner, carried, known_then, shown = stack.pop()
        if stage == "dumps" and backend.is_depth_error(exc):
            found.append(depth_finding(node, link, level, exc, backend, protocol))
            continue
        try:
            exp = expand(node, backend, protocol)
        except _FATAL:
            raise
        except RecursionError as recursion:  # its own code recursed: not a deep graph
            found.append(runaway(node, link, recursion, stage, owner))
            continue
        except BaseException as reduce_exc:  # noqa: BLE001 - its own reduction fails
            found.append(Finding(node, steps_of(link), scrubbed(reduce_exc), stage, origin="reduce",
                                 owner=owner, link=link))
            continue
        room = max_culprits - len(found)
        # Dump scans memoize the node's ancestors in advance: a back-reference is a memo
        # hit there, as in the real pickle, never a route to a culprit. Load scans leave
        # them out of their bytes, for the same reason (see roundtrip_scan).
        seeds = {id(o): o for o in ancestors(link) if stage == "dumps" or _left_out(o)}
        failures, levels, used_good, carries, showing = (
            scanner(backend, node, exp, protocol, room + 1, seen, seeds, good, carried, shown)
            if len(exp) else ([], {(): exp}, False, {}, {}))
        if used_good and not failures:
            # Its children pass only thanks to one skipped as good (saved whole, but
            # maybe through a back-reference another scan had memoized): look again,
            # passing over trees of plain data still (a service model holds no reference).
            failures, levels, _, carries, showing = scanner(
                backend, node, exp, protocol, room + 1, seen, seeds,
                good.trees_only() if good is not None else None, carried, shown)
        if len(failures) > room:
            truncated, failures = True, failures[:room]
        expanded[id(node)] = (node, link, exc, owner)
        own: Finding | None = None
        pushes = []
        for path, child_exc in failures:
            child, child_link, child_level, parent = _follow(path, levels, node, link, level, seen)
            if child.folded and _is_leaf(child.obj, backend, protocol):
                if own is None:
                    origin = ("class" if child.role == CLASS else
                              "setter" if child.steps == (SETTER,) else "reconstructor")
                    own = Finding(node, steps_of(link), child_exc, stage, origin=origin,
                                  via=child.obj, owner=owner, link=link)
                continue
            key = id(child.obj)
            if key in seen:  # met again within this scan
                continue
            seen[key] = (len(seen), child.obj)
            pushes.append((child.obj, (child_link, child.steps, key, child.obj), child_exc,
                           child_level, parent, carries.get(path), len(seen),
                           showing.get(path)))
        if own is not None:
            found.append(own)
        elif not failures:
            # Nothing new fails below: either a known culprit (skipped in the scan)
            # explains it, or a child that leads back up the path (a class dill cannot
            # save by value fails in every attribute that refers back to it), or the
            # node fails on its own. Ancestors, memoized or left out, explain nothing (see
            # above).
            known = [id(o) for lvl in levels.values() for o in lvl.objs
                     if id(o) in seen and id(o) not in seeds]
            cyclic.update(k for k in known if k in expanded and is_ancestor(link, k))
            # (A node with no children, saved by reference, holds none of them.)
            if not known and (len(seen) == known_then or not len(exp) or (
                    _fails_alone(node, backend, protocol, seeds, seen, good, carried)
                    if stage == "dumps" else _loads_alone(node, backend, protocol, seeds, seen))):
                found.append(Finding(node, steps_of(link), exc, stage, owner=owner, link=link))
        stack.extend(reversed(pushes))
    found.extend(_unexplained_cycles(cyclic, expanded, found, stage))
    return found[:max_culprits], truncated or len(found) > max_culprits


class _Crowds:
    """The library's own culprits (not the user's functions and objects) counted under
    each library object (an instance of a class the user did not write, not a builtin
    container). A psycopg cursor holds hundreds of culprits of its own (classes it made
    at run time); the report names it once, and a search that spent ``max_culprits``
    inside it never reached the user's lambda beside it. Once half the budget is spent,
    a library object holding :data:`QUOTA` such culprits is left, and the search goes on
    elsewhere; the user's own culprits inside one (a FastAPI app's endpoints) never
    count against it."""

    QUOTA = 2

    def __init__(self, max_culprits: int) -> None:
        self.max_culprits = max_culprits
        self.under: dict[int, int] = {}
        self.counted = 0
        self.pressed = False

    def count(self, found: list[Finding]) -> None:
        if len(found) < self.max_culprits // 2:
            return  # the counts matter from half the budget on: taken then, for all so far
        for finding in found[self.counted:]:
            if _USER.defines(finding.via if finding.via is not None else finding.obj):
                continue
            holder = _nearest_library(finding.link[0] if finding.link is not None else None)
            if holder is not None:
                self.under[holder] = self.under.get(holder, 0) + 1
        self.counted = len(found)
        self.pressed = True

    def full(self, link: Link) -> bool:
        """Whether a library object on the path to the node at ``link`` has its share.
        Culprits count for their nearest library holder only, so that an app holding many
        routes does not stop the search of every route."""
        if not self.pressed:
            return False
        while link is not None:
            if len(link) > 2 and self.under.get(link[2], 0) >= self.QUOTA:
                return True
            link = link[0]
        return False


def _nearest_library(link: Link) -> int | None:
    """The id of the nearest library object on the path ``link`` (from its end)."""
    while link is not None:
        if len(link) > 3 and _is_library(link[3]):
            return int(link[2])
        link = link[0]
    return None


_NOT_LIBRARY = (dict, list, tuple, set, frozenset, type, types.FunctionType,
                types.ModuleType, types.CellType, types.MethodType)
_USER = UserCode()


def _is_library(obj: Any) -> bool:
    kind = type(obj)  # type(): a hostile __class__ is not read
    return (obj is not UNSEEDED and kind not in ATOMS and not issubclass(kind, _NOT_LIBRARY)
            and not _USER.defines(obj))


def _leaving_out(seeds: dict[int, Any], known: Memo) -> dict[int, Any]:
    """What a load scan leaves out of its bytes: the ancestors, and what is known to fail
    (but classes and functions: see :func:`_left_out`)."""
    left = dict(seeds)
    for key, (_, obj) in known.items():
        if key not in left and _left_out(obj):
            left[key] = obj
    return left


def _loads_alone(node: Any, backend: Backend, protocol: int, seeds: dict[int, Any],
                 seen: Memo) -> bool:
    """Whether ``node`` still fails to load with everything now known to fail left out
    (it was found failing before some of them were known: see :func:`_fails_alone`)."""
    left = _leaving_out(seeds, seen)
    left.pop(id(node), None)
    try:
        return _roundtrip_errors(backend, [[node]], protocol, left, 1)[0] is not None
    except PartsTooDeep:
        return True  # it failed to load, and cannot be dumped again alone to tell more


def _left_out(obj: Any) -> bool:
    """Whether a load scan leaves ``obj``, an ancestor, out of its bytes: not a class or
    a function, which what refers to it calls when it loads (an enum's members call
    their class), where a stand-in would fail for no fault of theirs."""
    kind = type(obj)  # type(): a hostile __class__ is not read
    return not (issubclass(kind, type) or kind in _CALLED)


def _follow(path: tuple[int, ...], levels: dict[tuple[int, ...], Expansion], node: Any,
            link: Link, level: int, seen: Memo) -> tuple[Any, Link, int, Any]:
    """The failing child at ``path``, with the link and level of its parent: items of
    containers the scan fed one by one pass through those containers (the first level's
    were memoized in advance; deeper ones were not)."""
    exp = levels[()]
    for depth in range(len(path) - 1):
        container = exp.child(path[depth])
        seen[id(container.obj)] = (len(seen), container.obj)
        link = (link, container.steps, id(container.obj),
                container.obj if depth == 0 else UNSEEDED)
        level += exp.levels
        node = container.obj
        exp = levels[path[: depth + 1]]
    return exp.child(path[-1]), link, level + exp.levels, node


def _fails_alone(node: Any, backend: Backend, protocol: int, seeds: dict[int, Any],
                 seen: Memo, good: Good | None, carry: Memo | None) -> bool:
    """Whether ``node`` still fails to dump with everything now known to fail memoized
    (it was found failing before some of them were known: if one of those, reached
    somewhere inside it, was all that failed, its culprit is named where it was found)."""
    memo = _scan_memo(seen, seeds, good, carry)
    memo.pop(id(node), None)
    pickler = seeded_pickler(backend, protocol, memo)
    if good is not None:
        good.watch(pickler, remember=False)  # trees of plain data passed over, no more
    exc = _failure(backend, pickler, node)
    if exc is not None:
        scrub(exc)
    return exc is not None


#: An expanded node of the search: the object, its path cell, what it raised, its holder.
_Expanded = tuple[Any, Link, BaseException, Any]


def _unexplained_cycles(cyclic: set[int], expanded: dict[int, _Expanded], found: list[Finding],
                        stage: str) -> list[Finding]:
    """Ancestors that fail only through children leading back to them (a class dill
    cannot save by value fails in every attribute that refers back to it): unless a
    culprit was found under them, they are culprits themselves, the deepest first: one
    blamed explains the ancestors it fails under (an enum member whose class dill saves
    by value leads back to both: the class is blamed, not the member too). In a load,
    the objects on such a cycle that recurse when loaded are the culprits instead, where
    there are any (see :func:`_recursing_members`)."""
    if not cyclic:
        return []
    explained: set[int] = set()

    def explain(link: Link | None) -> None:
        while link is not None:
            if len(link) > 2:
                explained.add(link[2])
            link = link[0]

    for finding in found:
        explain(finding.link)
    out = []
    blamed: set[int] = set()
    for key in sorted(cyclic, key=lambda k: -len(steps_of(expanded[k][1]))):
        if key in explained:
            continue
        members = _recursing_members(key, expanded) if stage == "loads" else []
        for node, link, exc, owner in members or [expanded[key]]:
            if id(node) not in blamed:
                blamed.add(id(node))
                out.append(Finding(node, steps_of(link), exc, stage, owner=owner))
            explain(link)
    return sorted(out, key=lambda finding: len(finding.steps))


def _recursing_members(key: int, expanded: dict[int, _Expanded]) -> list[_Expanded]:
    """The objects on the cycle through the ancestor with id ``key`` whose load recursed
    because their class has a ``__getattr__`` and no ``__setstate__`` (see
    :func:`~picklecheck.engine.kinds.recurses_when_loaded`), shallowest first and none
    under another: loading any object on the cycle loads them, so every one of those
    fails, but they are why (a tqdm bar's file wrapper, whose ``write`` and ``flush``
    lead back to the bar through a weak proxy)."""
    members = sorted((entry for k, entry in expanded.items()
                      if (k == key or is_ancestor(entry[1], key))
                      and recurses_when_loaded(entry[0], entry[2])),
                     key=lambda entry: len(steps_of(entry[1])))
    chosen: list[_Expanded] = []
    for entry in members:
        if not any(is_ancestor(entry[1], id(above[0])) for above in chosen):
            chosen.append(entry)
    return chosen


def _is_leaf(obj: Any, backend: Backend, protocol: int) -> bool:
    try:
        return expand(obj, backend, protocol) is LEAF
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001
        return True


# -- references a fresh interpreter cannot resolve -----------------------------

def locate_references(root: Any, backend: Backend, protocol: int,
                      targets: dict[int, BaseException], max_culprits: int,
                      node_cap: int = 2_000_000, holders: tuple[type, ...] = ()) -> list[Finding]:
    """Where the graph holds objects pickled by reference to one of ``targets``
    (ids of classes and functions another interpreter cannot import). A target held by
    an object of one of ``holders`` is named by its holder (a function, not its code)."""
    found: list[Finding] = []
    reported: set[int] = set()
    visited: set[int] = set()
    stack: list[tuple[Any, Link]] = [(root, None)]
    while stack and len(found) < max_culprits and len(visited) < node_cap:
        obj, link = stack.pop()
        if id(obj) in visited:
            continue
        visited.add(id(obj))
        if id(obj) in targets and id(obj) not in reported:
            reported.add(id(obj))
            found.append(Finding(obj, steps_of(link), targets[id(obj)], "fresh",
                                 origin="reference", via=obj))
            continue
        try:
            exp: Expansion = expand(obj, backend, protocol)
        except _FATAL:
            raise
        except BaseException:  # noqa: BLE001
            continue
        pushes = []
        held = type(obj) in holders
        for i in range(len(exp)):
            child = exp.child(i)
            if type(child.obj) in ATOMS:
                continue
            if held and id(child.obj) in targets:
                if id(obj) not in reported:
                    reported.add(id(obj))
                    found.append(Finding(obj, steps_of(link), targets[id(child.obj)], "fresh",
                                         origin="reference", via=obj))
                continue
            if child.folded and id(child.obj) in targets:
                if id(child.obj) not in reported:
                    reported.add(id(child.obj))
                    found.append(Finding(obj, steps_of(link), targets[id(child.obj)], "fresh",
                                         origin="reference",
                                         via=child.obj))
                continue
            pushes.append((child.obj, (link, child.steps)))
        stack.extend(reversed(pushes))
    return found
