"""Culprits as a person reads them: collapsed into library objects, alike ones grouped.

Plain data in, plain data out (no root object, no backend), so every renderer can
regroup any subset of a report's culprits (one backend's, one session key's) the same
way :func:`picklecheck.check` grouped them all.

1. **Collapse.** Culprits that share a :class:`~picklecheck.model.Within` (they sit
   inside one library object the user's data holds) become one unit named by that
   object; a culprit that *is* such an object joins it.
2. **Group.** Units that agree in everything but container positions (same type, kind,
   stage, reason, hint and backends, paths equal but for ``[i]`` and ``[key]`` steps)
   become one entry whose path is a pattern: ``state['messages'][0..99]`` for a run of
   indices, ``[*]`` otherwise. Every member's path stays in the entry.

With ``expand`` neither happens: one entry per culprit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from picklecheck.model import ATTR, INDEX, ITEM, OPAQUE, Culprit, Entry, PathStep, Within

__all__ = ["entries"]

_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")
_POSITION_LABELS = ("item ", "key ", "set element")


@dataclass
class _Unit:
    """One culprit, or one library object with the culprits inside it."""

    path: str
    steps: tuple[PathStep, ...]
    obj: Any
    type: str
    hint: str
    culprits: list[Culprit] = field(default_factory=list)
    inside: bool = False

    @property
    def backends(self) -> tuple[str, ...]:
        if len(self.culprits) == 1:
            return self.culprits[0].backends
        return tuple(dict.fromkeys(b for c in self.culprits for b in c.backends))

    def signature(self) -> tuple[Any, ...]:
        shape = tuple(None if _is_position(s) else (s.kind, s.value if s.kind == ATTR
                                                     else s.render())
                      for s in self.steps)
        where = (_root(self.path, self.steps), shape)  # the root too: a pattern keeps it
        if self.inside:
            return ("inside", self.type, self.hint, self.backends, where)
        c = self.culprits[0]
        return (c.kind, c.type, c.stage, c.exception, _plain(c.reason), _plain(c.hint),
                _plain(c.detail), self.backends, where)


def entries(culprits: list[Culprit], expand: bool = False) -> list[Entry]:
    """The entries of a report made of ``culprits`` (see the module docstring)."""
    if expand:
        return [_entry([_single(c)]) for c in culprits]
    groups: dict[tuple[Any, ...], list[_Unit]] = {}
    for unit in _collapse(culprits):
        groups.setdefault(unit.signature(), []).append(unit)
    return [_entry(units) for units in groups.values()]


def _single(culprit: Culprit) -> _Unit:
    return _Unit(culprit.path, culprit.steps, culprit.obj, culprit.type, culprit.hint,
                 [culprit])


def _collapse(culprits: list[Culprit]) -> list[_Unit]:
    holders: dict[int, Within] = {id(c.within.obj): c.within for c in culprits
                                  if c.within is not None}
    units: dict[int, _Unit] = {}
    for culprit in culprits:
        within = culprit.within if culprit.within is not None else holders.get(id(culprit.obj))
        if within is None:
            units[id(culprit)] = _single(culprit)
            continue
        unit = units.get(id(within.obj))
        if unit is None:
            unit = units[id(within.obj)] = _Unit(within.path, within.steps, within.obj,
                                                 within.type, within.hint, inside=True)
        unit.culprits.append(culprit)
    return list(units.values())


def _entry(units: list[_Unit]) -> Entry:
    first = units[0]
    kind = first.culprits[0].kind
    if len(units) == 1:
        return Entry(path=first.path, type=first.type, kind=kind, hint=first.hint,
                     backends=first.backends, culprits=list(first.culprits),
                     paths=[first.path], objs=[first.obj], steps=first.steps,
                     inside=first.inside)
    steps = _pattern([u.steps for u in units])
    root = _root(first.path, first.steps)
    backends = tuple(dict.fromkeys(b for u in units for b in u.backends))
    return Entry(path=root + "".join(s.render() for s in steps), type=first.type, kind=kind,
                 hint=first.hint, backends=backends,
                 culprits=[c for u in units for c in u.culprits],
                 paths=[u.path for u in units], objs=[u.obj for u in units], steps=steps,
                 inside=first.inside)


def _root(path: str, steps: tuple[PathStep, ...]) -> str:
    """What a path starts with before its steps: ``state``, ``st.session_state``."""
    return path[: len(path) - len("".join(s.render() for s in steps))]


def _pattern(paths: list[tuple[PathStep, ...]]) -> tuple[PathStep, ...]:
    """The steps the paths share, with the positions they differ in as a pattern step."""
    out = []
    for column in zip(*paths, strict=True):
        texts = {s.render() for s in column}
        if len(texts) == 1:
            out.append(column[0])
        else:
            out.append(PathStep.pattern(_span(column)))
    return tuple(out)


def _span(column: tuple[PathStep, ...]) -> str:
    """``0..99`` when the positions are a run of consecutive indices, else ``*``."""
    values = [s.value for s in column]
    if all(s.kind in (INDEX, ITEM) and type(v) is int for s, v in zip(column, values, strict=True)):
        low, high = min(values), max(values)
        if high - low + 1 == len(values) == len(set(values)):
            return f"{low}..{high}"
    return "*"


def _is_position(step: PathStep) -> bool:
    if step.kind in (INDEX, ITEM):
        return True
    return step.kind == OPAQUE and str(step.value).startswith(_POSITION_LABELS)


def _plain(text: str) -> str:
    """Text with memory addresses blanked: two lambdas differ only in where they live."""
    return _ADDRESS.sub("0x?", text)
