"""Which backends can serialize a culprit on its own ("dill: ok, cloudpickle: fails")."""

from __future__ import annotations

from picklecheck.backends import BACKEND_NAMES, Backend, Sink, get_backend
from picklecheck.isolation import contain, deadline
from picklecheck.model import BackendResult, Culprit

__all__ = ["works_with"]

_FATAL = (KeyboardInterrupt, SystemExit)

_STATE_DEPENDENT = ("file", "load_hazard", "load_failure", "view", "other", "custom_reduce")


def works_with(culprit: Culprit, results: dict[str, BackendResult], protocol: int | None,
                cache: dict[tuple[str, type], bool]) -> dict[str, bool]:
    """For each known backend: can it serialize this culprit on its own?

    Verdicts for instances of built-in C types (locks, sockets, generators) depend on
    the type alone, so they are worked out once per type.
    """
    t = type(culprit.obj)
    # C types whose instances carry no Python state (no __dict__, no __slots__).
    by_type = (getattr(t, "__dictoffset__", 1) == 0 and not hasattr(t, "__slots__")
               and culprit.kind not in _STATE_DEPENDENT)
    verdicts: dict[str, bool] = {}
    # The serializers, and any framework backend this check ran.
    for backend_name in BACKEND_NAMES + tuple(n for n in results if n not in BACKEND_NAMES):
        if backend_name in culprit.backends:
            verdicts[backend_name] = False
            continue
        result = results.get(backend_name)
        if result is not None and result.ok:
            verdicts[backend_name] = True
            continue
        backend = get_backend(backend_name)
        if (not backend.available or culprit.kind in ("too_deep", "reduce_cycle")
                or culprit.stage == "fresh"):
            continue  # unknown: a fresh load is only tried for the backends asked for
        if deadline.expired():
            continue  # unknown: the check's time is up
        if by_type and (backend_name, t) in cache:
            verdicts[backend_name] = cache[backend_name, t]
            continue
        verdicts[backend_name] = _serializes(backend, culprit, protocol)
        if by_type:
            cache[backend_name, t] = verdicts[backend_name]
    return verdicts


def _serializes(backend: Backend, culprit: Culprit, protocol: int | None) -> bool:
    proto = backend.default_protocol() if protocol is None else protocol
    try:
        if culprit.stage == "dumps":
            backend.dump(culprit.obj, Sink(), proto)
            return True
        data = backend.dumps(culprit.obj, proto)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001
        return False
    return contain.load(backend, data).ok
