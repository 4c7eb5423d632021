"""What a load search leaves out of the bytes it loads: the objects above the child.

A load search loads each child of a node that failed to load, to see which fail too
(:func:`picklecheck.engine.locate.locate_loads`). A child's bytes hold everything it
refers to, and that can lead back up to the node, or above it: a jinja2 template's
functions hold their module's globals, which hold the template. Then every child fails
as the node does, and the search goes down each of them, pickling the whole template
each time (a template of 50 blocks took seconds, and its culprits were its blocks, not
the template). So the search's pickler names each object above the child by a
persistent reference (:func:`leaving_out`), and a load puts a :class:`StandIn` there
(:class:`StandIns`): a child fails when it fails on its own, as a dump search memoizes
the ancestors. A child that still fails is searched as before.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["LEFT_OUT", "StandIn", "StandIns", "left_out", "leaving_out"]

#: How the persistent id of an object left out begins.
LEFT_OUT = "picklecheck:left-out"


class StandIn:
    """What a load puts where an object was left out: one per object, as plain as an
    object gets (attributes can be set on it, it can be weakly referenced and hashed),
    so that what refers to it loads as it would with the real one."""

    def __repr__(self) -> str:
        return "<left out by picklecheck>"


def left_out(obj: Any) -> str:
    """The persistent id of ``obj`` left out: :data:`LEFT_OUT` and which one it is."""
    return f"{LEFT_OUT}:{id(obj)}"


class StandIns:
    """For an unpickler class (first among its bases): what a search left out loads as a
    :class:`StandIn`, the same one for each reference to the same object in one load;
    any other persistent id is refused, as by an unpickler without a ``persistent_load``.
    (A method of the class: from Python 3.13 the C unpickler reads it only there.)"""

    def persistent_load(self, pid: Any) -> Any:
        if type(pid) is str and pid.startswith(LEFT_OUT):
            made = self.__dict__.setdefault("_picklecheck_stand_ins", {})
            stand_in = made.get(pid)
            if stand_in is None:
                stand_in = made[pid] = StandIn()
            return stand_in
        msg = f"unsupported persistent id encountered: {pid!r}"[:200]
        raise pickle.UnpicklingError(msg)


#: What a pickler class's ``persistent_id`` is when it has none of its own.
_NO_PERSISTENT_ID = (None, pickle._Pickler.persistent_id,
                     getattr(pickle.Pickler, "persistent_id", None))
_LEAVING: dict[type, type] = {}


def leaving_out(pickler_class: type) -> type | None:
    """A subclass of ``pickler_class`` whose instances write a persistent id for each
    object in their ``left_out`` (id -> object); None if the class has a
    ``persistent_id`` of its own. (A method of the class: from Python 3.13 the C
    pickler reads it only there.)"""
    made = _LEAVING.get(pickler_class)
    if made is None:
        if getattr(pickler_class, "persistent_id", None) not in _NO_PERSISTENT_ID:
            return None

        def persistent_id(self: Any, obj: Any) -> Any:
            return left_out(obj) if id(obj) in self.left_out else None

        made = _LEAVING[pickler_class] = type(
            "LeavingOut" + pickler_class.__name__, (pickler_class,),
            {"persistent_id": persistent_id, "left_out": {}, "__module__": __name__})
    return made
