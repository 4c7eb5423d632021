"""Exceptions picklecheck raises and the warning it emits.

Each subclasses what callers already catch: :class:`UnpicklableError` is a
:class:`pickle.PicklingError`, so ``except pickle.PicklingError`` keeps working.
Messages are formatted on demand from the report they carry.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from picklecheck.model import Culprit, Report

__all__ = [
    "SerializationWarning",
    "UnknownBackendError",
    "UnpicklableError",
    "UnserializableSessionStateError",
    "WorkerLostError",
]


class UnknownBackendError(ValueError):
    """A backend name that picklecheck does not know."""


class UnpicklableError(pickle.PicklingError):
    """An object does not survive the trip through a backend.

    ``report`` is the full :class:`~picklecheck.Report`; ``backend`` names the
    backend that was required (None when every backend in the report was).
    """

    def __init__(self, report: Report, backend: str | None = None, message: str | None = None):
        self.report = report
        self.backend = backend
        self._message = message
        super().__init__(str(self))

    @property
    def culprits(self) -> list[Culprit]:
        if self.backend is None:
            return list(self.report.culprits)
        return [c for c in self.report.culprits if self.backend in c.backends]

    def __str__(self) -> str:
        if self._message is not None:
            return self._message
        from picklecheck.report.render import explain

        return explain(self.report, self.backend)

    def __reduce__(self) -> tuple[Any, ...]:
        # The report holds live objects that may not pickle; carry the text only.
        return (_rebuild_error, (type(self), str(self)))


def _rebuild_error(cls: type[UnpicklableError], message: str) -> pickle.PicklingError:
    err = cls.__new__(cls)
    pickle.PicklingError.__init__(err, message)
    err.report = None  # type: ignore[assignment]
    err.backend = None
    err._message = message
    return err


class UnserializableSessionStateError(UnpicklableError):
    """A session-state value was rejected: its key, and every culprit inside it.

    ``key`` is the first rejected key; ``reports`` maps every rejected key to its
    report, in a stable order.
    """

    def __init__(
        self,
        key: str,
        report: Report,
        backend: str | None = None,
        message: str | None = None,
        reports: dict[str, Report] | None = None,
    ):
        self.key = key
        self.reports = reports if reports is not None else {key: report}
        super().__init__(report, backend, message)


class SerializationWarning(UserWarning):
    """A value was stored although it does not serialize (session ``warn`` mode)."""


class WorkerLostError(RuntimeError):
    """A worker process died before it returned a result, most often because it could not
    load its task; raised by ``picklecheck run`` in place of the hang of ``Pool.map``.

    ``diagnosis`` (a :class:`~picklecheck.Diagnosis`, or None) says what the worker could
    not load and why.
    """

    def __init__(self, message: str, diagnosis: Any = None) -> None:
        super().__init__(message)
        self.diagnosis = diagnosis
