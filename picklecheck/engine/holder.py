"""The nearest code the user owns above a culprit: where its fix goes.

A lock inside a ``queue.Queue`` inside the user's ``JobRunner`` is fixed in
``JobRunner.__getstate__`` (drop ``jobs``), never in ``queue.Queue``; a connection a
closure captured is fixed in that function. :func:`holder_of` reads this off the objects
along the path (see :mod:`~picklecheck.engine.boundary`); :func:`owner_holder` makes do
with the culprit's immediate owner when the path could not be walked again.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picklecheck.engine.saferepr import qualified_name
from picklecheck.model import ATTR, INDEX, ITEM, OPAQUE, PathStep, dotted

if TYPE_CHECKING:
    from picklecheck.engine.chain import Hop
    from picklecheck.engine.finding import Finding
    from picklecheck.engine.usercode import UserCode

__all__ = ["DATA", "Holder", "holder_of", "owner_holder"]


@dataclass(frozen=True)
class Holder:
    """Where the fix of an object goes.

    ``kind`` is "class" (an instance of a class the user wrote holds it as ``attr``, or
    through items when ``attr`` is None, or ``via`` "state": as the key ``label`` of the
    state its ``__getstate__`` returns), "type" (a class the user wrote, saved by value,
    holds it as the class attribute ``attr``), "function" (a function the user wrote
    reaches it ``via`` "closure", "global", "default", or "attribute": its own attribute
    ``attr``, saved with it when it is saved by value), or "data" (only containers
    hold it). ``name`` is qualified (``app.models.Cache``); ``short`` is what the code
    calls it (``Cache``).
    """

    kind: str
    name: str = ""
    short: str = ""
    attr: str | None = None
    via: str = ""
    label: str = ""  # the free variable's, the global's or the state key's name


DATA = Holder("data")


def holder_of(hops: Sequence[Hop], mine: Sequence[bool], target: int) -> Holder:
    """The deepest object of the user's (``mine``) above hop ``target``, and how it
    reaches that hop."""
    owner = max((i for i in range(target) if mine[i]), default=-1)
    if owner < 0:
        return DATA
    obj = hops[owner].obj
    steps = [step for hop in hops[owner + 1:target + 1] for step in hop.steps]
    if type(obj) is types.FunctionType:
        return _function_holder(obj, steps)
    if issubclass(type(obj), type):
        return Holder("type", qualified_name(obj), _short(obj), _own_attr(steps))
    return _instance_holder(type(obj), steps)


def _instance_holder(cls: type, steps: list[PathStep]) -> Holder:
    """An instance of the user's class ``cls`` holds it along ``steps``: as its own
    attribute, or as a key of the state its ``__getstate__`` returns."""
    key = _state_key(steps)
    if key:
        return Holder("class", qualified_name(cls), _short(cls), via="state", label=key)
    return Holder("class", qualified_name(cls), _short(cls), _own_attr(steps))


def _first_step(steps: list[PathStep], kind: str) -> PathStep | None:
    """The path's first step, when it is of ``kind`` and no item follows it (then the
    object sits in a container that the fix cannot name)."""
    if not steps or steps[0].kind != kind or any(s.kind in (ITEM, INDEX) for s in steps[1:]):
        return None
    return steps[0]


def _state_key(steps: list[PathStep]) -> str:
    """The key of the state its class's ``__getstate__`` (or ``__reduce__``) returns that
    leads to the object, when no attribute of the instance holds it (made on the fly)."""
    step = _first_step(steps, OPAQUE)
    label = str(step.value) if step is not None else ""
    return label[len("state "):] if label.startswith("state '") else ""


def owner_holder(finding: Finding, user: UserCode) -> Holder:
    """Without the objects on the path: the immediate owner, when the user wrote it."""
    owner = finding.owner
    if owner is None or not user.defines(owner):
        return DATA
    if type(owner) is types.FunctionType:
        return Holder("function", qualified_name(owner), _short(owner))
    return _instance_holder(type(owner), list(finding.steps[-1:]))


def _own_attr(steps: list[PathStep]) -> str | None:
    """The holder's own attribute that leads to the object (see :func:`_first_step`):
    ``Cache.ns.lock`` is dropped as ``ns`` (a SimpleNamespace), ``User._sa_class_manager.
    declarative_scan`` as ``_sa_class_manager``. ``__class__`` is no attribute anyone can
    drop."""
    step = _first_step(steps, ATTR)
    if step is None or step.value == "__class__":
        return None
    name = str(step.value)  # quoted where it is no identifier ('my attr')
    return name if dotted(name) else repr(name)


def _function_holder(func: Any, steps: list[PathStep]) -> Holder:
    name, short = qualified_name(func), _short(func)
    first = steps[0] if steps else None
    attr = first.value if first is not None and first.kind == ATTR else ""
    if attr == "__closure__":
        return Holder("function", name, short, via="closure",
                      label=_free_variable(func, steps))
    if attr == "__globals__" and len(steps) > 1 and steps[1].kind == ITEM:
        return Holder("function", name, short, via="global", label=str(steps[1].value))
    if attr in ("__defaults__", "__kwdefaults__"):
        return Holder("function", name, short, via="default")
    own = _own_attr(steps)
    if own and not own.startswith("__"):  # set on the function (a decorator's register)
        return Holder("function", name, short, own, via="attribute")
    return Holder("function", name, short)


def _short(obj: Any) -> str:
    name = getattr(obj, "__name__", None)
    return name if isinstance(name, str) else "it"


def _free_variable(func: Any, steps: list[PathStep]) -> str:
    """The name of the variable a closure cell holds (``co_freevars``)."""
    try:
        return str(func.__code__.co_freevars[int(steps[1].value)])
    except Exception:  # noqa: BLE001
        return ""
