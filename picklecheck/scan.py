"""Pickling a node's children with the backend's own pickler, and knowing where it failed.

The children are fed to the real pickler through generators (the pickler saves an
iterator's items as it draws them), so when it raises, the generators' position
says which child it was saving. Big plain containers among the children (lists,
tuples, dicts, sets) are fed the same way, one level further down, so a failure
deep inside ``obj['records']`` is placed at ``obj['records'][4882]`` in the same
pass. After a failure the scan resumes right after the failing item, at every
level, with the same pickler: what was already saved is a memo hit, and the whole
scan costs about one dump of the node.

Two details make the position exact:

* the C pickler takes the *second* item of each batch of 1000 before it saves the
  first, so every batch starts with a harmless ``None``;
* dill's pure-Python pickler is set to batches of one item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from picklecheck.walker import Expansion, expand

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["Failure", "Scan"]

_C_BATCH = 1000
#: Containers with at least this many items are fed item by item.
NEST_MIN = 8
_NESTABLE = (list, tuple, dict, set, frozenset)
_FATAL = (KeyboardInterrupt, SystemExit)

#: A failing item: its index path through the fed levels, and what was raised.
Failure = tuple[tuple[int, ...], BaseException]


class _Seq:
    """Pickles as ``list(items)``, drawing the items from a generator."""

    __slots__ = ("items",)

    def __init__(self, items: Iterator[Any]) -> None:
        self.items = items

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return (list, (), None, self.items)


class Scan:
    """One scan of one node's children (see the module docstring).

    ``levels`` maps an index path to the :class:`Expansion` fed at that level
    (``()`` is the node's own), so a failure's path can be named step by step.
    """

    def __init__(self, backend: Backend, protocol: int, skip: set[int] | frozenset[int]) -> None:
        self.backend = backend
        self.protocol = protocol
        self.pickler = backend.scan_pickler(protocol)
        self.filler = backend.reads_ahead and protocol > 0
        self.levels: dict[tuple[int, ...], Expansion] = {}
        self._owners: dict[tuple[int, ...], tuple[int, ...]] = {}
        self._fed: set[int] = set()
        self._blocked = set(skip)  # known culprits, and objects that failed in this scan
        self.progress: list[int] = []

    def run(self, node: Any, exp: Expansion, limit: int | None = None) -> list[Failure]:
        self.levels[()] = exp
        self._owners[()] = (id(node),)
        failures: list[Failure] = []
        resume: list[tuple[tuple[int, ...], int]] = [((), 0)]
        while resume and (limit is None or len(failures) < limit):
            try:
                self.backend.run(self.pickler, _Seq(self._chain(resume)))
                break
            except _FATAL:
                raise
            except BaseException as exc:  # noqa: BLE001 - any failure is a finding
                path = tuple(self.progress)
                failures.append((path, exc))
                # Further references to the same object are not failures of their own.
                self._blocked.add(id(self.levels[path[:-1]].objs[path[-1]]))
                # Go on after the failing item, innermost level first.
                resume = [(path[:depth], path[depth] + 1) for depth in range(len(path))]
        return failures

    def _chain(self, resume: list[tuple[tuple[int, ...], int]]) -> Iterator[Any]:
        if len(resume) == 1:
            yield from self._items(*resume[0], fill=self.filler)
            return
        count = 0
        for prefix, start in reversed(resume):
            for item in self._items(prefix, start, fill=False):
                if self.filler and count % _C_BATCH == 0:
                    count += 1
                    yield None
                count += 1
                yield item

    def _items(self, prefix: tuple[int, ...], start: int, fill: bool) -> Iterator[Any]:
        """The items at ``prefix`` from ``start``; drawing one moves the position to it.
        With ``fill``, each batch of the C pickler starts with None."""
        objs = self.levels[prefix].objs
        owners = self._owners[prefix]
        progress, blocked, depth = self.progress, self._blocked, len(prefix)
        count = 0
        for j in range(start, len(objs)):
            progress[depth:] = (j,)
            if fill and count % _C_BATCH == 0:
                count += 1
                yield None
            count += 1
            obj = objs[j]
            if blocked and id(obj) in blocked:
                yield None
            elif (type(obj) in _NESTABLE and len(obj) >= NEST_MIN
                  and id(obj) not in owners and id(obj) not in self._fed):
                yield self._nested(prefix + (j,), obj)
            else:
                yield obj

    def _nested(self, path: tuple[int, ...], container: Any) -> _Seq:
        # Fed once per scan: a second reference is pickled whole (and memoized).
        self._fed.add(id(container))
        self.levels[path] = expand(container, self.backend, self.protocol)
        self._owners[path] = self._owners[path[:-1]] + (id(container),)
        return _Seq(self._items(path, 0, fill=self.filler))
