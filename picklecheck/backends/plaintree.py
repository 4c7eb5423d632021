"""Trees of plain data, found at C speed.

A tree of plain data holds only None, bools, numbers, strings and bytes, in dicts, lists,
tuples, sets and exact ``OrderedDict`` s without attributes: a library's parsed JSON
(botocore's service models: 30,000 ``OrderedDict`` s), a cache of rows, settings. Every
backend pickles one as pickle does (the C pickler saves those types itself, and neither
dill nor cloudpickle has a save function of its own for them), and nothing in one can
fail short of the stack: where a dump or a search only needs to know whether something
fails, it can pass over such a tree without pickling it, once :func:`containers` has
found that it is one.
"""

from __future__ import annotations

import gc
import itertools
import operator
import sys
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["NESTED", "PASSED_OVER", "NotPlain", "PassOver", "Trees", "containers"]

#: The containers of plain data.
NESTED = frozenset({dict, OrderedDict, list, tuple, set, frozenset})
_PLAIN = NESTED | {type(None), bool, int, float, str, bytes}
_IS_NESTED = NESTED.__contains__
_IS_OD = frozenset({OrderedDict}).__contains__
#: From Python 3.13 an instance's ``__dict__`` may leave its values in the instance
#: ("inline values"), and then its referents are empty: the instance, not the dict,
#: reports them to the garbage collector.
_VALUES_MAY_HIDE = sys.version_info >= (3, 13)


class NotPlain(Exception):  # noqa: N818 - control flow, not an error
    """Raised by :func:`containers`: the tree holds more than plain data."""


def containers(obj: Any, bound: int, known: dict[int, Any]) -> list[Any] | None:
    """The containers of ``obj`` (an exact dict, list, tuple, set or ``OrderedDict``), if it
    is a tree of plain data, but those under one in ``known`` (ids: a pickler's memo, or
    trees found plain before); :class:`NotPlain` if it holds anything else (classes and
    functions included, which dill and cloudpickle may save by value). None if it could
    nest more than ``bound`` levels deep.

    Found level by level, each at C speed (``gc.get_referents`` runs no one's code); a
    level holds every container reached by a path of that length, so the levels end
    within ``bound`` only if no path is longer, a pickler's included (a cycle never ends:
    None). A dict's ``str`` keys are not among its referents: a dict whose keys are all
    exact strings keeps them so. Empty containers are left out: nothing nests in them."""
    found: list[Any] = []
    level = [obj]
    _no_attributes(level)
    for _ in range(bound):
        found += level
        parts = gc.get_referents(*level)
        if _VALUES_MAY_HIDE:
            parts += _hidden_values(level)
        types = list(map(type, parts))  # once: each pass over 150,000 parts costs
        kinds = set(types)
        if not _PLAIN.issuperset(kinds):
            raise NotPlain
        if OrderedDict in kinds and any(map(vars, itertools.compress(parts, map(_IS_OD, types)))):
            raise NotPlain  # empty ones too (left out below)
        nested = list(filter(None, itertools.compress(parts, map(_IS_NESTED, types))))
        below = dict(zip(map(id, nested), nested, strict=True))  # each once
        for key in below.keys() & known.keys():
            del below[key]
        if not below:
            return found
        level = list(below.values())
    return None


def _hidden_values(level: list[Any]) -> list[Any]:
    """The values of the exact dicts in ``level`` whose referents leave them out (an
    instance's ``__dict__`` on Python 3.13: see :data:`_VALUES_MAY_HIDE`), found at C
    speed: a dict's referents hold at least its values otherwise."""
    dicts = list(itertools.compress(level, map(operator.is_, map(type, level),
                                               itertools.repeat(dict))))
    if not dicts:
        return []
    hiding = itertools.compress(dicts, map(operator.gt, map(len, dicts),
                                           map(len, map(gc.get_referents, dicts))))
    return list(itertools.chain.from_iterable(map(dict.values, hiding)))


def _no_attributes(objs: list[Any]) -> None:
    """:class:`NotPlain` if an ``OrderedDict`` among ``objs`` has attributes: they are
    saved too (as its state), and may be anything."""
    if any(map(vars, itertools.compress(objs, map(_IS_OD, map(type, objs))))):
        raise NotPlain


#: How deep a tree of plain data passed over may nest (a deeper one is pickled).
PASS_LEVELS = 64
#: What :class:`PassOver` saves a tree of plain data as: an empty ``OrderedDict``.
PASSED_OVER = (OrderedDict, ())


class Trees:
    """What is known of the exact ``OrderedDict`` s met so far: which are trees of plain
    data (their containers too) and which are not, each walked once. Plain is plain for
    every backend, so one check shares one between its backends' dumps and searches (a
    boto3 client's service models are walked once, not once per backend)."""

    __slots__ = ("known", "mixed")

    def __init__(self) -> None:
        self.known: dict[int, Any] = {}  # id -> container (held, so the id stays its own)
        self.mixed: dict[int, Any] = {}  # those found not plain (or too deep), the same way

    def is_plain(self, od: OrderedDict[Any, Any]) -> bool:
        """Whether ``od`` is a tree of plain data."""
        key = id(od)
        if key in self.known:
            return True
        if key in self.mixed:
            return False
        try:
            tree = containers(od, PASS_LEVELS, self.known)
        except NotPlain:
            tree = None
        if tree is None:
            self.mixed[key] = od
            return False
        self.known.update(zip(map(id, tree), tree, strict=True))
        return True


class PassOver:
    """A reducer for exact ``OrderedDict`` s in a C pickler's dispatch table, for a dump
    that only needs to know whether something fails: a tree of plain data is saved as an
    empty one (found so through ``trees``, which knows those met before: a service model
    is walked once, at C speed, where pickling it costs a Python call per
    ``OrderedDict``); any other goes to ``otherwise``. :attr:`passed` counts the trees
    passed over (the bytes lack them)."""

    __slots__ = ("otherwise", "passed", "trees")

    def __init__(self, otherwise: Callable[[Any], Any], trees: Trees | None = None) -> None:
        self.otherwise = otherwise
        self.trees = trees if trees is not None else Trees()
        self.passed = 0

    def __call__(self, od: OrderedDict[Any, Any]) -> Any:
        return PASSED_OVER if self.is_plain(od) else self.otherwise(od)

    def is_plain(self, od: OrderedDict[Any, Any]) -> bool:
        """Whether ``od`` is a tree of plain data (then counted as passed over)."""
        if self.trees.is_plain(od):
            self.passed += 1
            return True
        return False
