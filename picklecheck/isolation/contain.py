"""Every load a check runs goes through here: round trips, the bisection of a load
failure, "which other backend copes", session-state round trips.

A load runs code (reducers, ``__setstate__``), so where it runs decides what it can
harm. :func:`load` and :func:`load_many` say how each load went as a
:class:`LoadOutcome`, whose ``isolation`` names where it ran:

* ``"sandbox"``: a forked child confined by the kernel (Landlock, seccomp, no
  capabilities, resource limits, its own process group; see
  :mod:`~picklecheck.isolation.confine`), watched so that what it *tried* is named;
* ``"process"``: a forked child without Landlock (an old kernel), loading through
  the hazard guard;
* ``"guarded"``: this process, through the hazard guard of
  :mod:`picklecheck.backends.hazards` (a list of refused globals, not a guarantee),
  where there is no ``fork``.

A load that tried something (a write, a connect, a signal, a subprocess, an exit) is
not ok, whatever it returned: :class:`LoadSideEffectError`. A load past its time or
memory limit: :class:`LoadTimeoutError`, :class:`LoadMemoryError`. This module is
the only place the engine loads bytes; callers never call ``backend.loads``.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from picklecheck.backends.remains import rearm
from picklecheck.isolation import deadline as _deadline
from picklecheck.isolation.foreign import (
    carried,
    drop_traceback,
    exception_text,
    innermost_function,
)
from picklecheck.isolation.watch import DROPPING, dropping, refused_write

if TYPE_CHECKING:
    from picklecheck.backends import Backend
    from picklecheck.backends.remains import Swapped

__all__ = [
    "DEFAULT_LOAD_TIMEOUT",
    "ISOLATIONS",
    "ContainedLoadError",
    "LoadMemoryError",
    "LoadOutcome",
    "LoadSideEffectError",
    "LoadTimeoutError",
    "Loader",
    "Probe",
    "isolation",
    "load",
    "load_many",
    "load_pairs",
    "only_dropped",
    "serving",
]

ISOLATIONS = ("sandbox", "process", "guarded")
#: Wall-clock seconds one load may take when no check's time limit is running.
DEFAULT_LOAD_TIMEOUT = 60.0
#: Address space a loading child may add to what it inherits (plus 8x the payloads).
MEMORY_ALLOWANCE = 2 << 30
_FATAL = (KeyboardInterrupt, SystemExit)


class ContainedLoadError(Exception):
    """What a load in a child raised or how it ended, by name (its objects stayed
    there). ``exception_name`` is the original exception's type name."""

    def __init__(self, message: str, exception_name: str = "", raised_in: str = "") -> None:
        super().__init__(message)
        self.exception_name = exception_name or type(self).__name__
        #: The function it was raised in (the traceback's innermost frame), if Python's.
        self.raised_in = raised_in


class LoadSideEffectError(ContainedLoadError):
    """The load tried to change something outside itself; ``effects`` names each try."""

    def __init__(self, effects: Sequence[str], exception_name: str = "") -> None:
        self.effects = tuple(dict.fromkeys(effects))  # a finalizer run twice tries twice
        loading = [e for e in self.effects if not e.startswith(DROPPING)]
        #: Whether every try was a finalizer's, once the loaded copy was dropped.
        self.dropped = not loading
        parts = []
        for lead, tries in (("loading it ", loading),
                            (DROPPING, [e[len(DROPPING):] for e in self.effects
                                        if e.startswith(DROPPING)])):
            if tries:
                parts.append(lead + "; ".join(tries[:3]) + (
                    f"; and {len(tries) - 3} more" if len(tries) > 3 else ""))
        super().__init__("; ".join(parts), exception_name or "LoadSideEffectError")


def only_dropped(exc: BaseException) -> bool:
    """Whether ``exc`` is a :class:`LoadSideEffectError` whose every try was a dropped
    copy's finalizer's (the copy loaded)."""
    return issubclass(type(exc), LoadSideEffectError) and cast(LoadSideEffectError, exc).dropped


class LoadTimeoutError(ContainedLoadError):
    """The load did not finish within its time limit."""


class LoadMemoryError(ContainedLoadError):
    """The load needed more memory than its limit."""


@dataclass
class LoadOutcome:
    """How one load went.

    ``exc`` is what the load raised or why it is not ok (None when it loaded).
    ``side_effects`` lists what the load tried that it must not do (a write, a
    connect, a signal, a subprocess), each as a sentence naming what and on what.
    ``unusable`` is what the caller's probe said about the loaded copy ("its lock can
    never be acquired"), None when the copy is fine or no probe was given; ``ok`` is
    false then too.
    """

    ok: bool
    exc: BaseException | None = None
    isolation: str = "guarded"
    seconds: float = 0.0
    side_effects: list[str] = field(default_factory=list)
    unusable: str | None = None  # what the probe found wrong with the loaded copy


#: Looks at a loaded copy where it was loaded; returns what is wrong with it, or None.
Probe = Callable[[Any], "str | None"]

_broken: list[str] = []  # set once a child could not confine itself: stop trying


def isolation() -> str:
    """Where loads run on this machine now: one of :data:`ISOLATIONS`."""
    try:
        from picklecheck.isolation.confine import available  # ctypes: only when loading
    except ImportError:  # no resource module: Windows
        return "guarded"
    best = available()
    if best == "sandbox" and "sandbox" in _broken:
        best = "process"
    if best == "process" and "process" in _broken:
        best = "guarded"
    return best


def load(backend: Backend, data: bytes, probe: Probe | None = None, *,
         timeout: float | None = None) -> LoadOutcome:
    """Load ``data`` with ``backend`` and say how it went."""
    return load_many(backend, [data], probe, timeout=timeout)[0]


def load_many(backend: Backend, payloads: Sequence[bytes], probe: Probe | None = None, *,
              timeout: float | None = None) -> list[LoadOutcome]:
    """Load each payload on its own (one outcome each, in order), in one child where
    possible; ``probe`` looks at each loaded copy where it was loaded. ``timeout`` is
    the wall-clock limit of one load (default: what is left of the running check's
    time limit, or :data:`DEFAULT_LOAD_TIMEOUT`)."""
    return load_pairs([(backend, data) for data in payloads], probe, timeout=timeout)


def load_pairs(pairs: Sequence[tuple[Backend, bytes]], probe: Probe | None = None, *,
               timeout: float | None = None) -> list[LoadOutcome]:
    """:func:`load_many` for payloads of different backends (a check's round trips:
    one child for all of them); in the :class:`Loader` being served, if there is one
    (see :func:`serving`) and no ``timeout`` is given."""
    if not pairs:
        return []
    serving_now = _SERVING.get() if timeout is None else None
    return _pure_first(pairs, isolation(), lambda rest: (
        serving_now.contained(rest, probe) if serving_now is not None
        else _contained_pairs(rest, probe, timeout)), probe)


def _contained_pairs(pairs: Sequence[tuple[Backend, bytes]], probe: Probe | None,
                     timeout: float | None) -> list[LoadOutcome]:
    """Each load in a child of its own batch (not a :class:`Loader`'s), or guarded."""
    where = isolation()
    if where != "guarded":
        try:
            return _load_forked(pairs, probe, timeout, where)
        except OSError as exc:  # no fork, no pipe, or confinement refused by the system
            from picklecheck.isolation.child import ConfinementError

            if isinstance(exc, ConfinementError) and where not in _broken:
                _broken.append(where)  # this machine refuses it: stop trying
    return [_load_guarded(backend, data, probe) for backend, data in pairs]


class Loader:
    """A loading child that serves every load of one check: forked at the first load
    that is not done in this process (one proven pure is), or, with ``ahead``, when the
    check starts, so that forking and confinement overlap the dumps
    (:mod:`picklecheck.isolation.ahead`); then kept for the loads that follow (the
    rounds of a search for what does not load), so that a check pays for one fork
    rather than one per round. A child that dies (a load crashed it or ran out of
    time) is replaced for the loads after it. While :func:`serving` it, every
    :func:`load_pairs` of this thread goes to it. :meth:`close` always (it kills the
    child)."""

    #: Payloads larger than this go to a child sized for them (:func:`load_pairs`).
    MAX_BYTES = 64 << 20

    def __init__(self, probe: Probe | None = None, ahead: bool = True,
                 select: Callable[[list[bytes]], Probe | None] | None = None) -> None:
        self.probe = probe
        #: Picks the probe (if any) for loads proven pure, done here: their copies are
        #: plain data, looked at only where their bytes call for it (a walk of two
        #: thousand objects costs more than the load of a whole record graph).
        self.select = select
        self.where = isolation()
        self._ahead: Any = None
        if ahead:
            self._ahead = self._fork()

    def _fork(self) -> Any:
        if self.where == "guarded":
            return None
        from picklecheck.isolation.ahead import Ahead
        from picklecheck.isolation.confine import Limits

        check = _deadline.current()
        wait_until = min(check.hard if check is not None else float("inf"),
                         time.monotonic() + DEFAULT_LOAD_TIMEOUT)
        seconds = max(1.0, wait_until - time.monotonic()) + 1
        guarded = self.where != "sandbox"

        def work_for(items: list[tuple[str, bytes]],
                     extra: dict[str, Any]) -> Callable[[int], dict[str, Any]]:
            import base64
            import pickle

            from picklecheck.backends import get_backend

            probe = pickle.loads(base64.b64decode(extra["probe"])) if "probe" in extra \
                else self.probe

            def work(i: int) -> dict[str, Any]:
                name, data = items[i]
                return _load_in_child(get_backend(name), data, probe, guarded)

            return work

        try:
            return Ahead(Limits(seconds, MEMORY_ALLOWANCE + 8 * self.MAX_BYTES),
                         self.where == "sandbox", wait_until, work_for)
        except OSError:
            return None

    def load_pairs(self, pairs: Sequence[tuple[Backend, bytes]],
                   probe: Any = ...) -> list[LoadOutcome]:
        """As :func:`load_pairs`, in this loader's child (``probe``: the loader's own
        unless given; one given must pickle by reference, as module-level functions
        and the probes of :mod:`picklecheck.engine.usable` do). Loads proven pure
        are done here (:func:`_pure_first`)."""
        return _pure_first(pairs, self.where, lambda rest: self.contained(rest, probe),
                           None if probe is ... else probe,
                           self.select if probe is ... else None)

    def contained(self, pairs: Sequence[tuple[Backend, bytes]],
                  probe: Any = ...) -> list[LoadOutcome]:
        """As :meth:`load_pairs`, every load in the child (none tried here first)."""
        chosen = self.probe if probe is ... else probe
        if self.where == "guarded" or sum(len(d) for _, d in pairs) > self.MAX_BYTES:
            return _contained_pairs(pairs, chosen, None)
        from picklecheck.isolation.child import ConfinementError

        extra = {} if probe is ... else {"probe": _encoded(chosen)}
        by_index: dict[int, LoadOutcome] = {}
        missing = list(range(len(pairs)))
        while missing:
            ahead, self._ahead = self._ahead, None
            if ahead is None or not ahead.alive:
                ahead = self._fork()
            if ahead is None:
                by_index.update(zip(missing, _contained_pairs([pairs[i] for i in missing],
                                                              chosen, None), strict=True))
                break
            per_item, end = _limits_for([pairs[i] for i in missing], None)
            try:
                results = ahead.run([(pairs[i][0].name, pairs[i][1]) for i in missing],
                                    per_item, end, extra, keep=True)
            except ConfinementError:
                if self.where not in _broken:
                    _broken.append(self.where)
                by_index.update((i, _load_guarded(*pairs[i], chosen)) for i in missing)
                break
            except BaseException:
                ahead.close()
                raise
            self._ahead = ahead if ahead.alive else None
            by_index.update((missing[k], _outcome(r, self.where)) for k, r in results.items())
            # The child died on one of them: the rest go to a new child.
            missing = [i for i in missing if i not in by_index]
        return [by_index[i] for i in range(len(pairs))]

    def close(self) -> None:
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()


def _encoded(probe: Probe | None) -> str:
    import base64
    import pickle

    return base64.b64encode(pickle.dumps(probe)).decode("ascii")


_SERVING: contextvars.ContextVar[Loader | None] = contextvars.ContextVar(
    "picklecheck_loader", default=None)


@contextlib.contextmanager
def serving(loader: Loader | None = None) -> Iterator[Loader]:
    """Route this context's :func:`load_pairs` (and :func:`load_many`) to one
    :class:`Loader` (``loader``, or a new one forked at the first load), closed at the
    end unless it was given. Nested, the outer loader serves."""
    outer = _SERVING.get()
    if outer is not None:
        yield outer
        return
    mine = loader if loader is not None else Loader(ahead=False)
    token = _SERVING.set(mine)
    try:
        yield mine
    finally:
        _SERVING.reset(token)
        if loader is None:
            mine.close()


def pure_loads(pairs: Sequence[tuple[Backend, bytes]], probe: Probe | None = None
               ) -> list[LoadOutcome] | None:
    """Every load of ``pairs`` done here, if each is proven to run no code (:mod:`.pure`);
    else None, and nothing but building builtin objects has run."""
    where = isolation()
    outcomes = []
    for backend, data in pairs:
        outcome = _pure_load(backend, data, where, probe)
        if outcome is None:
            return None
        outcomes.append(outcome)
    return outcomes


def _pure_first(pairs: Sequence[tuple[Backend, bytes]], where: str,
                rest: Callable[[list[tuple[Backend, bytes]]], list[LoadOutcome]],
                probe: Probe | None = None,
                select: Callable[[list[bytes]], Probe | None] | None = None
                ) -> list[LoadOutcome]:
    """Each load of ``pairs`` that provably runs no code (:mod:`.pure`) done here, as
    fast as ``pickle.loads``, its copy looked at by ``probe`` (or by what ``select``
    picks for its bytes); ``rest`` does the others (in the child)."""
    done: dict[int, LoadOutcome] = {}
    for i, (backend, data) in enumerate(pairs):
        chosen = select([data]) if select is not None else probe
        outcome = _pure_load(backend, data, where, chosen)
        if outcome is not None:
            done[i] = outcome
    todo = [i for i in range(len(pairs)) if i not in done]
    if todo:
        done.update(zip(todo, rest([pairs[i] for i in todo]), strict=True))
    return [done[i] for i in range(len(pairs))]


def _pure_load(backend: Backend, data: bytes, where: str, probe: Probe | None = None
               ) -> LoadOutcome | None:
    """The outcome of a load proven to run no code, or None (load it contained). Such
    a load can harm nothing, so where it runs is no guarantee lost: it is named by
    ``where``, the isolation every other load of this machine gets. ``probe`` looks at
    the copy (plain data access only): a plain class's copy can hold what its state made
    it, an asyncio lock held when it was pickled."""
    from picklecheck.isolation import pure

    if not backend.loads_as_pickle:
        return None
    start = time.perf_counter()
    try:
        copy = pure.load(data)
    except pure.NotPure:
        return None
    except _FATAL:
        raise
    except BaseException as exc:  # noqa: BLE001 - what the load raised is the finding
        drop_traceback(exc)
        return LoadOutcome(False, exc, where, time.perf_counter() - start)
    unusable = probe(copy) if probe is not None else None
    del copy
    return LoadOutcome(unusable is None, None, where, time.perf_counter() - start,
                       unusable=unusable)


def _limits_for(payloads: Sequence[Any], timeout: float | None) -> tuple[float, float]:
    """(seconds per load, monotonic deadline of the whole batch). Within a check, one
    load gets at most a quarter of the time left, so that a load that hangs still
    leaves time to find which part of the object hangs."""
    check = _deadline.current()
    now = time.monotonic()
    end = check.soft if check is not None else float("inf")
    per_item = timeout if timeout is not None else DEFAULT_LOAD_TIMEOUT
    if check is not None:
        per_item = min(per_item, max(0.5, (end - now) / 4))
    per_item = max(0.05, min(per_item, end - now))
    return per_item, min(end, now + per_item * len(payloads))


def _load_forked(pairs: Sequence[tuple[Backend, bytes]], probe: Probe | None,
                 timeout: float | None, where: str) -> list[LoadOutcome]:
    from picklecheck.isolation.child import run_forked
    from picklecheck.isolation.confine import Limits

    per_item, end = _limits_for(pairs, timeout)
    limits = Limits(seconds=per_item + 1,
                    memory=MEMORY_ALLOWANCE + 8 * sum(len(data) for _, data in pairs))
    guarded = where != "sandbox"

    def work(i: int) -> dict[str, Any]:
        backend, data = pairs[i]
        return _load_in_child(backend, data, probe, guarded)

    results = run_forked(len(pairs), work, per_item=per_item, deadline=end,
                         limits=limits, sandbox=where == "sandbox")
    return [_outcome(result, where) for result in results]


def _load_in_child(backend: Backend, data: bytes, probe: Probe | None,
                   guarded: bool) -> dict[str, Any]:
    """One load, inside the child: what it raised (by name), what the probe says. A
    sandboxed load that works is then dropped with its finalizers armed (see
    :mod:`picklecheck.backends.remains`): what they try is the watch's to name."""
    start = time.perf_counter()
    result: dict[str, Any] = {"ok": True}
    # In the sandbox a copy is dropped armed: its finalizers' tries are named (watch).
    swapped: Swapped | None = None if guarded else []
    try:
        copy = [backend.loads(data, guarded=guarded, swapped=swapped)]
        result["unusable"] = probe(copy[0]) if probe is not None else None
        result["ok"] = result["unusable"] is None
        if swapped and result["ok"]:
            rearm(swapped)
            dropping(copy.clear)
    except BaseException as exc:  # noqa: BLE001 - reported by name, even SystemExit
        what = carried(exc, "what")  # a blocked hazard's (HazardBlockedError)
        result.update(ok=False, exception=type(exc).__name__, error=exception_text(exc),
                      raised_in=innermost_function(exc),
                      hazard=what and [what, carried(exc, "why") or ""])
        if issubclass(type(exc), _FATAL):  # type(): isinstance reads a hostile __class__
            result["effects"] = [f"raised {type(exc).__name__}({exception_text(exc, 60)}), "
                                 "which would end or interrupt the process that "
                                 "loads it"]
        elif refused := refused_write(exc):
            result["effects"] = refused
        elif issubclass(type(exc), MemoryError):
            result["ended"] = "memory"
    result["seconds"] = time.perf_counter() - start
    return result


def _outcome(result: dict[str, Any], where: str) -> LoadOutcome:
    """A child's report as a :class:`LoadOutcome` (nothing in it is unpickled)."""
    effects = [str(e) for e in result.get("effects") or []]
    if result.get("ended") == "effect":
        effects.append(str(result.get("error")))
    seconds = float(result.get("seconds") or 0.0)
    unusable = result.get("unusable")
    name = str(result.get("exception") or "")
    error = str(result.get("error") or "")
    exc: BaseException | None = None
    if effects:
        exc = LoadSideEffectError(effects, name)
    elif result.get("ended") == "timeout":
        exc = LoadTimeoutError(error, name or "TimeoutError")
    elif result.get("ended") == "memory":
        exc = LoadMemoryError(error or "ran out of memory while loading", name or "MemoryError")
    elif result.get("hazard"):
        from picklecheck.backends.hazards import HazardBlockedError

        what, why = (list(result["hazard"]) + ["", ""])[:2]
        exc = HazardBlockedError(str(what), str(why))
    elif name or (not result.get("ok") and unusable is None):
        exc = ContainedLoadError(error or "the load failed", name,
                                 str(result.get("raised_in") or ""))
    ok = bool(result.get("ok")) and exc is None
    return LoadOutcome(ok, exc, where, seconds, effects,
                       str(unusable) if unusable is not None else None)


def _load_guarded(backend: Backend, data: bytes, probe: Probe | None) -> LoadOutcome:
    from picklecheck.backends.guard import recording

    with recording() as refused:
        outcome = _guarded_attempt(backend, data, probe)
    if refused:
        # Refused is not "does not load": whatever failed after it failed because of it.
        outcome.ok, outcome.exc, outcome.unusable = False, refused[0], None
    return outcome


def _guarded_attempt(backend: Backend, data: bytes, probe: Probe | None) -> LoadOutcome:
    start = time.perf_counter()
    try:
        copy = backend.loads(data)
        unusable = probe(copy) if probe is not None else None
    except KeyboardInterrupt:
        raise
    except SystemExit as exc:
        effect = (f"raised SystemExit({exception_text(exc, 60)}), which would end the "
                  "process that loads it")
        return LoadOutcome(False, LoadSideEffectError([effect], "SystemExit"), "guarded",
                           time.perf_counter() - start, [effect])
    except BaseException as exc:  # noqa: BLE001 - every failure is a finding
        drop_traceback(exc)
        return LoadOutcome(False, exc, "guarded", time.perf_counter() - start)
    seconds = time.perf_counter() - start
    return LoadOutcome(unusable is None, None, "guarded", seconds, unusable=unusable)
