"""Graph builders for the benchmarks: session-state-like dicts of records.

A graph looks like what an app keeps between requests::

    {"records": [Record, ...],          # the data, in load order
     "index":   {record.key: Record},   # a lookup table sharing the same records
     "config":  {...}}                  # a few dozen settings

Each :class:`Record` holds a unique key (str), a score (float), a list of two tag
strings and a ``meta`` dict ``{"owner": str, "history": [float, float]}``: 12
distinct objects per record, counting the instance and its ``__dict__`` (see
:func:`count_objects` for the exact rule).

Culprits (by default ``threading.Lock()``) replace one value in chosen records, at
varied depth: the record's ``score`` attribute, ``meta['owner']``,
``meta['history'][1]`` or ``tags[0]``. Records and slots are drawn with a fixed
seed. The clean twin of a graph (``culprit="none"``) has ``None`` in the same
slots and is otherwise identical; it is what the baselines pickle.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["OBJECTS_PER_RECORD", "Record", "build", "count_objects"]

OBJECTS_PER_RECORD = 12
_CONFIG_OBJECTS = 60  # about: see _config()


class Record:
    """One row of app state: a plain instance with a few attributes."""

    def __init__(self, key: str, score: Any, tags: list[Any], meta: dict[str, Any]) -> None:
        self.key = key
        self.score = score
        self.tags = tags
        self.meta = meta


def _generator() -> Any:
    yield 1


CULPRITS: dict[str, Callable[[], Any]] = {
    "lock": threading.Lock,
    "generator": _generator,
    "none": lambda: None,
}

# Where a culprit goes, and the path picklecheck should report (after "obj['records'][i]").
_SLOTS: tuple[tuple[str, str], ...] = (
    ("attr", ".score"),
    ("dict", ".meta['owner']"),
    ("list", ".meta['history'][1]"),
    ("tags", ".tags[0]"),
)


def _record(i: int) -> Record:
    return Record(
        key=f"rec-{i:07d}",
        score=i / 7.0,
        tags=[f"tag{i % 50}", f"group{i % 7}"],
        meta={"owner": f"user{i % 1000}", "history": [i * 0.5, i * 0.25]},
    )


def _plant(record: Record, slot: str, value: Any) -> None:
    if slot == "attr":
        record.score = value
    elif slot == "dict":
        record.meta["owner"] = value
    elif slot == "list":
        record.meta["history"][1] = value
    else:
        record.tags[0] = value


def _config() -> dict[str, Any]:
    return {
        "version": "2.3.1",
        "debug": False,
        "features": [f"feature-{k}" for k in range(20)],
        "limits": {f"limit_{k}": k * 10.5 for k in range(15)},
        "theme": {"primary": "#123456", "font": "Inter", "sizes": [12.0, 14.0, 18.0]},
    }


def build(n_objects: int, n_culprits: int, culprit: str = "lock",
          seed: int = 0) -> tuple[dict[str, Any], list[str]]:
    """A graph of about ``n_objects`` objects with ``n_culprits`` planted culprits.

    Returns the graph and the expected culprit paths (rooted at ``obj``), sorted.
    With ``culprit="none"`` the same slots hold ``None`` (the clean twin).
    """
    n_records = max(1, (n_objects - _CONFIG_OBJECTS) // OBJECTS_PER_RECORD)
    if n_culprits > n_records:
        msg = f"{n_culprits} culprits need at least as many records, not {n_records}"
        raise ValueError(msg)
    records = [_record(i) for i in range(n_records)]
    rng = random.Random(seed)
    make = CULPRITS[culprit]
    expected = []
    for i in sorted(rng.sample(range(n_records), n_culprits)):
        slot, suffix = rng.choice(_SLOTS)
        _plant(records[i], slot, make())
        expected.append(f"obj['records'][{i}]{suffix}")
    graph = {
        "records": records,
        "index": {r.key: r for r in records},
        "config": _config(),
    }
    return graph, expected


def count_objects(root: Any) -> int:
    """Distinct objects (by ``id``) reachable through dicts (keys and values), lists,
    tuples and instance ``__dict__``\\ s, the root and every str, float and int
    included; classes are not counted."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        t = type(obj)
        if t is dict:
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif t is list or t is tuple:
            stack.extend(obj)
        elif t is Record:
            stack.append(obj.__dict__)
    return len(seen)
