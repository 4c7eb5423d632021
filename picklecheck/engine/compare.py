"""Which other backends cope with a culprit on its own ("dill: ok, cloudpickle: fails").

"ok" is a claim a user acts on (switch to that backend), so it means: that backend
dumps this culprit on its own, the bytes load back, and the copy is usable where
that is cheap to check (its locks can be acquired: :mod:`.usable`). Where a
backend gets only part of the way, the culprit says how far ("dumps and loads, but
the copy's lock can never be acquired"). Nothing is decided from the type alone (a
weak reference's verdict depends on its referent), except for the few C types whose
pickled form is their type and one flag (:func:`_same_verdict`); nor from the whole
object (a backend that saves the whole object another way may never save this part).

For each backend the culprits are judged together, so what they share is pickled once:
they dump with one pickler (a new one after each failure); the ones that dump are dumped
together and loaded as one payload, each copy probed on its own, and only a payload that
fails is split in halves (each round one :func:`picklecheck.isolation.contain.load_many`).
The checked object itself, when it is a culprit, takes the backend's own verdict: if the
backend failed to dump it and its own search found why, that is where it fails.

Together is not quite alone: an object dumped after others may meet, as memo hits, parts
they saved. Those parts dumped fine, so the difference is only how deep the pickler
recurses; a culprit that dumps with the others but alone would exceed the recursion
limit is the case this accepts.
"""

from __future__ import annotations

import threading
import types
from collections.abc import Sequence
from typing import Any

from picklecheck.backends import BACKEND_NAMES, Backend, get_backend
from picklecheck.engine.finding import dump_error, error_of, exception_name, scrub
from picklecheck.engine.scan import (
    FedList,
    completed_memo,
    memo_of,
    memo_of_pickler,
    memo_size,
    seeded_pickler,
)
from picklecheck.engine.usable import load_error, probe_each_for, says_unlocked
from picklecheck.isolation import contain, deadline
from picklecheck.isolation.foreign import exception_text
from picklecheck.model import BackendResult, Culprit

__all__ = ["compare_backends"]

_UNKNOWABLE = ("too_deep", "reduce_cycle")
_FATAL = (KeyboardInterrupt, SystemExit)
_LOCKS = frozenset({type(threading.Lock()), type(threading.RLock())})
_STATELESS = frozenset({types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType,
                        types.FrameType, types.TracebackType})


def compare_backends(culprits: Sequence[Culprit], results: dict[str, BackendResult],
                     protocol: int | None, owners: dict[int, Any],
                     inside: dict[int, set[str]] | None = None) -> dict[int, set[str]]:
    """Fill in each culprit's ``works_with`` (and ``works_with_notes`` where a backend
    gets part of the way); ``owners`` maps ``id(culprit)`` to the object holding it.
    Fills in and returns ``inside``: by ``id(culprit)``, the backends that fail on it
    alone only because of their own culprits inside it. A backend missing from
    ``works_with`` is unknown (not available, or no time was left to try it)."""
    if inside is None:
        inside = {}
    for culprit in culprits:
        inside.setdefault(id(culprit), set())
    # The serializers, and any framework backend this check ran.
    names = BACKEND_NAMES + tuple(n for n in results if n not in BACKEND_NAMES)
    for culprit in culprits:
        culprit.works_with = {b: False for b in names if b in culprit.backends}
    for backend_name in names:
        backend = get_backend(backend_name)
        todo = [c for c in culprits if backend_name not in c.backends
                and c.kind not in _UNKNOWABLE and c.stage != "fresh"]
        # A fresh load is only tried for the backends asked for: unknown for the others;
        # so is what the check's time limit left no time for.
        if todo and backend.available and not deadline.expired():
            _compare(backend, todo, results.get(backend_name), protocol, owners, inside)
    return inside


def _compare(backend: Backend, culprits: list[Culprit], result: BackendResult | None,
             protocol: int | None, owners: dict[int, Any], inside: dict[int, set[str]]) -> None:
    """Every culprit's verdict for ``backend``, in batches: the culprits share one pickler
    while they dump (what one saved is a memo hit for the next), and the ones that dump
    are loaded together (one payload; split in halves only when it fails)."""
    proto = backend.default_protocol() if protocol is None else protocol
    firsts: list[Culprit] = []
    alike: dict[Any, list[Culprit]] = {}  # culprits whose verdict is another's
    for culprit in culprits:
        key = _same_verdict(culprit.obj)
        if key is not None:
            alike.setdefault(key, []).append(culprit)
            if len(alike[key]) > 1:
                continue
        if not _settled_by_verdict(backend, culprit, result, inside):
            firsts.append(culprit)
    failing = _dump_failures(backend, [c.obj for c in firsts], proto)
    for i in failing:
        firsts[i].works_with[backend.name] = False
    _why_not(backend, [c for i, c in enumerate(firsts) if i in failing], result, proto, owners,
             inside)
    dumped = [c for i, c in enumerate(firsts) if i not in failing]
    for culprit, error in zip(dumped, _load_errors(backend, [c.obj for c in dumped], proto),
                              strict=True):
        culprit.works_with[backend.name] = error is None
        if error is not None:
            culprit.works_with_notes[backend.name] = _partly(error)
    for first, *rest in alike.values():
        for culprit in rest:
            _follow_verdict(backend, culprit, first, result, proto, owners, inside)


def _settled_by_verdict(backend: Backend, culprit: Culprit, result: BackendResult | None,
                        inside: dict[int, set[str]]) -> bool:
    """Whether the backend's own check of the whole object already answers for this
    culprit: it *is* the whole object, the backend failed to dump it, and the backend's
    own (complete) search found what it fails on inside it."""
    if culprit.steps or result is None or result.error is None or result.truncated:
        return False
    own = [c for c in result.culprits if c.stage == "dumps"]
    if not own or any(c.obj is culprit.obj or c.kind in _UNKNOWABLE for c in own):
        return False
    culprit.works_with[backend.name] = False
    inside[id(culprit)].add(backend.name)
    return True


def _dump_failures(backend: Backend, objs: Sequence[Any], protocol: int,
                   memoized: Sequence[Any] = ()) -> set[int]:
    """The indices of ``objs`` that ``backend`` fails to dump on their own (with
    ``memoized`` counting as saved). One pickler while they dump, a new one after a
    failure (its memo holds what the failure left half-saved)."""
    failing: set[int] = set()
    seeds = memo = memo_of(memoized)  # seeded_pickler copies it
    pickler = None
    for i, obj in enumerate(objs):
        if pickler is None:
            pickler = seeded_pickler(backend, protocol, memo)
        elif _saved_by_another(pickler, obj):
            # Saved inside an earlier culprit, the way that one is saved (dill saves what
            # a function it saves by value holds by value too): alone it may not be.
            alone = seeded_pickler(backend, protocol, seeds)
            if error_of(lambda: backend.run(alone, obj)) is not None:  # noqa: B023
                failing.add(i)
            continue
        mark = memo_size(pickler)
        try:
            backend.run(pickler, obj)
        except _FATAL:
            raise
        except BaseException as exc:  # noqa: BLE001 - a failure is the answer
            failing.add(i)
            # What a pure-Python pickler saved in full before failing stays memoized.
            memo = completed_memo(pickler, exc, mark) or memo
            scrub(exc)
            pickler = None
    return failing


def _saved_by_another(pickler: Any, obj: Any) -> bool:
    """Whether a pure-Python pickler's memo already holds ``obj`` (the C pickler's memo
    is not readable cheaply; it saves an object the same way wherever it is)."""
    memo = memo_of_pickler(pickler)
    return memo is not None and id(obj) in memo


def _load_errors(backend: Backend, objs: list[Any], protocol: int) -> list[BaseException | None]:
    """What loading each of ``objs`` (dumped with ``backend``) raises, or None. They are
    dumped together and loaded as one payload, each copy probed on its own; a group that
    fails is split in halves, one batch of loads per round."""
    errors: list[BaseException | None] = [None] * len(objs)
    groups = [list(range(len(objs)))] if objs else []
    with contain.serving():  # every round's loads in one child
        _rounds(backend, objs, protocol, groups, errors)
    return errors


def _rounds(backend: Backend, objs: list[Any], protocol: int, groups: list[list[int]],
            errors: list[BaseException | None]) -> None:
    while groups:
        batch: list[tuple[list[int], bytes]] = []
        split: list[list[int]] = []
        for group in groups:
            data = _dumps(backend, FedList(iter([objs[i] for i in group])), protocol)
            if data is not None:
                batch.append((group, data))
            elif len(group) > 1:
                split.append(group)
            else:  # dumped alone a moment ago, not now: an object that changes as it pickles
                errors[group[0]] = dump_error(backend, objs[group[0]], protocol)
        payloads = [data for _, data in batch]
        outcomes = contain.load_many(backend, payloads, probe_each_for(payloads)) if batch else []
        for (group, _), outcome in zip(batch, outcomes, strict=True):
            error = load_error(outcome)
            if error is not None and len(group) == 1:
                errors[group[0]] = error
            elif error is not None:
                split.append(group)
        groups = [half for group in split for half in (group[:len(group) // 2],
                                                       group[len(group) // 2:])]


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
    if backend.name not in first.works_with:
        return  # unknown for the first: unknown for it too
    good = first.works_with[backend.name]
    culprit.works_with[backend.name] = good
    note = first.works_with_notes.get(backend.name)
    if good:
        return
    if note is not None and note.startswith("dumps"):
        culprit.works_with_notes[backend.name] = note
    else:
        _why_not(backend, [culprit], result, protocol, owners, inside)


def _why_not(backend: Backend, culprits: list[Culprit], result: BackendResult | None,
             protocol: int, owners: dict[int, Any], inside: dict[int, set[str]]) -> None:
    """Why a backend that cannot dump these culprits alone was not stopped by them: it
    fails on them only because of its own culprits inside them (with those counting as
    saved, they dump: then that is reported at another path), or it saves what holds them
    another way and never meets them alone (a WeakSet's _remove callback)."""
    rest = culprits
    if result is not None and rest:
        mine = {id(c.obj) for c in rest}
        known = [c.obj for c in result.culprits if c.stage == "dumps" and id(c.obj) not in mine]
        if known:
            still = _dump_failures(backend, [c.obj for c in rest], protocol, known)
            for i, culprit in enumerate(rest):
                if i not in still:
                    inside[id(culprit)].add(backend.name)
            rest = [c for i, c in enumerate(rest) if i in still]
    held = [(c, owners[id(c)]) for c in rest if owners.get(id(c)) is not None]
    failing = _dump_failures(backend, [owner for _, owner in held], protocol)
    for i, (culprit, _) in enumerate(held):
        if i not in failing:
            culprit.works_with_notes[backend.name] = "saves what holds it, not this part alone"


def _dumps(backend: Backend, obj: Any, protocol: int) -> bytes | None:
    out: list[bytes] = []
    exc = error_of(lambda: out.append(backend.dumps(obj, protocol)))
    return out[0] if exc is None else None


def _partly(error: BaseException) -> str:
    text = exception_text(error, 1000) or type(error).__name__
    if text.startswith("it loads, but "):
        return "dumps and loads, but " + text[len("it loads, but "):]
    name = exception_name(error)
    text = text if len(text) <= 80 else text[:77] + "..."
    if contain.only_dropped(error):
        return f"dumps and loads, but {text}"
    return f"dumps, but the copy does not load ({name}: {text})"
