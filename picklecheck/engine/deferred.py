"""Culprits whose hint, ``works_with`` and repr are worked out when first read.

"(dill: ok, cloudpickle: fails)" costs a dump and a load of each culprit with every other
backend, and the loads run in a confined child: that is most of what a check with
culprits costs, on a small graph many times the dump itself. Many reports are never read
that far: a :class:`~picklecheck.SessionState` in enforce mode wants the paths, a test
asserts paths and kinds, a benchmark counts culprits. So a report's culprits carry what
their explanation needs, and the first read of any culprit's ``hint``,
``works_with`` or ``works_with_notes`` works them out for every culprit of the report at
once (the comparison batches its dumps and loads per backend). ``repr`` is made per
culprit on first read.

What is read is what the eager report would have said, worked out on the objects as
they are at that first read. A copy or a pickle of a culprit is a plain
:class:`~picklecheck.model.Culprit` with everything worked out.
"""

from __future__ import annotations

import contextvars
import dataclasses
import threading
from collections.abc import Callable
from typing import Any

from picklecheck.engine.saferepr import saferepr
from picklecheck.model import Culprit

__all__ = ["DeferredCulprit", "Lazy", "Settle", "batch"]

#: Works out the deferred fields of every culprit of one report (see :func:`batch`).
Settle = Callable[[], None]


#: The batches being settled by this thread, or by the thread a helper works for (a
#: helper runs in a copy of its caller's context: see picklecheck.isolation.deadline).
_SETTLING: contextvars.ContextVar[frozenset[_Batch]] = contextvars.ContextVar(
    "picklecheck_settling", default=frozenset())


class _Batch:
    """One report's deferred work: run once, by the first reader, under a lock.

    The settle dumps the culprits, in a helper thread; a culprit that reaches the report
    again (a notebook's namespace holds the last report, and a culprit's graph reaches
    that namespace) reads it as it stands, as the settling thread itself does: waiting
    for the lock there would wait for the thread that waits for it."""

    __slots__ = ("_settle", "_lock", "_started", "_after")

    def __init__(self, settle: Settle) -> None:
        self._settle = settle
        self._lock = threading.RLock()
        self._started = False
        self._after: list[Settle] = []

    def run(self) -> None:
        settling = _SETTLING.get()
        if self in settling:
            return  # under way for this very thread (see the class)
        with self._lock:
            if self._started:
                return  # done, or under way in this thread (the settle reads fields)
            self._started = True
            token = _SETTLING.set(settling | {self})
            try:
                self._settle()
            finally:
                _SETTLING.reset(token)
            for step in self._after:
                step()
            self._after.clear()

    def then(self, step: Settle) -> None:
        """Run ``step`` right after the settle (now, if it has run)."""
        if self in _SETTLING.get():
            self._after.append(step)  # the settle under way runs it (see the class)
            return
        with self._lock:
            if self._started:
                step()
            else:
                self._after.append(step)


class _Deferred:
    """A data descriptor for one deferred field: the stored value, else the batch's."""

    def __init__(self, default: Callable[[], Any]) -> None:
        self.default = default
        self.slot = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = "_deferred_" + name

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        if self.slot not in state:
            batch = state.get("_batch")
            if batch is not None:
                batch.run()
            if self.slot not in state:
                state[self.slot] = self.default()
        return state[self.slot]

    def __set__(self, obj: Any, value: Any) -> None:
        if value is not _PENDING:
            obj.__dict__[self.slot] = value


class _Repr(_Deferred):
    """``repr``: the bounded repr of the culprit, made on first read."""

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        if obj is None:
            return self
        state = obj.__dict__
        if self.slot not in state:
            state[self.slot] = saferepr(state.get("obj"))
        return state[self.slot]


_PENDING: Any = object()


class DeferredCulprit(Culprit):
    """A :class:`~picklecheck.model.Culprit` whose ``hint``, ``works_with``,
    ``works_with_notes`` and ``repr`` are worked out when first read."""

    #: What the culprit was found from (the search's record), until the batch is done.
    finding: Any = None
    hint = _Deferred(str)
    works_with = _Deferred(dict)
    works_with_notes = _Deferred(dict)
    repr = _Repr(str)

    @classmethod
    def pending(cls, **fields: Any) -> DeferredCulprit:
        """A culprit whose deferred fields wait for :meth:`defer_to`."""
        for name in ("hint", "works_with", "works_with_notes", "repr"):
            fields.setdefault(name, _PENDING)
        return cls(**fields)

    def defer_to(self, batch: _Batch) -> None:
        self.__dict__["_batch"] = batch

    def then(self, step: Settle) -> bool:
        """Run ``step`` once this culprit's deferred fields are worked out; False (and
        nothing done) when they already are."""
        batch = self.__dict__.get("_batch")
        if batch is None:
            return False
        batch.then(step)
        return True

    def settled(self) -> None:
        """The batch has filled this culprit in: drop what it was kept for."""
        self.__dict__.pop("_batch", None)
        self.__dict__.pop("finding", None)

    def __reduce__(self) -> Any:
        plain = {f.name: getattr(self, f.name) for f in dataclasses.fields(Culprit)}
        return (_plain, (plain,))


def _plain(fields: dict[str, Any]) -> Culprit:
    return Culprit(**fields)


def batch(settle: Settle) -> _Batch:
    """The shared deferred work of one report's culprits."""
    return _Batch(settle)


class Lazy:
    """A value worked out on first read: a :class:`~picklecheck.model.Report`'s
    ``entries`` read culprits' hints, which would settle the whole report."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make
