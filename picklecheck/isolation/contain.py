"""Every load a check runs goes through here: round trips, the bisection of a load
failure, "which other backend copes", session-state round trips.

A load runs code (reducers, ``__setstate__``), so where it runs decides what it can
harm. :func:`load` and :func:`load_many` say how each load went as a
:class:`LoadOutcome`, whose ``isolation`` names where it ran:

* ``"sandbox"``: a child process confined by the kernel;
* ``"process"``: a child process without kernel confinement;
* ``"guarded"``: this process, through the hazard guard of
  :mod:`picklecheck.backends.hazards` (a list of refused globals, not a guarantee).

This module is the only place the engine loads bytes; callers never call
``backend.loads`` themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["ISOLATIONS", "LoadOutcome", "load", "load_many"]

ISOLATIONS = ("sandbox", "process", "guarded")
_FATAL = (KeyboardInterrupt, SystemExit)


@dataclass
class LoadOutcome:
    """How one load went.

    ``exc`` is what the load raised (None when it loaded). ``side_effects`` lists
    what the load tried that the confinement refused (a write, a connect, a signal,
    a subprocess), each as a sentence naming what and on what.
    """

    ok: bool
    exc: BaseException | None = None
    isolation: str = "guarded"
    seconds: float = 0.0
    side_effects: list[str] = field(default_factory=list)


def load(backend: Backend, data: bytes) -> LoadOutcome:
    """Load ``data`` with ``backend`` and say how it went."""
    return load_many(backend, [data])[0]


def load_many(backend: Backend, payloads: Sequence[bytes]) -> list[LoadOutcome]:
    """Load each payload on its own (one outcome each, in order)."""
    return [_load_guarded(backend, data) for data in payloads]


def _load_guarded(backend: Backend, data: bytes) -> LoadOutcome:
    start = time.perf_counter()
    try:
        backend.loads(data)
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is a finding
        exc.__traceback__ = None
        return LoadOutcome(False, exc, "guarded", time.perf_counter() - start)
    return LoadOutcome(True, None, "guarded", time.perf_counter() - start)
