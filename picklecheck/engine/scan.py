"""Pickling a node's children with the backend's own pickler, and knowing where it failed.

The children are fed to the real pickler through generators (the pickler saves an
iterator's items as it draws them), so when it raises, the generators' position
says what it was saving. Plain children go in runs (one slice each, pickled at C
speed; see :data:`RUN_MIN`); big plain containers among them (lists, tuples,
dicts, sets) are fed the same way one level further down, so a failure deep inside
``obj['records']`` is placed at ``obj['records'][4882]`` in the same pass. When a
run fails, only that run is pickled again, in short runs and then item by item, with
a fresh pickler (its failed attempt left half-saved objects in the memo). After a failure the scan
resumes right after the failing item or run, at every level, with the same
pickler: what was already saved is a memo hit, so a scan costs about one dump.

Two details keep the position exact:

* the C pickler takes the *second* item of each batch of 1000 before it saves the
  first, so every batch starts with a harmless ``None``;
* dill's pure-Python pickler is set to batches of one item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from picklecheck.engine.walker import Expansion, expand
from picklecheck.isolation import deadline

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["NESTABLE", "NEST_MIN", "FedList", "Failure", "Scan"]

_C_BATCH = 1000
#: Containers with at least this many items are fed item by item.
NEST_MIN = 8
#: Plain items are fed in slices: RUN_MIN first, doubling while none fails, up to
#: RUN_MAX; after a failure, again from RUN_MIN (small retries near culprits, few
#: slices where there are none).
RUN_MIN, RUN_MAX = 16, 64
NESTABLE = (list, tuple, dict, set, frozenset)
_NESTABLE_SET = frozenset(NESTABLE)
_FATAL = (KeyboardInterrupt, SystemExit)

#: A failing item: its index path through the fed levels, and what was raised.
Failure = tuple[tuple[int, ...], BaseException]
#: Where to go on: the level's path, the first index, the end (None: all), the longest
#: run (1: item by item).
_Resume = tuple[tuple[int, ...], int, "int | None", int]


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
    """

    def __init__(self, backend: Backend, protocol: int, blocked: set[int],
                 levels: dict[tuple[int, ...], Expansion] | None = None,
                 owners: dict[tuple[int, ...], tuple[int, ...]] | None = None) -> None:
        self.backend = backend
        self.protocol = protocol
        self.blocked = blocked
        self.pickler = backend.scan_pickler(protocol)
        self.filler = backend.reads_ahead and protocol > 0
        self.levels = {} if levels is None else levels
        self._owners = {} if owners is None else owners
        self._fed: set[int] = set()
        self.progress: list[int] = []
        self._run: tuple[int, int, int] | None = None  # (depth, start, end) being saved

    def run(self, node: Any, exp: Expansion, limit: int) -> list[Failure]:
        self.levels[()] = exp
        self._owners[()] = (id(node),)
        return self._scan([((), 0, None, RUN_MAX)], limit)

    def _scan(self, resume: list[_Resume], limit: int) -> list[Failure]:
        base = min(len(prefix) for prefix, _, _, _ in resume)
        ends = {prefix: end for prefix, _, end, _ in resume}
        runs_at = {prefix: longest for prefix, _, _, longest in resume}
        failures: list[Failure] = []
        while resume and len(failures) < limit and not deadline.expired():
            self.progress[:] = []
            self._run = None
            try:
                self.backend.run(self.pickler, FedList(self._chain(resume)))
                break
            except _FATAL:
                raise
            except BaseException as exc:  # noqa: BLE001 - any failure is a finding
                exc.__traceback__ = None  # its frames would keep this pickler's memo alive
                path, run = tuple(self.progress), self._run
                if len(path) <= base:
                    break  # not an item's failure (cannot happen; never loop on it)
                prefix = path[:-1]
                if run is not None and run[0] == len(prefix) and run[1] == path[-1]:
                    # A run failed: pickle it again in short runs, or item by item, with
                    # a fresh pickler (this one's memo holds what it left half-saved).
                    retry = Scan(self.backend, self.protocol, self.blocked, self.levels,
                                 self._owners)
                    shorter = RUN_MIN if run[2] - run[1] > RUN_MIN else 1
                    failures += retry._scan([(prefix, run[1], run[2], shorter)],
                                            limit - len(failures))
                    after = run[2]
                else:
                    failures.append((path, exc))
                    self.blocked.add(id(self.levels[prefix].objs[path[-1]]))
                    after = path[-1] + 1
                # Go on after it, then after what led to it at every outer level.
                resume = [(prefix, after, ends.get(prefix), runs_at.get(prefix, RUN_MAX))]
                for depth in range(len(path) - 2, base - 1, -1):
                    outer = path[:depth]
                    resume.append((outer, path[depth] + 1, ends.get(outer),
                                   runs_at.get(outer, RUN_MAX)))
                resume = [r for r in resume if r[2] is None or r[1] < r[2]]
        return failures

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
        moves the position to it. With ``fill``, each C pickler batch starts with None."""
        objs = self.levels[prefix].objs
        stop = len(objs) if end is None else end
        progress, depth, count, j = self.progress, len(prefix), 0, start
        blocked, owners = self.blocked, self._owners[prefix]
        progress[:] = prefix
        size = min(RUN_MIN, longest)
        while j < stop:
            if fill and count % _C_BATCH == 0:
                count += 1
                progress[depth:] = (j,)
                yield None
            count += 1
            obj = objs[j]
            special = self._special(obj, owners)
            if special or size == 1:
                progress[depth:] = (j,)
                self._run = None
                if special == "blocked":
                    yield None
                elif special == "nest":
                    yield self._nested(prefix + (j,), obj)
                else:
                    yield obj
                j += 1
                continue
            window = objs[j:min(j + size, stop)]
            if blocked.isdisjoint(map(id, window)) and _NESTABLE_SET.isdisjoint(map(type, window)):
                k = j + len(window)  # the common case, checked at C speed
            else:
                k = j + 1
                while k < stop and k - j < size and not self._special(objs[k], owners):
                    k += 1
            progress[depth:] = (j,)
            self._run = (depth, j, k) if k - j > 1 else None
            yield objs[j:k] if k - j > 1 else obj
            j = k
            size = min(size * 2, longest)

    def _special(self, obj: Any, owners: tuple[int, ...]) -> str:
        """"blocked" (not to be pickled), "nest" (a big container to feed item by item),
        or "" (a plain item, fine in a run)."""
        if self.blocked and id(obj) in self.blocked:
            return "blocked"
        if (type(obj) in NESTABLE and len(obj) >= NEST_MIN
                and id(obj) not in owners and id(obj) not in self._fed):
            return "nest"
        return ""

    def _nested(self, path: tuple[int, ...], container: Any) -> FedList:
        # Fed once per scan: a second reference is pickled whole (and memoized).
        self._fed.add(id(container))
        self.levels[path] = expand(container, self.backend, self.protocol)
        self._owners[path] = self._owners[path[:-1]] + (id(container),)
        return FedList(self._items(path, 0, None, RUN_MAX, fill=self.filler))

