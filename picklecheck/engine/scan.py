"""Pickling a node's children with the backend's own pickler, and knowing where it failed.

The children are fed to the real pickler through generators (the pickler saves an
iterator's items as it draws them), so when it raises, the generators' position
says what it was saving. Plain children go in runs (see :data:`RUN_MIN`), each
drawn at C speed from an iterator of the level started at the run, whose position
names the item that failed (see :meth:`Scan._failed_at`); big plain containers
among them (lists, tuples, dicts, sets) are fed the same way one level further
down, so a failure deep inside ``obj['records']`` is placed at
``obj['records'][4882]`` in the same pass.

A failed save leaves half-saved objects in the pickler's memo: every object whose
save began and never finished (the failing item, and each object between it and
the culprit) is memoized, and a later reference to one of them would pass as a
memo hit although its save never got past the culprit. A sibling holding the only
other route to a second culprit would then pass, and a culprit would go missing.
So after a failure the scan goes on with a pickler whose memo holds only the
*seeds* (a new one, or the C pickler that failed with its memo replaced: see
:func:`seeded_pickler`): objects whose culprits are searched elsewhere. They are

* the node and its ancestors on the search path (the real pickler has memoized
  them by the time it saves the node's children, so a back-reference is a memo
  hit there too), and the big containers fed item by item at the first level;
* the items found failing in this scan (their culprits are searched under them).

Whatever else was saved before is pickled again if it is referenced again, so a
scan costs about one dump, plus what later items share with earlier ones once per
failure.

A *flat* level (a long list, tuple, set, or dict's values whose sampled items are nearly
all atoms, numbers, strings, bytes, None, or rows: lists, tuples, dicts and sets of a few
items) is fed as one nested list drawing its items from an iterator of the level at C
speed, with no per-item bookkeeping and no copy of them, so the scan runs at the
pickler's own speed; the iterator's position names the item that failed, and the scan
goes on after it. An item that needs the checks the others pass (a big container to feed
a level further down, an item found before) is pickled again on its own; what was saved
whole is not kept track of, and is pickled again if a later level holds it after a
failure. Where the atoms are ones the pickler memoizes (strings, bytes), the level is
looked at in slices doubling up to :data:`FLAT_MAX` items, and a slice whose items are
all atoms is not pickled at all: checking their types costs a fraction of pickling them,
and an atom never fails.

Two details keep the position exact:

* the C pickler takes the *second* item of each batch of 1000 before it saves the
  first: a run's nested list starts with a harmless ``None``, and in a flat level's, of
  a batch's first two items the one that is not an atom failed (or both are pickled
  again, one by one);
* dill's pure-Python pickler is set to batches of one item.
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
from collections.abc import Collection, Iterable, Iterator, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Any

from picklecheck.backends import plaintree
from picklecheck.backends.base import dispatch_table_of, reduce_ordered_dict
from picklecheck.engine.walker import ATOMS, Expansion, expand
from picklecheck.isolation import deadline
from picklecheck.isolation.foreign import drop_traceback, traceback_of

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["NESTABLE", "NEST_MIN", "SLOW_SAVE", "FedList", "Failure", "Good", "Memo", "Scan",
           "UnderWay", "carry_on", "completed_memo", "failed_dump", "fails_with", "frames_of",
           "holds_big", "memo_of", "memo_of_pickler", "memo_size", "merged", "saved_since",
           "seed", "seed_below", "seeded_pickler", "under_way"]

_C_BATCH = 1000
#: Containers with at least this many items are fed item by item (a level of their own,
#: where a failure is placed in the same pass); smaller ones are pickled whole, and
#: searched if they fail: a level costs microseconds to set up and a hundred items a
#: fraction of one to pickle (5,000 lists of 20 ints with one lock: 27x the dumps at 8,
#: 2.7x at 64; 1,000 lists of 100: 27x at 64).
NEST_MIN = 256
#: Plain items are fed in slices: RUN_MIN first, doubling while none fails, up to
#: RUN_MAX; after a failure, again from RUN_MIN (small retries near culprits, few
#: slices where there are none).
RUN_MIN, RUN_MAX = 16, 64
#: A flat level of memoized atoms (strings) is looked at in slices doubling up to this
#: many items, and only a slice holding something else is pickled (see the module
#: docstring).
FLAT_MAX = 1 << 11
#: Levels shorter than this are never flat (a few runs cost nothing anyway).
FLAT_MIN = 256
_FLAT_SAMPLE = 32
NESTABLE = (list, tuple, dict, set, frozenset)
_NESTABLE_SET = frozenset(NESTABLE)
#: Atoms the pickler memoizes: pickling them costs far more than checking their type.
_MEMOIZED_ATOMS = frozenset({str, bytes, bytearray, complex})
_FATAL = (KeyboardInterrupt, SystemExit)

#: What a C pickler's batch starts with (see the module docstring).
_NONE = (None,)


def holds_big(items: Sequence[Any]) -> bool:
    """Whether one of ``items`` is a list, tuple, dict or set of :data:`NEST_MIN` items or
    more (fed a level further down, not in a run), at C speed: rows of small tuples or
    dicts are the commonest payload there is."""
    if _NESTABLE_SET.isdisjoint(map(type, items)):
        return False
    return max(map(len, _containers(items))) >= NEST_MIN


def _big(items: Sequence[Any]) -> Iterator[Any]:
    """The lists, tuples, dicts and sets of :data:`NEST_MIN` items or more among ``items``."""
    if _NESTABLE_SET.isdisjoint(map(type, items)):
        return iter(())
    containers = list(_containers(items))
    return itertools.compress(containers, map(NEST_MIN.__le__, map(len, containers)))


def _drawn(feed: Iterator[Any], objs: Sequence[Any]) -> int:
    """How many items of ``objs`` its iterator ``feed`` has given out."""
    state: Any = feed.__reduce__()  # (iter, (seq,), index); (iter, ((),)) once all drawn
    drawn: int = state[2] if len(state) > 2 else len(objs)
    return drawn


def _containers(items: Sequence[Any]) -> Iterator[Any]:
    return itertools.compress(items, map(_NESTABLE_SET.__contains__, map(type, items)))


#: A failing item: its index path through the fed levels, and what was raised.
Failure = tuple[tuple[int, ...], BaseException]
#: Where to go on: the level's path, the first index, the end (None: all), the longest
#: run (1: item by item).
_Resume = tuple[tuple[int, ...], int, "int | None", int]


#: A pickler memo as picklers take it: ``{id(obj): (index, obj)}``.
Memo = dict[int, tuple[int, Any]]


def memo_of(objs: Iterable[Any]) -> Memo:
    """A memo holding ``objs`` (see :func:`seed`)."""
    memo: Memo = {}
    for obj in objs:
        seed(memo, obj)
    return memo


def seed(memo: Memo, obj: Any) -> None:
    """Add ``obj`` to ``memo`` (once)."""
    if id(obj) not in memo:
        memo[id(obj)] = (len(memo), obj)


def merged(base: Memo, more: Memo) -> Memo:
    """``{**base, **more}``, made by copying ``base`` (a dill search's carried memo holds
    tens of thousands of objects: a copy clones its table, unpacking inserts each key)."""
    result = base.copy()
    result.update(more)
    return result


def seeded_pickler(backend: Backend, protocol: int, memo: Memo, good: Good | None = None,
                   spent: Any = None) -> Any:
    """A scan pickler (into a sink) that starts with ``memo``'s objects memoized: a
    reference to one of them is a memo hit, as for an object already saved. With
    ``good``, what it holds as heavy joins ``memo`` first, and the pickler tells it of
    what it saves whole (see :meth:`Good.watch`).

    ``spent``: a pickler whose dump failed. A C one is used again, its memo (which holds
    what the failure left half-saved) replaced: nothing else of a failed dump stays (each
    dump starts a new output), and its dispatch table, with what it learned of types,
    stays good. A pure-Python one is not: a new pickler is made."""
    if spent is not None and memo_size(spent) is None:
        pickler = spent
        pickler.clear_memo()
    else:
        pickler = backend.scan_pickler(protocol)
        if good is not None:
            good.watch(pickler)
    if good is not None:
        for key, obj in good.heavy.items():
            if key not in memo:
                seed(memo, obj)
    if memo:
        # The C pickler copies what it is given; pickle's Python one (dill's base) keeps
        # the dict itself and would add to the caller's.
        pickler.memo = memo if memo_size(pickler) is None else memo.copy()
    return pickler


#: What a watched OrderedDict's items end with (see Good.watch): a pair of atoms...
_LAST_PAIR = ((None, None),)
#: ... then the end of an iterator that tells Good the items are saved.
_SAVED = object()
#: A fed item that took longer than this (seconds) to save is remembered as good.
SLOW_SAVE = 1e-5
#: ... and as heavy (memoized in advance by every later scan) after this long.
HEAVY_SAVE = 1e-3


class Good:
    """What one search saw pickle whole with its backend, where that took a while: later
    scans of the same search skip it instead of pickling it again (a client's event
    emitter or service model is reached from dozens of places).

    Saved "whole" means with that scan's seeds memoized, so an object here may still
    lead to a culprit through one of them; those are searched elsewhere. A scan that
    skipped one of these says so (:attr:`Scan.used_good`), and a node whose children
    all pass only thanks to a skip is scanned again without them before it is called a
    culprit (see :func:`picklecheck.engine.locate.dump_scan`).

    Objects saved whole *inside* an item that failed later count too, where the C
    pickler can say so: an exact ``OrderedDict`` (a library's parsed JSON: botocore's
    service models, endpoint rules) is reduced by our own code, which sees its last
    item saved (:meth:`watch`). Those that took a while are memoized in advance by
    later scans, so each level of a failing chain does not pickle them again before it
    reaches its culprit. That is the memo a pure-Python pickler's failure leaves
    (:func:`completed_memo`): the object's save returned; what it met under way (the
    failing chain) is searched under the failing item.

    An exact ``OrderedDict`` that is a tree of plain data (see
    :mod:`picklecheck.backends.plaintree`) is not pickled at all: nothing in it can fail
    with any backend, whatever is memoized, so it is saved as an empty one, and its
    containers are known as plain for the rest of the search (a service model is walked
    once, at C speed, where pickling it cost a Python call per ``OrderedDict``).
    """

    __slots__ = ("by_reference", "heavy", "objs", "plain")

    def __init__(self, trees: plaintree.Trees | None = None) -> None:
        self.objs: dict[int, Any] = {}  # id -> object (held, so the id stays its own)
        #: Whether cloudpickle saves a function with no module by reference (see
        #: picklecheck.backends.cloudpickle.watching): id -> (function, answer).
        self.by_reference: dict[int, tuple[Any, bool]] = {}
        #: Passes over trees of plain data, knowing those met before, in this search or
        #: (``trees``) elsewhere in the check (see :meth:`watch`).
        self.plain = plaintree.PassOver(reduce_ordered_dict, trees)
        #: Those that took over HEAVY_SAVE alone: every later scan memoizes them in
        #: advance (memoizing them all would cost more than it saves).
        self.heavy: dict[int, Any] = {}

    def trees_only(self) -> Good:
        """A new one that knows nothing saved whole, only the trees of plain data this
        one knows of: for a scan again without the skips (see :class:`Good`), which may
        still pass over those, since nothing in one can lead anywhere."""
        return Good(self.plain.trees)

    def watch(self, pickler: Any, remember: bool = True) -> None:
        """Have ``pickler`` (a C scan pickler; a pure-Python one keeps a memo of its own)
        pass over each exact ``OrderedDict`` that is a tree of plain data, and (unless
        not to ``remember``) tell this of the others it saves whole, slowly."""
        table = dispatch_table_of(pickler)
        if table is not None and table.get(collections.OrderedDict) is reduce_ordered_dict:
            table[collections.OrderedDict] = self._reduce_watched if remember else self.plain
        if remember and hasattr(pickler, "watcher"):  # see backends.cloudpickle.watching
            pickler.watcher = self

    def _reduce_watched(self, od: collections.OrderedDict[Any, Any]) -> tuple[Any, ...]:
        if self.plain.is_plain(od):
            return plaintree.PASSED_OVER
        if vars(od):  # its instance dict is saved after its items
            return reduce_ordered_dict(od)
        # Its items at C speed, then a pair of atoms (the C pickler draws the first item
        # of each batch, then the second, and only then saves the first: when it asks for
        # the item after the pair, every item of ``od`` is saved), then Python, once
        # (a service model's 130,000 items each cost a generator step).
        saved = iter(functools.partial(self._saved, od, perf_counter()), _SAVED)
        return (collections.OrderedDict, (), None, None,
                itertools.chain(od.items(), _LAST_PAIR, saved))

    def _saved(self, od: Any, started: float) -> object:
        seconds = perf_counter() - started
        if seconds > SLOW_SAVE:
            self.remember((od,), seconds)
        return _SAVED

    def holds(self, obj: Any) -> bool:
        return id(obj) in self.objs

    def isdisjoint(self, objs: Sequence[Any]) -> bool:
        return self.objs.keys().isdisjoint(map(id, objs))

    def remember(self, objs: Sequence[Any], seconds: float) -> None:
        """``objs`` were saved whole in ``seconds``: kept if that took a while each, on
        average (a run of records each saved in a microsecond is pickled again sooner
        than remembered item by item)."""
        if seconds <= SLOW_SAVE * len(objs):
            return
        for obj in objs:
            if type(obj) not in ATOMS:
                self.objs[id(obj)] = obj
        if seconds > HEAVY_SAVE and len(objs) == 1 and type(objs[0]) not in ATOMS:
            self.heavy[id(objs[0])] = objs[0]


def memo_size(pickler: Any) -> int | None:
    """How many objects a pure-Python pickler has memoized (None for the C pickler)."""
    memo = getattr(pickler, "memo", None)
    return len(memo) if type(memo) is dict else None


def completed_memo(pickler: Any, exc: BaseException, mark: int | None,
                   frames: Frames | None = None) -> Memo | None:
    """What a pure-Python pickler (dill's) saved in full before ``exc``: its memo without
    the objects whose save was still under way (its ``save`` frames: :func:`frames_of`).
    None for the C pickler, whose frames a traceback does not show.

    Whatever else its memo holds was saved in full, and a later memo hit on it is what
    the real pickle would do (one saved through a back-reference to an object under way
    leads only to culprits searched under the item that failed) -- except under dill's
    ``_save_with_postproc``: an object saved inside a function or class still being
    saved may wait for it to finish (a cell filled in afterwards), so with one of those
    under way only what was memoized before the failing item began (``mark``, the memo's
    size then) counts. ``frames``: :func:`frames_of` the failure, if already read. Call it
    before the traceback is dropped."""
    memo = memo_of_pickler(pickler)
    if memo is None:
        return None
    frames = frames_of(pickler, exc) if frames is None else frames
    busy = {id(obj) for obj, postproc in frames if not postproc}
    deferred = any(postproc for _, postproc in frames)
    if not busy or (deferred and mark is None):
        return None  # nothing to go on
    if deferred:
        return {key: entry for key, entry in memo.items()
                if key not in busy and entry[0] < mark}  # type: ignore[operator]
    completed = memo.copy()  # at C speed: the memo is everything saved, the rest a few
    for key in busy:
        completed.pop(key, None)
    return completed


class UnderWay:
    """What a pure-Python pickler's failure showed: what it raised (``exc``), and the
    objects whose save was under way, outermost first (``order``, ids: an object saved
    by value that refers back to itself appears again further down; ``objs`` holds them,
    so that a temporary's id never passes to a later object), read from the traceback's
    frames (see :func:`under_way`).

    Each of them failed with it. A search below the item that failed meets them as
    children, level after level, and pickling each again costs about the dump that
    failed; :func:`fails_with` says which can be taken as failing unpickled: those whose
    dump would have had a ``_save_with_postproc`` under way (``deferred``: dill saving
    a class or a function by value, at them or below), or a copy of one of them with the
    very same items (:meth:`key_of`). The search of such an item starts only with what
    was saved before it (see :func:`completed_memo`), so nothing of what its dump would
    have done is lost. The others are pickled again where the
    search below meets them, since their dump leaves in full what it saved before the
    culprit, for the levels further down to skip.

    Where the item that failed has siblings after it, each of these objects counts for
    them as saved (:func:`seed_below`): a second route to the same client (a handler
    bound to it) is not pickled again to fail in the same place, since the search of
    the item meets each of them on its way down (a temporary, made anew by a reducer,
    is reached by no other route)."""

    __slots__ = ("_dicts", "deferred", "exc", "objs", "order")

    def __init__(self, exc: BaseException, order: list[int], objs: dict[int, Any],
                 deferred: frozenset[int]) -> None:
        self.exc = exc
        self.order = order
        self.objs = objs
        self.deferred = deferred
        self._dicts: list[tuple[int, dict[Any, Any]]] | None = None

    def key_of(self, obj: Any) -> int | None:
        """The id under which ``obj`` was under way: its own, or that of a dict with the
        very same keys and values in the same order (a reducer's copy: dill's save of a
        class copies its namespace, and the search's reduction of the class makes
        another, which pickles as that one did). None if it was not."""
        if id(obj) in self.objs:
            return id(obj)
        if type(obj) is not dict:
            return None
        if self._dicts is None:
            self._dicts = [(key, self.objs[key]) for key in self.order
                           if type(self.objs[key]) is dict]
        for key, other in self._dicts:
            if (len(other) == len(obj) and all(map(operator.is_, other, obj))
                    and all(map(operator.is_, other.values(), obj.values()))):
                return key
        return None


#: Failures that depend on how deep the stack was when they were raised: a dump that
#: starts further down may not meet them.
_DEPTH = (RecursionError, MemoryError)


def under_way(pickler: Any, exc: BaseException,
              frames: Frames | None = None) -> UnderWay | None:
    """What ``exc``, raised by ``pickler``, shows under way (see :class:`UnderWay`): read
    from the traceback's ``save`` frames (``frames``, if already read), so only of a
    pure-Python pickler (dill's). None for the C pickler and for a failure of the
    stack's depth. Call it before the traceback is dropped."""
    if issubclass(type(exc), _DEPTH):
        return None
    frames = frames_of(pickler, exc) if frames is None else frames
    order: list[int] = []
    objs: dict[int, Any] = {}
    deferred: set[int] = set()
    for obj, postproc in frames:
        if postproc:  # every save above it would have had it under way
            deferred.update(order)
        else:
            order.append(id(obj))
            objs[id(obj)] = obj
    return UnderWay(exc, order, objs, frozenset(deferred)) if order else None


#: What a pure-Python pickler's failure shows of what it was doing (see frames_of).
Frames = list[tuple[Any, bool]]


def frames_of(pickler: Any, exc: BaseException) -> Frames:
    """Outermost first, what ``exc``'s traceback shows ``pickler`` was doing: ``(obj,
    False)`` for each object it was saving (its ``save`` frames), ``(None, True)`` for
    each ``_save_with_postproc`` (dill saving a class or a function by value). Nothing
    for the C pickler, whose frames a traceback does not show. Call it before the
    traceback is dropped."""
    if memo_of_pickler(pickler) is None:
        return []
    frames: Frames = []
    for tb in _frames(exc):
        frame = tb.tb_frame
        name = frame.f_code.co_name
        if name == "save" and frame.f_locals.get("self") is pickler:
            frames.append((frame.f_locals.get("obj"), False))
        elif name == "_save_with_postproc":
            frames.append((None, True))
    return frames


def fails_with(known: UnderWay, obj: Any, *memos: Memo | None) -> bool:
    """Whether ``obj`` is to be taken as failing with ``known``'s failure, without
    pickling it: it was under way, its dump would have been deferred (see
    :class:`UnderWay`), and its save would go on, through everything saved under it
    down to the object that raised, with none of those a memo hit in ``memos`` now (a
    culprit found since, memoized by every later scan, would stop it there; so would an
    ancestor, memoized by every scan, that it referred back to)."""
    key = known.key_of(obj)
    if key not in known.deferred:
        return False
    below = known.order[known.order.index(key) + 1:]
    return not any(memo is not None and not memo.keys().isdisjoint(below) for memo in memos)


def seed_below(memo: Memo, shown: UnderWay, obj: Any,
               levels: Sequence[Collection[int]] = ()) -> None:
    """Memoize in ``memo`` what ``shown`` had under way below ``obj``, the item that
    failed (all of it when ``obj`` is not among it: the failure of a dump of ``obj``
    starts at the scan's own feed), down to the first that is an item of a level on the
    way to it (the ids in one of ``levels``): that one is left to fail where it is, and
    named there; see :class:`UnderWay`."""
    order, objs = shown.order, shown.objs
    mine = shown.key_of(obj)
    start = order.index(mine) + 1 if mine is not None else 0
    for key in order[start:]:
        if key == mine:
            continue  # its save again (dill's save calls pickle's), or a self-reference
        if any(key in ids for ids in levels):
            return
        seed(memo, objs[key])


def saved_since(pickler: Any, start: int, seeded: Memo) -> Memo | None:
    """What a pure-Python pickler memoized after its first ``start`` entries, but for
    what ``seeded`` holds (seeds added since): once its dump has returned, each of them
    was saved in full. None for the C pickler."""
    memo = memo_of_pickler(pickler)
    if memo is None or len(memo) <= start:
        return None
    return {key: entry for key, entry in itertools.islice(memo.items(), start, None)
            if key not in seeded}


def carry_on(carries: dict[tuple[int, ...], Memo], failures: list[Failure],
             saved: Memo | None) -> None:
    """Add ``saved`` (:func:`saved_since` a dump that returned after the failures) to
    what each failing item's search starts with memoized (see :func:`completed_memo`):
    the siblings after a failing item (a client's other attributes, each reaching the
    same loader and event handlers) would otherwise be pickled again, level after level,
    down its chain."""
    if not saved:
        return
    for path, _ in failures:
        if path in carries:
            carries[path].update(saved)
        else:
            carries[path] = dict(saved)


def memo_of_pickler(pickler: Any) -> Memo | None:
    """A pure-Python pickler's memo (None for the C pickler's, or no pickler)."""
    memo = getattr(pickler, "memo", None)
    return memo if type(memo) is dict else None


def _frames(exc: BaseException) -> Iterator[Any]:
    tb = traceback_of(exc)
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _failed_pickler(exc: BaseException) -> Any:
    """The pure-Python pickler whose ``dump`` raised ``exc`` (found in the traceback's
    frames), or None."""
    for tb in _frames(exc):
        frame = tb.tb_frame
        if frame.f_code.co_name == "save":
            pickler = frame.f_locals.get("self")
            if memo_of_pickler(pickler) is not None:
                return pickler
    return None


def failed_dump(exc: BaseException) -> tuple[Memo | None, UnderWay | None]:
    """:func:`completed_memo` and :func:`under_way` of the pure-Python pickler whose
    ``dump`` raised ``exc`` (None and None for the C pickler). Call it before the
    traceback is dropped."""
    pickler = _failed_pickler(exc)
    if pickler is None:
        return None, None
    frames = frames_of(pickler, exc)
    return completed_memo(pickler, exc, None, frames), under_way(pickler, exc, frames)


class _Known(Exception):  # noqa: N818 - control flow, not an error
    """Raised where a scan's feed reaches an item known to fail (see :meth:`Scan.run`)."""


class FedList:
    """Pickles as ``list(items)``, drawing the items from a generator."""

    __slots__ = ("items",)

    def __init__(self, items: Iterator[Any]) -> None:
        self.items = items

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (list, (), None, self.items)


class Scan:
    """Scans of one node's children (see the module docstring).

    ``levels`` maps an index path to the :class:`Expansion` fed at that level
    (``()`` is the node's own), so a failure's path can be named step by step.
    ``blocked`` holds ids not to pickle (known culprits, and what failed already).
    ``seeds`` is what every new pickler starts with memoized: the node's ancestors,
    then the node and its fed containers once :meth:`run` starts, and the items found
    failing (shared with retries).
    """

    def __init__(self, backend: Backend, protocol: int, blocked: set[int],
                 seeds: Memo | None = None,
                 levels: dict[tuple[int, ...], Expansion] | None = None,
                 owners: dict[tuple[int, ...], tuple[int, ...]] | None = None,
                 flat: dict[tuple[int, ...], tuple[bool, bool]] | None = None,
                 good: Good | None = None) -> None:
        self.backend = backend
        self.protocol = protocol
        self.blocked = blocked
        self.seeds: Memo = {} if seeds is None else seeds
        self.filler = backend.reads_ahead and protocol > 0
        self.levels = {} if levels is None else levels
        self._owners = {} if owners is None else owners
        self._fed: set[int] = set()
        self._flat: dict[tuple[int, ...], tuple[bool, bool]] = {} if flat is None else flat
        self.good = good
        self.used_good = False  # whether an item was skipped as good (see locate)
        self.progress: list[int] = []
        #: (depth, start, iterator, flat) of a run being fed item by item (see _failed_at);
        #: ``flat``: a flat level's, whose items were not looked at before it was fed
        self._feeding: tuple[int, int, Iterator[Any], bool] | None = None
        self._mark: int | None = None  # a pure-Python pickler's memo size when it began
        self.pickler: Any = None  # made when the scan starts, with the seeds it has then
        self._spent: Any = None  # the pickler whose dump failed last (see seeded_pickler)
        self.carry: Memo | None = None  # what the next pickler starts with besides the seeds
        #: Per failing item's path: what a pure-Python pickler had saved in full when it
        #: failed (the search of the item's own children starts with it memoized).
        self.carries: dict[tuple[int, ...], Memo] = {}
        #: Per failing item's path: what its failure showed under way (see UnderWay).
        self.under_way: dict[tuple[int, ...], UnderWay] = {}
        #: What the failure that led to the node showed under way: an item among it
        #: fails with it, unpickled (see run).
        self._known: UnderWay | None = None
        self._level_ids: dict[tuple[int, ...], frozenset[int]] = {}
        self._fresh = 0  # how many objects the pickler started with memoized
        self._feeds: list[Iterator[Any]] = []  # the generators fed (see _let_go)

    def _fresh_pickler(self) -> Any:
        """A pickler whose memo holds the seeds, and what a pure-Python pickler saved in
        full before the last failure (:func:`completed_memo`), nothing half-saved."""
        carried, self.carry = self.carry, None
        spent, self._spent = self._spent, None
        memo = merged(carried, self.seeds) if carried else self.seeds
        pickler = seeded_pickler(self.backend, self.protocol, memo, self.good, spent)
        self._fresh = memo_size(pickler) or 0
        return pickler

    def run(self, node: Any, exp: Expansion, limit: int,
            known: UnderWay | None = None) -> list[Failure]:
        """The failing children (and items of the big containers fed). An item ``known``
        to be under way when the dump that led here failed fails where it is reached,
        as its dump would, without one (its search starts with what was saved before
        it)."""
        self._known = known
        self.levels[()] = exp
        self._owners[()] = (id(node),)
        seed(self.seeds, node)
        owners = self._owners[()]
        if not self._flatness(())[0]:
            for obj in _big(exp.objs):
                if self._special(obj, owners) == "nest":
                    seed(self.seeds, obj)
        self.pickler = None  # made with the seeds above when the scan starts
        # A handful of children go one by one: pickled as one run, a failure would
        # pickle again every child before it (a library object's dozen attributes each
        # reach the same big service model: one run and its retry cost two of them).
        longest = 1 if len(exp) <= RUN_MIN else RUN_MAX
        try:
            return self._scan([((), 0, None, longest)], limit)
        finally:
            self._let_go()

    def _let_go(self) -> None:
        """Empty and drop the picklers, and close the generators fed: a memo holds the lists
        fed to it, whose generators hold this scan (and a retry's), a cycle only the garbage
        collector would free. A check pauses it, so every scan, with its seeds and its
        pickler's memo (80,000 objects each for a boto3 resource), stayed until the check
        ended, and the first collection after it walked them all."""
        for pickler in (self.pickler, self._spent):
            if pickler is not None:
                pickler.clear_memo()
        self.pickler = self._spent = self.carry = None
        self._feeding = None
        # A feed a failure stopped is kept by what it showed under way (see UnderWay),
        # and its frame holds the scan: closed, it holds nothing.
        for feed in self._feeds:
            feed.close()  # type: ignore[attr-defined]
        self._feeds.clear()

    def _scan(self, resume: list[_Resume], limit: int) -> list[Failure]:
        base = min(len(prefix) for prefix, _, _, _ in resume)
        ends = {prefix: end for prefix, _, end, _ in resume}
        runs_at = {prefix: longest for prefix, _, _, longest in resume}
        failures: list[Failure] = []
        while resume and len(failures) < limit and not deadline.expired():
            if self.pickler is None:  # after a failure: made only if there is more to scan
                self.pickler = self._fresh_pickler()
            self.progress[:] = []
            self._feeding = None
            try:
                self.backend.run(self.pickler, self._feed(self._chain(resume)))
                carry_on(self.carries, failures,
                         saved_since(self.pickler, self._fresh, self.seeds))
                break
            except _FATAL:
                raise
            except BaseException as exc:  # noqa: BLE001 - any failure is a finding
                self._spent = self.pickler
                if type(exc) is _Known and self._known is not None:
                    # Not pickled: what was saved before it is what a dump of it that
                    # failed would have left saved in full (see completed_memo). Only a
                    # pure-Python pickler's failures show what was under way, so the
                    # pickler whose feed raised has a memo to read.
                    shown: UnderWay | None = self._known
                    exc = self._known.exc
                    self.carry = dict(memo_of_pickler(self.pickler) or {})
                else:
                    frames = frames_of(self.pickler, exc)
                    self.carry = completed_memo(self.pickler, exc, self._mark, frames)
                    shown = under_way(self.pickler, exc, frames)
                drop_traceback(exc)  # its frames would keep this pickler's memo alive
                path = tuple(self.progress)
                if len(path) <= base:
                    self.pickler = self.carry = None
                    break  # not an item's failure (cannot happen; never loop on it)
                prefix = path[:-1]
                feeding, located, again = self._feeding, False, None
                if feeding is not None and feeding[0] == len(prefix) and feeding[1] == path[-1]:
                    located = True
                    if not feeding[3]:
                        path = prefix + (self._failed_at(prefix, path[-1], feeding[2]),)
                    else:
                        lo, hi = self._flat_failed(prefix, path[-1], feeding[2])
                        path = prefix + (lo,)
                        # A flat level's items are fed without the checks the others pass
                        # (see _special): one that needs them is pickled again, on its own.
                        if hi - lo > 1 or self._special(self.levels[prefix].objs[lo],
                                                        self._owners[prefix]) not in ("", "known"):
                            again = hi
                if again is not None:
                    # Go on with the retry's pickler (it ends with nothing half-saved).
                    retry = Scan(self.backend, self.protocol, self.blocked, self.seeds,
                                 self.levels, self._owners, self._flat, self.good)
                    retry._spent, self._spent = self._spent, None
                    retry._known = self._known
                    self.carry = None
                    failures += retry._scan([(prefix, path[-1], again, 1)],
                                            limit - len(failures))
                    self.carries.update(retry.carries)
                    self.under_way.update(retry.under_way)
                    self.used_good |= retry.used_good
                    self._feeds += retry._feeds
                    self.pickler, self._fresh = retry.pickler, retry._fresh
                    after = again
                else:
                    failures.append((path, exc))
                    if self.carry:
                        self.carries[path] = self.carry
                    if shown is not None:
                        self.under_way[path] = shown
                    if located:
                        # What the run saved is the failing item's own search's to skip;
                        # the next pickler starts afresh, as after a retried run (carried
                        # on from failure to failure, a dill scan's memo would be copied
                        # whole for each of them).
                        self.carry = None
                    failing = self.levels[prefix].objs[path[-1]]
                    self.blocked.add(id(failing))
                    seed(self.seeds, failing)
                    if shown is not None:
                        seed_below(self.seeds, shown, failing, self._levels_on(path))
                    # This pickler's memo holds what the failed save left half-saved.
                    self.pickler = None
                    after = path[-1] + 1
                # Go on after it, then after what led to it at every outer level.
                resume = [(prefix, after, ends.get(prefix), runs_at.get(prefix, RUN_MAX))]
                for depth in range(len(path) - 2, base - 1, -1):
                    outer = path[:depth]
                    resume.append((outer, path[depth] + 1, ends.get(outer),
                                   runs_at.get(outer, RUN_MAX)))
                # (Past a level's last item there is nothing to resume: no fresh pickler.)
                resume = [r for r in resume
                          if r[1] < (len(self.levels[r[0]].objs) if r[2] is None else r[2])]
        return failures

    def _levels_on(self, path: tuple[int, ...]) -> list[frozenset[int]]:
        """The ids of the items of each level on ``path`` (see :func:`seed_below`), each
        level's found once per scan: a union per failure copied a level of 100,000
        records a hundred times."""
        sets = []
        for depth in range(len(path)):
            prefix = path[:depth]
            ids = self._level_ids.get(prefix)
            if ids is None:
                ids = self._level_ids[prefix] = frozenset(map(id, self.levels[prefix].objs))
            sets.append(ids)
        return sets

    def _failed_at(self, prefix: tuple[int, ...], start: int, feed: Iterator[Any]) -> int:
        """The index of the item that failed in a run fed from ``start`` through ``feed``:
        the last one drawn (the pickler draws an item once it has saved the one before,
        and every batch starts with None). Those before it were saved whole."""
        objs = self.levels[prefix].objs
        drawn = _drawn(feed, objs)
        self.blocked.update(map(id, objs[start:drawn - 1]))
        return drawn - 1

    def _chain(self, resume: list[_Resume]) -> Iterator[Any]:
        if len(resume) == 1:
            yield from self._items(*resume[0], fill=self.filler)
            return
        count = 0
        for prefix, start, end, longest in resume:
            for item in self._items(prefix, start, end, longest, fill=False):
                if self.filler and count % _C_BATCH == 0:
                    count += 1
                    yield None
                count += 1
                yield item

    def _items(self, prefix: tuple[int, ...], start: int, end: int | None, longest: int,
               fill: bool) -> Iterator[Any]:
        """Items at ``prefix`` from ``start``, in runs of at most ``longest``; drawing one
        moves the position to it. With ``fill``, each C pickler batch starts with None.

        Drawing the next item also means the last one was saved (a real item is never
        the first of a C pickler batch, the only one it draws before saving the one
        before): saved items join ``blocked``, so a later reference at a fed level is
        skipped, as a memo hit would be, even after a failure has reset the memo.
        """
        objs = self.levels[prefix].objs
        stop = len(objs) if end is None else end
        if longest > 1 and self._flatness(prefix)[0]:
            yield from self._flat_items(prefix, start, stop, fill)
            return
        progress, depth, count, j = self.progress, len(prefix), 0, start
        blocked, owners, good = self.blocked, self._owners[prefix], self.good
        known = self._known.deferred if self._known is not None else None
        progress[:] = prefix
        size = min(RUN_MIN, longest)
        while j < stop:
            obj = objs[j]
            if size == 1 and type(obj) in ATOMS:
                j += 1  # item by item, an atom (which never fails) is not fed at all
                continue
            special = self._special(obj, owners)
            if special == "blocked":
                j += 1
                # A run of them (a second reference to a level saved whole: an index of
                # the records) is skipped at C speed.
                while j < stop and blocked.issuperset(
                        map(id, run := objs[j:min(j + RUN_MAX, stop)])):
                    j += len(run)
                continue
            if fill and count % _C_BATCH == 0:
                count += 1
                progress[depth:] = (j,)
                yield None
            count += 1
            if special or size == 1:
                progress[depth:] = (j,)
                self._mark = memo_size(self.pickler)
                if special == "known":
                    raise _Known  # it fails here, as its dump would (see _scan)
                if special == "nest":
                    yield self._nested(prefix + (j,), obj)
                else:
                    started = perf_counter()
                    yield obj
                    if good is not None:
                        good.remember((obj,), perf_counter() - started)
                blocked.add(id(obj))
                j += 1
                continue
            window = objs[j:min(j + size, stop)]
            if (blocked.isdisjoint(map(id, window)) and not holds_big(window)
                    and (good is None or good.isdisjoint(window))
                    and (known is None or known.isdisjoint(map(id, window)))):
                k = j + len(window)  # the common case, checked at C speed
            else:
                k = j + 1
                while k < stop and k - j < size and not self._special(objs[k], owners):
                    k += 1
                window = objs[j:k]
            progress[depth:] = (j,)
            self._mark = memo_size(self.pickler)
            started = perf_counter()
            if k - j == 1:
                yield obj
            else:
                # Drawn from an iterator of the level (a list or tuple: see
                # walker.Expansion), whose position says which one failed (see _failed_at):
                # for a C pickler, as a nested list drawn at C speed, starting with None
                # (runs are shorter than its batches); dill's takes one item at a time.
                feed = iter(objs)
                feed.__setstate__(j)  # type: ignore[attr-defined]
                self._feeding = (depth, j, feed, False)
                drawn = itertools.islice(feed, k - j)
                if self.filler:
                    yield FedList(itertools.chain(_NONE, drawn))
                else:
                    yield from drawn
                self._feeding = None
            if good is not None:
                good.remember(window, perf_counter() - started)
            blocked.update(map(id, window))
            j = k
            size = min(size * 2, longest)

    def _flat_items(self, prefix: tuple[int, ...], start: int, stop: int,
                    fill: bool) -> Iterator[Any]:
        """A flat level's items from ``start`` as one nested list, drawn at the pickler's
        speed (see :meth:`_window`); where its atoms are memoized ones, slices doubling up
        to :data:`FLAT_MAX` items are looked at first, and one of atoms only is passed
        over. A single item goes through the usual checks (known culprits are skipped,
        big containers fed)."""
        objs, progress, depth = self.levels[prefix].objs, self.progress, len(prefix)
        census = self._flatness(prefix)[1]
        progress[:] = prefix
        count, j, size = 0, start, RUN_MIN
        while j < stop:
            k = stop
            if census:
                k = min(j + size, stop)
                size = min(size * 2, FLAT_MAX)
                classes = list(map(type, objs[j:k]))
                # (All of one type is counted faster than each type is looked up.)
                if (classes[0] in ATOMS and classes.count(classes[0]) == len(classes)
                        or ATOMS.issuperset(classes)):
                    j = k  # atoms only: nothing here can fail
                    continue
            if k - j == 1:
                yield from self._items(prefix, j, k, 1, fill and count % _C_BATCH == 0)
                count, j = count + 1, k
                continue
            if fill and count % _C_BATCH == 0:
                count += 1
                progress[depth:] = (j,)
                yield None
            count += 1
            progress[depth:] = (j,)
            self._mark = memo_size(self.pickler)
            window, feed = self._window(objs, j, k)
            self._feeding = (depth, j, feed, True)
            yield window
            self._feeding = None
            j = k

    def _window(self, objs: Sequence[Any], start: int, end: int
                ) -> tuple[FedList, Iterator[Any]]:
        """Items ``start`` to ``end`` of ``objs`` as a nested list drawn from an iterator of
        ``objs`` at C speed (no copy of them is made), and that iterator, whose position
        names the item that failed (see :meth:`_flat_failed`)."""
        feed = iter(objs)
        feed.__setstate__(start)  # type: ignore[attr-defined]
        return FedList(feed if end == len(objs) else itertools.islice(feed, end - start)), feed

    def _flat_failed(self, prefix: tuple[int, ...], start: int, feed: Iterator[Any]
                     ) -> tuple[int, int]:
        """The items (``lo`` to ``hi``) of a flat window fed from ``start`` through ``feed``
        one of which failed: the last one drawn (see :meth:`_failed_at`), but a C pickler
        takes the second item of each of its batches (of 1000, from the window's first) before
        it saves the first, and no None goes before them here (one per batch would cost a
        third of the pickler's time). Then it is the one that is not an atom, or either."""
        objs = self.levels[prefix].objs
        drawn = _drawn(feed, objs)
        if self.filler and drawn - start >= 2 and (drawn - start - 2) % _C_BATCH == 0:
            if type(objs[drawn - 1]) in ATOMS:
                return drawn - 2, drawn - 1
            if type(objs[drawn - 2]) not in ATOMS:
                return drawn - 2, drawn
        return drawn - 1, drawn

    def _flatness(self, prefix: tuple[int, ...]) -> tuple[bool, bool]:
        """Whether the level is flat (long, and nearly every sampled item an atom or a small
        list, tuple, dict or set: rows), and whether its atoms are ones the pickler
        memoizes (then types are checked instead)."""
        known = self._flat.get(prefix)
        if known is None and len(self.levels[prefix].objs) < FLAT_MIN:
            known = self._flat[prefix] = (False, False)
        if known is None:
            objs = self.levels[prefix].objs
            step = max(1, len(objs) // _FLAT_SAMPLE)
            sampled = [objs[i] for i in range(0, len(objs), step)]
            types = list(map(type, sampled))
            plain = sum(t in ATOMS or (t in _NESTABLE_SET and len(obj) < NEST_MIN)
                        for obj, t in zip(sampled, types, strict=True))
            flat = len(objs) >= FLAT_MIN and plain * 8 >= len(sampled) * 7
            known = self._flat[prefix] = (flat, flat and not _MEMOIZED_ATOMS.isdisjoint(types))
        return known

    def _special(self, obj: Any, owners: tuple[int, ...]) -> str:
        """"blocked" (not to be pickled), "nest" (a big container to feed item by item),
        "known" (under way when the dump that led here failed: see :meth:`run`), or ""
        (a plain item, fine in a run)."""
        if self.blocked and id(obj) in self.blocked:
            return "blocked"
        if self.good is not None and self.good.holds(obj):
            self.used_good = True
            return "blocked"
        if (type(obj) in NESTABLE and len(obj) >= NEST_MIN
                and id(obj) not in owners and id(obj) not in self._fed):
            return "nest"
        if self._known is not None and fails_with(
                self._known, obj, self.seeds, memo_of_pickler(self.pickler)):
            return "known"
        return ""

    def _nested(self, path: tuple[int, ...], container: Any) -> FedList:
        # Fed once per scan: a second reference is pickled whole (and memoized).
        self._fed.add(id(container))
        self.levels[path] = expand(container, self.backend, self.protocol)
        self._owners[path] = self._owners[path[:-1]] + (id(container),)
        return self._feed(self._items(path, 0, None, RUN_MAX, fill=self.filler))

    def _feed(self, items: Iterator[Any]) -> FedList:
        """``items`` (a generator of this scan's) as a list to pickle, closed when the scan
        ends (see :meth:`_let_go`)."""
        self._feeds.append(items)
        return FedList(items)

