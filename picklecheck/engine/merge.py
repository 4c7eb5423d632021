"""One culprit per object, whatever each backend did with it.

Explaining keeps one culprit per object *and stage*: an open file that pickle cannot dump
and that dill dumps but would re-open for writing when loading came out as two culprits
at the same path. A person has one thing to change there, so :func:`one_per_object`
folds the later one into the first: its backends join, its cause is kept under its
backend's name ("dill: loads: HazardBlockedError: ..."), and the hint says what that
backend does with it. Each backend's own list (``BackendResult.culprits``) is untouched.

A class is one decision too, wherever backends meet it. pickle names an instance of a
class defined in a function (``obj``: "its class cannot be pickled"); dill, which gets
past the instance, may fail on the class itself (``obj.__class__``: a pydantic model's
class defined in a function). A culprit met as an instance's ``__class__`` (or as its
class's, a metaclass that makes classes at run time: a ctypes array's) is folded into
every culprit that names it as an instance's class (from other backends, at any stage:
cloudpickle dumps ``sys.flags`` by value and fails to load it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from picklecheck.engine.boundary import key_of
from picklecheck.engine.fixes import hint_for

if TYPE_CHECKING:
    from picklecheck.engine.boundary import Places
    from picklecheck.engine.finding import Finding
    from picklecheck.model import Culprit

__all__ = ["one_per_object"]

_STAGE = {"loads": "loads: ", "fresh": "fresh interpreter: "}
_DOES = {"loads": "it dumps, but does not load back",
         "fresh": "it loads here, but not in a new interpreter"}


def one_per_object(culprits: list[Culprit], places: Places) -> list[Culprit]:
    """``culprits`` with every later culprit of an object folded into its first, and each
    culprit on a class into those on its instances (see the module)."""
    classes = [_class_of(culprit) for culprit in culprits]
    instances: dict[int, list[Culprit]] = {}
    for culprit, cls in zip(culprits, classes, strict=True):
        if cls is not None:
            instances.setdefault(id(cls), []).append(culprit)
            # A ctypes array's class is made by its metaclass (whose base, on 3.13, dill
            # fails on: obj.__class__.__class__.__bases__[0]).
            for meta in _metaclasses(cls):
                instances.setdefault(id(meta), []).append(culprit)
    first: dict[int, Culprit] = {}
    out: list[Culprit] = []
    for culprit, cls in zip(culprits, classes, strict=True):
        users = [c for c in instances.get(id(culprit.obj), ())
                 if not set(c.backends) & set(culprit.backends)]
        if cls is None and any(culprit.path.startswith(f"{user.path}.__class__")
                               for user in users):
            for user in users:
                _absorb(user, culprit, places)
            continue
        kept = first.get(id(culprit.obj))
        if kept is None:
            first[id(culprit.obj)] = culprit
            out.append(culprit)
        else:
            _absorb(kept, culprit, places)
    return out


def _absorb(kept: Culprit, other: Culprit, places: Places) -> None:
    own = kept.backends
    joined = [b for b in other.backends if b not in own]
    if not joined:
        return
    for backend in joined:
        stage = _STAGE.get(other.stage, "") if other.stage != kept.stage else ""
        kept.reasons[backend] = f"{stage}{other.exception}: {other.reason}"
    mine, theirs = _finding(kept, places), _finding(other, places)
    kept.backends = own + tuple(joined)  # before the comparison: it is not "dill: ok"

    def words() -> None:
        for backend in joined:
            kept.works_with[backend] = False
        if mine is None or theirs is None:
            return
        others = {b: ok for b, ok in kept.works_with.items() if b not in kept.backends}
        # What the joined backends do with it: how far they get (a copy that loads but
        # is broken says so itself), then their own fix when it is another kind (the
        # same kind's fix is already said).
        how = next((kept.works_with_notes[b] for b in joined if b in kept.works_with_notes),
                   None)
        if how is None and other.kind == kept.kind:
            how = other.reason if other.exception == "UnusableCopyError" else _DOES.get(other.stage)
        fix = hint_for(other.kind, theirs, {}) if other.kind != kept.kind else None
        said = "; ".join(w for w in (how, fix) if w)
        kept.hint = hint_for(kept.kind, mine, others, (), own, kept.works_with_notes) + (
            f"; with {' and '.join(joined)}: {said}" if said else "")

    # Hints and works_with are worked out when first read (see .deferred): so is this.
    then = getattr(kept, "then", None)
    if then is None or not then(words):
        words()


def _metaclasses(cls: type) -> tuple[type, ...]:
    """The classes of ``cls``'s metaclass's mro, ``type`` and ``object`` aside."""
    try:
        mro: tuple[type, ...] = type.__dict__["__mro__"].__get__(type(cls))
        return tuple(k for k in mro if k is not type and k is not object)
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return ()


def _finding(culprit: Culprit, places: Places) -> Finding | None:
    place = places.get(key_of(culprit))
    return place.finding if place is not None else None


def _class_of(culprit: Culprit) -> type | None:
    """The class whose failure makes ``culprit`` fail ("its class cannot be pickled")."""
    finding = getattr(culprit, "finding", None)
    if finding is None or not isinstance(finding.via, type):
        return None
    if finding.origin == "class" or (
            # a class that is its instances' reconstructor (a structseq: sys.flags)
            finding.origin == "reconstructor" and finding.via is type(finding.obj)):
        return finding.via
    return None
