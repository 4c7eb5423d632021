"""Which other backends cope with a culprit on its own ("dill: ok, cloudpickle: fails").

"ok" is a claim a user acts on (switch to that backend), so it means: that backend
dumps this culprit on its own, the bytes load back, and the copy is usable where
that is cheap to check (its locks can be acquired: :mod:`.usable`). Where a
backend gets only part of the way, the culprit says how far ("dumps and loads, but
the copy's lock can never be acquired"). Nothing is decided from the type alone (a
weak reference's verdict depends on its referent), except for the few C types whose
pickled form is their type and one flag (:func:`_same_verdict`); nor from the whole
object (a backend that saves the whole object another way may never save this part).

For each backend, the culprits' bytes are loaded in one batch
(:func:`picklecheck.isolation.contain.load_many`).
"""

from __future__ import annotations

import threading
import types
from collections.abc import Sequence
from typing import Any

from picklecheck.backends import BACKEND_NAMES, Backend, get_backend
from picklecheck.engine.finding import error_of
from picklecheck.engine.scan import memo_of, seeded_pickler
from picklecheck.engine.usable import load_error, probe_for, says_unlocked
from picklecheck.isolation import contain, deadline
from picklecheck.model import BackendResult, Culprit

__all__ = ["compare_backends"]

_UNKNOWABLE = ("too_deep", "reduce_cycle")
_LOCKS = frozenset({type(threading.Lock()), type(threading.RLock())})
_STATELESS = frozenset({types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                        types.FrameType, types.TracebackType})


def compare_backends(culprits: Sequence[Culprit], results: dict[str, BackendResult],
                     protocol: int | None, owners: dict[int, Any]) -> dict[int, set[str]]:
    """Fill in each culprit's ``works_with`` (and ``works_with_notes`` where a backend
    gets part of the way); ``owners`` maps ``id(culprit)`` to the object holding it.
    Returns, by ``id(culprit)``, the backends that fail on it alone only because of
    their own culprits inside it."""
    inside: dict[int, set[str]] = {id(c): set() for c in culprits}
    # The serializers, and any framework backend this check ran.
    names = BACKEND_NAMES + tuple(n for n in results if n not in BACKEND_NAMES)
    for culprit in culprits:
        culprit.works_with = {b: False for b in names if b in culprit.backends}
    for backend_name in names:
        backend = get_backend(backend_name)
        todo = [c for c in culprits if backend_name not in c.backends
                and c.kind not in _UNKNOWABLE and c.stage != "fresh"]
        # A fresh load is only tried for the backends asked for: unknown for the others.
        if todo and backend.available and not deadline.expired():  # else: unknown
            _compare(backend, todo, results.get(backend_name), protocol, owners, inside)
    return inside


def _compare(backend: Backend, culprits: list[Culprit], result: BackendResult | None,
             protocol: int | None, owners: dict[int, Any], inside: dict[int, set[str]]) -> None:
    proto = backend.default_protocol() if protocol is None else protocol
    payloads: list[bytes] = []
    dumped: list[Culprit] = []
    alike: dict[Any, list[Culprit]] = {}  # culprits whose verdict is another's
    for culprit in culprits:
        key = _same_verdict(culprit.obj)
        if key is not None:
            alike.setdefault(key, []).append(culprit)
            if len(alike[key]) > 1:
                continue
        data = _dumps(backend, culprit.obj, proto)
        if data is not None:
            payloads.append(data)
            dumped.append(culprit)
            continue
        culprit.works_with[backend.name] = False
        _why_not(backend, culprit, result, proto, owners, inside)
    outcomes = contain.load_many(backend, payloads, probe_for(payloads)) if payloads else []
    for culprit, outcome in zip(dumped, outcomes, strict=True):
        error = load_error(outcome)
        culprit.works_with[backend.name] = error is None
        if error is not None:
            culprit.works_with_notes[backend.name] = _partly(error)
    for first, *rest in alike.values():
        for culprit in rest:
            _follow_verdict(backend, culprit, first, result, proto, owners, inside)


def _same_verdict(obj: Any) -> Any:
    """A key shared by objects every backend pickles alike (their pickled form is their
    type and one flag: a lock and whether it is held), or None."""
    t = type(obj)
    if t in _LOCKS:
        return (t, says_unlocked(obj))
    if t in _STATELESS:
        return (t,)
    return None


def _follow_verdict(backend: Backend, culprit: Culprit, first: Culprit,
                    result: BackendResult | None, protocol: int, owners: dict[int, Any],
                    inside: dict[int, set[str]]) -> None:
    """Give ``culprit`` the verdict ``first`` got on its own; what depends on where it
    is (what holds it, what else failed) is worked out for it."""
    good = first.works_with.get(backend.name, False)
    culprit.works_with[backend.name] = good
    note = first.works_with_notes.get(backend.name)
    if good:
        return
    if note is not None and note.startswith("dumps"):
        culprit.works_with_notes[backend.name] = note
    else:
        _why_not(backend, culprit, result, protocol, owners, inside)


def _why_not(backend: Backend, culprit: Culprit, result: BackendResult | None, protocol: int,
             owners: dict[int, Any], inside: dict[int, set[str]]) -> None:
    """Why a backend that cannot dump the culprit alone was not stopped by it."""
    owner = owners.get(id(culprit))
    if result is not None and _fails_only_on_its_own(backend, culprit, result, protocol):
        inside[id(culprit)].add(backend.name)
    elif owner is not None and _dumps(backend, owner, protocol) is not None:
        # It saves what holds this another way, and never meets this part alone
        # (a WeakSet's _remove callback).
        culprit.works_with_notes[backend.name] = "saves what holds it, not this part alone"


def _dumps(backend: Backend, obj: Any, protocol: int) -> bytes | None:
    out: list[bytes] = []
    exc = error_of(lambda: out.append(backend.dumps(obj, protocol)))
    return out[0] if exc is None else None


def _fails_only_on_its_own(backend: Backend, culprit: Culprit, result: BackendResult,
                           protocol: int) -> bool:
    """Whether ``backend`` dumps the culprit once its own culprits count as saved: then
    what it fails on inside it is already reported (at another path)."""
    known = [c.obj for c in result.culprits if c.obj is not culprit.obj and c.stage == "dumps"]
    if not known:
        return False
    pickler = seeded_pickler(backend, protocol, memo_of(known))
    return error_of(lambda: backend.run(pickler, culprit.obj)) is None


def _partly(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if text.startswith("it loads, but "):
        return "dumps and loads, but " + text[len("it loads, but "):]
    name = getattr(error, "exception_name", "") or type(error).__name__
    text = text if len(text) <= 80 else text[:77] + "..."
    return f"dumps, but the copy does not load ({name}: {text})"
