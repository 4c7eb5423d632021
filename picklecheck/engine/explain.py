"""From findings to culprits: classified, named, explained and merged across backends.

One culprit per object and stage (unless backends fail on it in different ways),
each with its kind (:mod:`~picklecheck.engine.kinds`), what the other backends do
with it (:mod:`~picklecheck.engine.compare`) and a fix (:mod:`~picklecheck.engine.fixes`).
"""

from __future__ import annotations

from typing import Any

from picklecheck.engine import deferred, fixes, kinds
from picklecheck.engine.compare import compare_backends
from picklecheck.engine.deferred import DeferredCulprit
from picklecheck.engine.finding import Finding, exception_name
from picklecheck.engine.saferepr import qualified_name, type_name
from picklecheck.isolation import deadline
from picklecheck.isolation.foreign import exception_text
from picklecheck.model import BackendResult, Culprit, format_path

__all__ = ["explain_findings"]


def explain_findings(obj: Any, name: str, results: dict[str, BackendResult],
                     findings: dict[str, list[Finding]], protocol: int | None,
                     timeout: float | None = None) -> list[Culprit]:
    """The culprits of ``findings``, merged across backends, each with its kind; their
    hints and ``works_with`` are worked out when first read (see :mod:`.deferred`),
    the comparison within ``timeout`` seconds (the check's own limit)."""
    merged: dict[tuple[int, str, str], DeferredCulprit] = {}
    # By place: what a __getstate__ makes anew each time (a fresh lock) is another object
    # for each backend, at the same place, of the same type. None: a place one backend
    # names twice (two members of a set), which says nothing of whose is whose.
    placed: dict[tuple[str, str, str, type], DeferredCulprit | None] = {}
    known_kinds: dict[Any, Any] = {}  # see kinds.classify
    for backend_name, found in findings.items():
        per_backend: list[Culprit] = []
        for finding in found:
            # One culprit per object and stage, unless backends fail on it differently.
            kind = kinds.classify(finding, known_kinds)
            key = (id(finding.obj), finding.stage, kind)
            culprit = merged.get(key)
            if culprit is None:  # another backend's at the same place, or a new one
                path = format_path(name, finding.steps)
                place = (path, finding.stage, kind, type(finding.obj))
                culprit = placed.get(place)
                if culprit is None or backend_name in culprit.backends:
                    culprit = merged[key] = _culprit(finding, path, backend_name, kind)
                    placed[place] = None if place in placed else culprit
            if backend_name not in culprit.backends:
                culprit.backends += (backend_name,)
                culprit.reasons[backend_name] = _reason(finding)
            per_backend.append(culprit)
        results[backend_name].culprits = per_backend
    culprits = list(merged.values())
    if culprits:
        # The results as they are now: a caller may add other backends' later (as
        # assert_picklable does), and the hints must not depend on when they are read.
        known = dict(results)
        pending = deferred.batch(lambda: _settle(culprits, known, protocol, timeout))
        for culprit in culprits:
            culprit.defer_to(pending)
    return list(culprits)


def _settle(culprits: list[DeferredCulprit], results: dict[str, BackendResult],
            protocol: int | None, timeout: float | None) -> None:
    """Work out every culprit's ``works_with`` and hint (on the first read of one). The
    comparison runs dumps and loads of user objects, so it gets the check's time limit:
    what it has not decided by then stays unknown (left out of ``works_with``)."""
    owners = {id(c): c.finding.owner for c in culprits}
    inside: dict[int, set[str]] = {}
    for culprit in culprits:  # filled in by the comparison, in a helper thread
        culprit.works_with, culprit.works_with_notes = {}, {}
    try:
        deadline.run_within(
            lambda: compare_backends(culprits, results, protocol, owners, inside),
            deadline.Deadline(timeout))
    except deadline.CheckTimeout:
        pass  # what was not decided in time stays unknown
    for culprit in culprits:
        inside.setdefault(id(culprit), set())
    below = _below_each(culprits, results)
    for culprit in culprits:
        # Backends that get past this object but fail on something inside it: reported
        # below its path, or elsewhere (see compare._why_not).
        deeper = [b for b in results
                  if b not in culprit.backends
                  and (b in below[id(culprit)] or b in inside[id(culprit)])]
        # Backends that saved the whole object: whatever they do with this one alone,
        # they get it through here (pickle saves by name the function cloudpickle fails in).
        whole = tuple(b for b, r in results.items() if r.ok and b not in culprit.backends)
        culprit.hint = fixes.hint_for(culprit.kind, culprit.finding, culprit.works_with,
                                      deeper, culprit.backends, culprit.works_with_notes,
                                      whole)
    for culprit in culprits:
        culprit.settled()


def _below_each(culprits: list[DeferredCulprit], results: dict[str, BackendResult]
                ) -> dict[int, set[str]]:
    """For each culprit, the backends with a culprit below its path."""
    below: dict[int, set[str]] = {id(c): set() for c in culprits}
    by_path: dict[str, list[DeferredCulprit]] = {}
    for culprit in culprits:
        by_path.setdefault(culprit.path, []).append(culprit)
    for backend_name, result in results.items():
        for inner in result.culprits:
            for outer_path in _outer_paths(inner.path):
                for outer in by_path.get(outer_path, ()):
                    below[id(outer)].add(backend_name)
    return below


def _outer_paths(path: str) -> list[str]:
    """Every proper prefix of ``path`` that ends right before a ``.`` or ``[`` step."""
    return [path[:i] for i, ch in enumerate(path) if ch in ".[" and i > 0]


def _below(inner: Culprit, outer: Culprit) -> bool:
    """Whether ``inner`` lies inside ``outer`` (its path extends outer's path)."""
    if len(inner.path) <= len(outer.path) or not inner.path.startswith(outer.path):
        return False
    return inner.path[len(outer.path)] in ".["


def _culprit(finding: Finding, path: str, backend_name: str, kind: str) -> DeferredCulprit:
    steps = finding.steps
    detail = finding.detail
    if finding.origin == "class" and finding.via is not None:
        detail = detail or f"its class {qualified_name(finding.via)} cannot be pickled"
    elif finding.origin == "reconstructor" and finding.via is not None:
        detail = detail or "the callable its __reduce__ returns cannot be pickled"
    elif finding.origin == "setter" and finding.via is not None:
        detail = detail or ("the state setter its __reduce_ex__ returns (the sixth item, "
                            "called with the state) cannot be pickled")
    elif finding.origin == "reference" and finding.via is not None:
        via = finding.via
        where = f"{getattr(via, '__module__', '?')}.{getattr(via, '__qualname__', '?')}"
        detail = detail or f"pickled by reference to {where}"
    reason = _reason(finding)
    culprit = DeferredCulprit.pending(
        path=path, obj=finding.obj, type=type_name(finding.obj),
        reason=reason, kind=kind,
        exception=exception_name(finding.exc),
        backends=(backend_name,), stage=finding.stage,
        evaluable=all(step.evaluable for step in steps), steps=steps, detail=detail,
        reasons={backend_name: reason},
    )
    culprit.finding = finding
    return culprit


def _reason(finding: Finding) -> str:
    text = exception_text(finding.exc, 1000)
    if issubclass(type(finding.exc), RecursionError) or finding.origin == "depth":
        limit = finding.extra.get("limit")
        text = text or "maximum recursion depth exceeded"
        if limit:
            text += f" (gave up near {limit:,} levels)"
    return text if len(text) <= 300 else text[:297] + "..."
