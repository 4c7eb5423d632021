"""The user's own code: classes an application defines in its own module.

They live at module level, as they would in an installed app, so they pickle by
reference and load in a fresh interpreter; what fails is what they hold.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


class Services:
    """An app's bag of long-lived helpers: the usual thing users try to ship to workers."""

    def __init__(self, **parts: Any) -> None:
        self.__dict__.update(parts)


class JobRunner:
    """Holds a ``queue.Queue``: the fix belongs here, not in the standard library."""

    def __init__(self, jobs: Any) -> None:
        self.name = "runner"
        self.jobs = jobs


class Reader:
    """Keeps a generator of rows as an attribute (the PyTorch-dataset mistake)."""

    def __init__(self, rows: Any) -> None:
        self.path = "rows.csv"
        self.rows = rows


class Widget:
    """A node of a parent/child object model, shaped like matplotlib's Artist tree.

    The first attribute leads back to the parent and many settings come before the one
    that holds the culprit: the shape issue 8 item 1 describes.
    """

    def __init__(self, parent: Any = None) -> None:
        self.parent = parent
        self.children: list[Widget] = []
        for i in range(10):
            setattr(self, f"setting{i}", i)
        self.on_click: Any = None
        if parent is not None:
            parent.children.append(self)


class Cache:
    """A lock-guarded cache, as apps write them."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self._lock = threading.RLock()


def lock_is_free(lock: Any) -> bool:
    """Probe: can this lock be acquired? (False on dill's copy of a held-looking RLock)."""
    if not lock.acquire(timeout=0.5):
        return False
    lock.release()
    return True


@dataclass
class RateLimiter:
    """A dataclass with a lock field made by ``default_factory``."""

    rate: float
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class AuditLog:
    """Keeps a file open for writing (dill would re-open it with mode "w" on load)."""

    def __init__(self, path: Any) -> None:
        self.path = str(path)
        self.out = open(path, "w")  # noqa: SIM115 - held open on purpose, closed by teardown
        self.out.write("started\n")
        self.out.flush()
