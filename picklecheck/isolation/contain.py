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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["ISOLATIONS", "LoadOutcome", "Probe", "load", "load_many"]

ISOLATIONS = ("sandbox", "process", "guarded")
_FATAL = (KeyboardInterrupt, SystemExit)


@dataclass
class LoadOutcome:
    """How one load went.

    ``exc`` is what the load raised (None when it loaded). ``side_effects`` lists
    what the load tried that the confinement refused (a write, a connect, a signal,
    a subprocess), each as a sentence naming what and on what. ``unusable`` is what
    the caller's probe said about the loaded copy ("its lock can never be acquired"),
    None when the copy is fine or no probe was given; ``ok`` is false then too.
    """

    ok: bool
    exc: BaseException | None = None
    isolation: str = "guarded"
    seconds: float = 0.0
    side_effects: list[str] = field(default_factory=list)
    unusable: str | None = None  # what the probe found wrong with the loaded copy


#: Looks at a loaded copy where it was loaded; returns what is wrong with it, or None.
Probe = Callable[[Any], "str | None"]


def load(backend: Backend, data: bytes, probe: Probe | None = None) -> LoadOutcome:
    """Load ``data`` with ``backend`` and say how it went."""
    return load_many(backend, [data], probe)[0]


def load_many(backend: Backend, payloads: Sequence[bytes],
              probe: Probe | None = None) -> list[LoadOutcome]:
    """Load each payload on its own (one outcome each, in order); ``probe`` looks at
    each loaded copy where it was loaded."""
    return [_load_guarded(backend, data, probe) for data in payloads]


def _load_guarded(backend: Backend, data: bytes, probe: Probe | None) -> LoadOutcome:
    start = time.perf_counter()
    try:
        copy = backend.loads(data)
        unusable = probe(copy) if probe is not None else None
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - every failure is a finding
        exc.__traceback__ = None
        return LoadOutcome(False, exc, "guarded", time.perf_counter() - start)
    seconds = time.perf_counter() - start
    return LoadOutcome(unusable is None, None, "guarded", seconds, unusable=unusable)
