"""What a load search leaves out of the bytes it loads: the objects above the child.

A load search loads each child of a node that failed to load, to see which fail too
(:func:`picklecheck.engine.locate.locate_loads`). A child's bytes hold everything it
refers to, and that can lead back up to the node, or above it: a jinja2 template's
functions hold their module's globals, which hold the template. Then every child fails
as the node does, and the search goes down each of them, pickling the whole template
each time (a template of 50 blocks took seconds, and its culprits were its blocks, not
the template). So the search's pickler names each object above the child by a
persistent reference, :data:`LEFT_OUT`, and a load puts a :class:`StandIn` there: a
child fails when it fails on its own, as a dump search memoizes the ancestors. A child
that still fails is searched as before.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["LEFT_OUT", "StandIn", "accept", "leave_out", "left_out", "loader"]

#: How the persistent id of an object left out begins.
LEFT_OUT = "picklecheck:left-out"


class StandIn:
    """What a load puts where an object was left out: a new one each time, as plain as an
    object gets (attributes can be set on it, it can be weakly referenced and hashed),
    so that what refers to it loads as it would with the real one."""

    def __repr__(self) -> str:
        return "<left out by picklecheck>"


def left_out(obj: Any) -> str:
    """The persistent id of ``obj`` left out: :data:`LEFT_OUT` and which one it is."""
    return f"{LEFT_OUT}:{id(obj)}"


def loader() -> Callable[[Any], Any]:
    """A ``persistent_load`` for one load: the same :class:`StandIn` for each reference
    to the same object left out; any other persistent id is refused, as an unpickler
    without a ``persistent_load`` refuses it."""
    made: dict[str, StandIn] = {}

    def persistent_load(pid: Any) -> Any:
        if type(pid) is str and pid.startswith(LEFT_OUT):
            stand_in = made.get(pid)
            if stand_in is None:
                stand_in = made[pid] = StandIn()
            return stand_in
        msg = f"unsupported persistent id encountered: {pid!r}"[:200]
        raise pickle.UnpicklingError(msg)

    return persistent_load


def accept(unpickler: Any) -> None:
    """Have ``unpickler`` load what was left out as stand-ins, unless it loads
    persistent ids its own way (a framework's handed-over objects)."""
    own = getattr(unpickler, "persistent_load", None)
    if own is None or getattr(own, "__func__", None) is pickle._Unpickler.persistent_load:
        unpickler.persistent_load = loader()


def leave_out(pickler: Any, objs: Mapping[int, Any]) -> bool:
    """Have ``pickler`` write a persistent id for each object in ``objs`` (by id); False
    (and nothing changed) if it has a ``persistent_id`` of its own."""
    own = getattr(pickler, "persistent_id", None)
    if own is not None and getattr(own, "__func__", None) is not pickle._Pickler.persistent_id:
        return False

    def persistent_id(obj: Any) -> Any:
        return left_out(obj) if id(obj) in objs else None

    pickler.persistent_id = persistent_id
    return True
