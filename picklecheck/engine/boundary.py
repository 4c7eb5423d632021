"""Where the user's decision sits: the outermost library object their data holds, and the
nearest code they own.

A SQLAlchemy ``Session`` fails on fifty objects deep inside it; the user's decision is
one level up, "don't send the Session". Along a culprit's path (its hops, from
:mod:`~picklecheck.engine.chain`, in the library's words from
:mod:`~picklecheck.engine.vocabulary`) each object is

* the user's (:class:`~picklecheck.engine.usercode.UserCode`: a class or function they
  wrote, or an instance of their class),
* a container of their data (dicts, lists, tuples, sets, ``collections`` types,
  ``SimpleNamespace``, ``functools.partial``, bound methods, closure cells, and a
  library's data container reached in its own words: ``df['col'].iloc[0]``), or
* a library object: anything else.

The *boundary* is the first library object on the path: what the user chose to put
there. When the culprit lies strictly inside it and is not itself the user's (a lambda
the user handed to a library stays a culprit of its own), the report collapses the
culprit into it. The *holder* is the deepest object of the user's above the boundary
(or above the culprit): the class or function a fix can name, since a fix never asks
anyone to edit the standard library or a third-party package.
"""

from __future__ import annotations

import collections
import functools
import sys
import types
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picklecheck.engine import chain, vocabulary
from picklecheck.engine.finding import waypoints
from picklecheck.engine.fixes import about_the_loader, boundary_hint, runner_bases
from picklecheck.engine.holder import DATA, Holder, holder_of, owner_holder
from picklecheck.engine.saferepr import type_name
from picklecheck.engine.usercode import UserCode
from picklecheck.isolation import deadline
from picklecheck.model import Culprit, PathStep, Within, format_path

if TYPE_CHECKING:
    from picklecheck.backends import Backend
    from picklecheck.engine.finding import Finding

__all__ = ["Place", "annotate", "attach", "key_of", "place_of"]

_CONTAINERS = (dict, list, tuple, set, frozenset, collections.OrderedDict,
               collections.defaultdict, collections.deque, collections.Counter,
               collections.ChainMap, collections.UserDict, collections.UserList,
               types.SimpleNamespace, functools.partial, types.MethodType, types.CellType,
               types.BuiltinMethodType, types.MethodWrapperType, staticmethod, classmethod)
USER, CONTAINER, LIBRARY = "user", "container", "library"
_FATAL = (KeyboardInterrupt, SystemExit)

Places = dict[tuple[str, int, int], "Place"]


@dataclass
class Place:
    """Where one culprit sits: its path's steps in library words, the holder of its fix,
    and (when it is collapsed) the boundary object and the steps to it."""

    steps: tuple[PathStep, ...]
    holder: Holder
    boundary: tuple[PathStep, ...] | None = None
    boundary_obj: Any = None
    finding: Any = None  # the finding it was worked out for


def annotate(root: Any, findings: dict[str, list[Finding]], protocol: int | None,
             user: UserCode, backends: dict[str, Backend]) -> Places:
    """Rewrite each finding's steps in library words and note its holder in
    ``finding.extra["holder"]`` (read by :mod:`~picklecheck.engine.fixes`).

    Returns each finding's :class:`Place`, keyed by :func:`key_of` its culprit: the
    culprit made from a finding shares its object and its steps.
    """
    places: Places = {}
    for name, found in findings.items():
        if not found:  # nothing to place (a backend not installed among them)
            continue
        backend = backends[name]
        proto = backend.default_protocol() if protocol is None else protocol
        cache: chain.Children = {}
        for finding in found:
            place = Place(finding.steps, DATA)  # the search's words: past the time limit,
            if not deadline.expired():  # or for a hostile object
                try:
                    place = place_of(root, finding, backend, proto, user, cache)
                except _FATAL:
                    raise
                except BaseException:  # noqa: BLE001, S110 - it keeps the search's words
                    pass
            finding.steps = place.steps
            finding.extra["holder"] = place.holder
            place.finding = finding
            places[name, id(finding.obj), id(finding.steps)] = place
    return places


def place_of(root: Any, finding: Finding, backend: Backend, protocol: int, user: UserCode,
             cache: chain.Children | None = None) -> Place:
    """The :class:`Place` of one finding (its own steps and the owner's class when the
    path cannot be walked again)."""
    hops = None
    if finding.origin not in ("depth", "cycle"):
        hops = chain.resolve(root, finding.steps, finding.obj, backend, protocol, cache,
                             waypoints(finding.link))
        # The objects the search met on the way, where the path leads elsewhere now (a
        # running event loop's timers change under the check)
        hops = hops or _link_hops(finding)
    if hops is None:
        return Place(finding.steps, owner_holder(finding, user))
    hops = vocabulary.speak(hops)
    steps = tuple(step for hop in hops for step in hop.steps)
    roles = [_role(hop.obj, hops[i + 1] if i + 1 < len(hops) else None, user)
             for i, hop in enumerate(hops)]
    last = len(hops) - 1
    edge = next((i for i, role in enumerate(roles) if role == LIBRARY), last)
    mine = [role == USER for role in roles]
    if (mine[last] and not _through_a_loop(hops, edge, last)) or edge == last:
        return Place(steps, holder_of(hops, mine, last))
    to_edge = tuple(step for hop in hops[:edge + 1] for step in hop.steps)
    return Place(steps, holder_of(hops, mine, edge), to_edge, hops[edge].obj)


def _through_a_loop(hops: list[chain.Hop], edge: int, last: int) -> bool:
    """Whether a function of the user's is reached from the library object at ``edge``
    through an asyncio event loop: it is what the loop runs for someone else (a server's
    handler, reached from a client's StreamWriter), no part the user handed to that
    object, and the object is the decision."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    return any(issubclass(type(hop.obj), asyncio.AbstractEventLoop) for hop in hops[edge:last])


def _link_hops(finding: Finding) -> list[chain.Hop] | None:
    """The hops of the path the search took to ``finding`` (its link's cells that hold an
    object), or None when they do not lead to its object."""
    cells = []
    link = finding.link
    while link is not None:
        cells.append(link)
        link = link[0]
    hops: list[chain.Hop] = []
    pending: tuple[PathStep, ...] = ()
    for cell in reversed(cells):
        pending += tuple(cell[1])
        if len(cell) > 3:
            hops.append(chain.Hop(pending, cell[3]))
            pending = ()
    if pending or not hops or hops[-1].obj is not finding.obj:
        return None
    return hops


def key_of(culprit: Culprit) -> tuple[str, int, int]:
    """The key of the finding a culprit was made from: its first backend's, with the same
    object and the same steps (``()`` is one tuple for every root, hence the backend)."""
    return culprit.backends[0], id(culprit.obj), id(culprit.steps)


def _role(obj: Any, below: chain.Hop | None, user: UserCode) -> str:
    if user.defines(obj):
        # A Thread subclass of the user's holds the thread's own state too (_started,
        # _tstate_lock): the thread is the decision, not an attribute to drop
        return LIBRARY if _runs_as_thread(obj, below) else USER
    if (_is_container(obj, below) or (below is not None and below.vocabulary)
            or _holds_users_value(obj, below)):
        return CONTAINER
    return LIBRARY


def _is_container(obj: Any, below: chain.Hop | None) -> bool:
    """Whether ``obj`` holds what is below it as a container holds data: any builtin
    container does; a library's subclass of one (sqlitedict's ``SqliteDict`` is a
    ``UserDict``) only through its items or its ``data``, not its own attributes (its
    connection is the library's, the decision is the library object)."""
    cls = type(obj)
    if cls in _CONTAINERS:
        return True
    if not issubclass(cls, _CONTAINERS):
        return False
    return _attribute_below(below) in (None, "data")


#: Library objects that keep the user's own values (a bag): by (module, class), the
#: attributes that hold them, :data:`_EVERY` one, or :data:`_EXTRA` (those the library
#: does not set itself). What is found there is the user's decision, not the library's.
_EVERY, _EXTRA = "every", "extra"
_BAGS: dict[tuple[str, str], Any] = {
    ("argparse", "Namespace"): _EVERY,
    ("optparse", "Values"): _EVERY,
    ("click.core", "Context"): frozenset({"obj", "meta"}),  # click's place for app state
    ("concurrent.futures._base", "Future"): frozenset({"_result"}),  # what the work returned
    ("logging", "LogRecord"): _EXTRA,  # logger.info(msg, *args, extra={...})
    # xarray's metadata of the user's: ds.attrs, ds.encoding (a DataArray's are its
    # variable's)
    ("xarray.core.dataset", "Dataset"): frozenset({"attrs", "encoding", "_attrs", "_encoding"}),
    ("xarray.core.variable", "Variable"): frozenset({"attrs", "encoding", "_attrs",
                                                     "_encoding"}),
    ("flask.ctx", "_AppCtxGlobals"): _EVERY,  # flask.g, the app's place for its state
}


def _holds_users_value(obj: Any, below: chain.Hop | None) -> bool:
    """Whether ``below`` is an attribute of a library bag (:data:`_BAGS`) that holds a
    value of the user's."""
    name = _attribute_below(below)
    if name is None:
        return False
    try:
        bag = next((_BAGS[key] for klass in type(obj).__mro__
                    if (key := (klass.__module__, klass.__qualname__)) in _BAGS), None)
    except Exception:  # noqa: BLE001 - a hostile class
        return False
    if bag is _EXTRA:
        return name in ("msg", "args") or name not in _record_attributes()
    return bag is _EVERY or (bag is not None and name in bag)


def _attribute_below(below: chain.Hop | None) -> str | None:
    """The attribute ``below`` starts with (the step from its owner), or None."""
    if below is None or not below.steps or below.steps[0].kind != "attr":
        return None
    return str(below.steps[0].value)


@functools.cache
def _record_attributes() -> frozenset[str]:
    """What ``logging`` sets on every LogRecord (the rest came with ``extra=``)."""
    logging = sys.modules["logging"]  # a LogRecord was met: logging is imported
    return frozenset(vars(logging.makeLogRecord({})))


def _runs_as_thread(obj: Any, below: chain.Hop | None) -> bool:
    """Whether ``below`` is an attribute ``threading.Thread`` (or ``multiprocessing``'s
    process) gives every instance, of an instance of a subclass of it."""
    name = _attribute_below(below)
    if name is None:
        return False
    for base in runner_bases():
        try:
            if not issubclass(type(obj), base):
                continue
        except Exception:  # noqa: BLE001 - a hostile metaclass
            return False
        return name in _set_by_init(base)
    return False


@functools.cache
def _set_by_init(base: type) -> frozenset[str]:
    """What ``base.__init__`` sets on every instance (an unstarted thread's or process's)."""
    return frozenset(vars(base()))


def attach(name: str, culprits: list[Culprit], places: Places) -> None:
    """Give each culprit inside a library object its :class:`~picklecheck.model.Within`:
    one per object, with a fix that knows every kind of culprit inside it."""
    inside: dict[int, tuple[Place, list[Culprit]]] = {}
    for culprit in culprits:
        place = places.get(key_of(culprit))
        if place is not None and place.boundary is not None:
            inside.setdefault(id(place.boundary_obj), (place, []))[1].append(culprit)
    for place, members in inside.values():
        steps = place.boundary or ()
        kinds = [c.kind for c in members]
        # What the loading interpreter lacks is said best by the culprit itself ("numpy
        # is not installed where it loads").
        hint = (members[0].hint if about_the_loader(kinds)
                else boundary_hint(place.boundary_obj, place.holder, kinds))
        within = Within(path=format_path(name, steps), obj=place.boundary_obj,
                        type=type_name(place.boundary_obj), hint=hint, steps=steps,
                        evaluable=all(step.evaluable for step in steps))
        for culprit in members:
            culprit.within = within
