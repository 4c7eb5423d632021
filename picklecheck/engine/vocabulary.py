"""Paths in a library's own words: ``df['rows'].iloc[0]``, not ``df._mgr[<reduce argument 0>]...``.

The pickler reaches a pandas cell through the block manager's reduction, and a numpy
element through the array's flat state; a person reaches them as ``df['rows'].iloc[0]``
and ``arr[1, 0]``. :data:`TRANSLATORS` maps a type (by qualified name, so nothing here
imports the library) to a small function that rewrites the first hops below an object
of that type. Adding a library is one function and one line in the table::

    @translates("pandas.Series", "pandas.core.series.Series")  # pandas 3, pandas 2
    def _series(owner, below):
        ...
        return steps, hops_consumed   # or None to leave the path as it is

A translator is trusted with nothing: its steps are evaluated from the owner, and kept
only when they reach exactly (``is``) the object the consumed hops reached. Evaluating
runs the library's own indexing code (``df[...]``, ``.iloc``), never user code.

Two rules hold for every library type: a ``[<state 'name'>]`` label (a ``__getstate__``
key) becomes ``.name`` when the class has a property of that name returning the same
object (pandas' ``attrs``), and ``._name`` becomes ``.name`` when the class has a
property ``name`` whose getter only reads ``_name`` (matplotlib's ``Ticker.formatter``).
The user's own properties are never called.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from picklecheck.engine.chain import Hop
from picklecheck.engine.usercode import UserCode
from picklecheck.model import ATTR, INDEX, ITEM, OPAQUE, PathStep

__all__ = ["TRANSLATORS", "Translation", "speak", "translates"]

Translation = tuple[tuple[PathStep, ...], int]
Translator = Callable[[Any, Sequence[Hop]], "Translation | None"]

#: qualified type name -> translator; looked up along the type's MRO.
TRANSLATORS: dict[str, Translator] = {}
_FATAL = (KeyboardInterrupt, SystemExit)
_PLAIN = frozenset({dict, list, tuple, set, frozenset})  # no words of their own
_USER = UserCode()


def translates(*names: str) -> Callable[[Translator], Translator]:
    """Register a translator for the types called ``names`` (``module.qualname``)."""
    def register(func: Translator) -> Translator:
        for name in names:
            TRANSLATORS[name] = func
        return func
    return register


def speak(hops: list[Hop]) -> list[Hop]:
    """``hops`` with every stretch a translator knows rewritten in its library's words."""
    out = [hops[0]]
    i = 0
    while i < len(hops) - 1:
        owner, below = hops[i].obj, hops[i + 1:]
        done = None if type(owner) in _PLAIN else _translate(owner, below)
        if done is None:
            out.append(below[0])
            i += 1
            continue
        steps, used = done
        # A documented name for a private attribute is only a better name: it does not
        # make the owner a container of the user's data (as df['col'].iloc[3] does).
        renamed = (used == 1 and len(steps) == 1 and steps[0].kind == ATTR
                   and [s.kind for s in below[0].steps] == [ATTR])
        out.append(Hop(steps, below[used - 1].obj, vocabulary=not renamed))
        i += used
    return out


def _translate(owner: Any, below: Sequence[Hop]) -> Translation | None:
    for func in _translators(owner):
        done = _checked(owner, below, func)
        if done is not None:
            return done
    return (_checked(owner, below, _state_property)
            or _checked(owner, below, _private_attribute))


def _translators(owner: Any) -> list[Translator]:
    found = []
    try:
        for klass in type(owner).__mro__:
            func = TRANSLATORS.get(f"{klass.__module__}.{klass.__qualname__}")
            if func is not None and func not in found:
                found.append(func)
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return []
    return found


def _checked(owner: Any, below: Sequence[Hop], func: Translator) -> Translation | None:
    try:
        done = func(owner, below)
        if done is None:
            return None
        steps, used = done
        if not 1 <= used <= len(below) or _evaluate(owner, steps) is not below[used - 1].obj:
            return None
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - a library that changed its internals
        return None
    return tuple(steps), used


def _evaluate(obj: Any, steps: Sequence[PathStep]) -> Any:
    for step in steps:
        if step.kind == ATTR:
            obj = getattr(obj, step.value)
        elif step.kind in (ITEM, INDEX):
            obj = obj[step.value]
        else:
            raise LookupError(step)
    return obj


# -- every type: __getstate__ keys that are properties ----------------------------------

def _state_property(owner: Any, below: Sequence[Hop]) -> Translation | None:
    (step,) = below[0].steps if len(below[0].steps) == 1 else (None,)
    if step is None or step.kind != OPAQUE or not str(step.value).startswith("state '"):
        return None
    name = str(step.value)[len("state '"):-1]
    if not name.isidentifier() or _library_property(owner, name) is None:
        return None
    return (PathStep.attr(name),), 1


def _private_attribute(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``._name`` becomes ``.name`` when a library class has a property ``name`` whose
    getter only reads ``_name`` (matplotlib's ``Ticker.formatter``): the name the
    library documents, for the same object."""
    steps = below[0].steps
    if len(steps) != 1 or steps[0].kind != ATTR:
        return None
    private = str(steps[0].value)
    public = private.lstrip("_")
    if private == public or private.startswith("__") or not public.isidentifier():
        return None
    found = _library_property(owner, public)
    code = getattr(getattr(found, "fget", None), "__code__", None)
    # A getter that reads the attribute and calls nothing (no I/O, no lazy loading).
    if code is None or private not in code.co_names or len(code.co_names) > 2:
        return None
    return (PathStep.attr(public),), 1


def _library_property(owner: Any, name: str) -> property | None:
    """The property ``name`` of ``owner``'s class, when a library defines it: reading
    it runs its getter, and the user's own code is never run for words."""
    for klass in type(owner).__mro__:
        found = vars(klass).get(name)
        if found is not None:
            mine = _USER.module(getattr(klass, "__module__", None))
            if isinstance(found, property) and found.fget is not None and not mine:
                return found
            return None
    return None


# -- numpy ---------------------------------------------------------------------------

def _flat_index(hop: Hop) -> int | None:
    """``i`` when the hop is ``.flat[i]`` (how the walker names an object array's items)."""
    steps = hop.steps
    if (len(steps) == 2 and steps[0].kind == ATTR and steps[0].value == "flat"
            and steps[1].kind == INDEX):
        return int(steps[1].value)
    return None


def _position(array: Any, flat: int) -> tuple[int, ...]:
    import numpy as np  # an ndarray exists, so numpy is loaded

    return tuple(int(i) for i in np.unravel_index(flat, array.shape))


@translates("numpy.ndarray")
def _ndarray(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``arr[i]`` or ``arr[i, j]`` for an element of an object array, ``arr[i]['name']``
    for an object field of a structured array's record."""
    flat = _flat_index(below[0])
    if flat is not None:
        return (_at(owner, flat),), 1
    return _record_field(owner, below)


def _at(array: Any, flat: int) -> PathStep:
    where = _position(array, flat)
    return PathStep.index(where[0]) if len(where) == 1 else PathStep.item(where)


def _record_field(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """A structured array holding objects is saved as a list of its records, each a
    tuple of its fields in C order (its reduction's state 4): ``[<state 4>][i][f]`` is
    ``arr[i]['name']``."""
    names = owner.dtype.names
    if not names or len(below) < 3:
        return None
    state, record, field = (hop.steps for hop in below[:3])
    if (len(state) != 1 or state[0].kind != OPAQUE or state[0].value != "state 4"
            or len(record) != 1 or record[0].kind != INDEX
            or len(field) != 1 or field[0].kind != INDEX
            or not 0 <= field[0].value < len(names) or not 0 <= record[0].value < owner.size):
        return None
    return (_at(owner, int(record[0].value)), PathStep.item(names[field[0].value])), 3


# -- pandas --------------------------------------------------------------------------

def _element(below: Sequence[Hop], arrays: list[Any]) -> tuple[Any, int, int] | None:
    """The array (one of ``arrays``) whose element the path reaches: the array, the
    element's flat index, and how many hops that took."""
    for k in range(len(below) - 1):
        if any(below[k].obj is a for a in arrays):
            flat = _flat_index(below[k + 1])
            if flat is not None:
                return below[k].obj, flat, k + 2
    return None


def _axis(owner: Any, below: Sequence[Hop], names: tuple[str, ...]) -> Translation | None:
    """``.index`` (or ``.columns``) when the path goes through that axis."""
    for name in names:
        axis = getattr(owner, name)
        for k, hop in enumerate(below):
            if hop.obj is axis:
                return (PathStep.attr(name),), k + 1
    return None


@translates("pandas.DataFrame", "pandas.core.frame.DataFrame")
def _dataframe(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``df['col'].iloc[i]`` for a cell (``df.iloc[i, j]`` when the label is not
    unique or not a literal), ``df.index`` and ``df.columns`` for the axes."""
    blocks = list(owner._mgr.blocks)
    found = _element(below, [b.values for b in blocks])
    if found is None:
        return _axis(owner, below, ("index", "columns"))
    array, flat, used = found
    block = next(b for b in blocks if b.values is array)
    item, row = _position(array, flat) if array.ndim == 2 else (0, flat)
    column = int(block.mgr_locs.as_array[item])
    label = owner.columns[column]
    key = PathStep.item(label)
    if key.evaluable and owner.columns.is_unique:
        return (key, PathStep.attr("iloc"), PathStep.index(row)), used
    return (PathStep.attr("iloc"), PathStep.item((row, column))), used


@translates("pandas.Series", "pandas.core.series.Series")
def _series(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``s.iloc[i]`` for an element, ``s.index`` for the index."""
    found = _element(below, [b.values for b in owner._mgr.blocks])
    if found is None:
        return _axis(owner, below, ("index",))
    _, flat, used = found
    return (PathStep.attr("iloc"), PathStep.index(flat)), used


@translates("pandas.Index", "pandas.core.indexes.base.Index")
def _index(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``idx[i]`` for a label of an object index."""
    found = _element(below, [owner._data])
    if found is None:
        return None
    _, flat, used = found
    return (PathStep.index(flat),), used


# -- matplotlib ------------------------------------------------------------------------

@translates("matplotlib.figure.FigureBase")
def _figure(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``fig.axes[i]`` for an Axes the figure keeps in ``_localaxes``."""
    if len(below) < 2 or [s.value for s in below[0].steps] != ["_localaxes"]:
        return None
    target = below[1].obj
    for i, axes in enumerate(owner.axes):
        if axes is target:
            return (PathStep.attr("axes"), PathStep.index(i)), 2
    return None


# -- networkx --------------------------------------------------------------------------

#: A graph's dicts of the user's attributes, and how many item steps lead to one (a node's,
#: an edge's, the graph's own).
_GRAPH_DATA = {"_node": 1, "_adj": 2, "_succ": 2, "_pred": 2, "graph": 0}


@translates("networkx.classes.graph.Graph")
def _graph(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """A node's, an edge's or the graph's attribute dict: data the user put there, so the
    graph holds it as a container does (``G._node['a']['lock']``, ``G.graph['fn']``). The
    words stay the attributes' own: ``G.nodes`` and ``G.adj`` are cached properties,
    which reading would add to the graph's ``__dict__``."""
    steps = below[0].steps
    if len(steps) != 1 or steps[0].kind != ATTR or steps[0].value not in _GRAPH_DATA:
        return None
    used = 1 + _GRAPH_DATA[str(steps[0].value)] + 1  # the attribute, keys, one value
    if len(below) < used or not all(
            len(hop.steps) == 1 and hop.steps[0].kind == ITEM for hop in below[1:used]):
        return None
    return tuple(step for hop in below[:used] for step in hop.steps), used


@translates("starlette.datastructures.State")
def _app_state(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``state.db`` for what an app stored on ``app.state`` or ``request.state``
    (starlette, FastAPI: kept in ``state._state``)."""
    if len(below) < 2:
        return None
    first, second = below[0].steps, below[1].steps
    if [(s.kind, s.value) for s in first] != [(ATTR, "_state")]:
        return None
    if len(second) != 1 or second[0].kind != ITEM:
        return None
    key = second[0].value
    if not isinstance(key, str) or not key.isidentifier():
        return None
    return (PathStep.attr(key),), 2


@translates("xarray.DataArray", "xarray.core.dataarray.DataArray")
def _data_array(owner: Any, below: Sequence[Hop]) -> Translation | None:
    """``da.attrs`` and ``da.encoding``, which a DataArray keeps on its variable."""
    if len(below) < 2:
        return None
    names = [[(s.kind, s.value) for s in hop.steps] for hop in below[:2]]
    if names[0] not in ([(ATTR, "_variable")], [(ATTR, "variable")]):
        return None
    for public in ("attrs", "encoding"):
        if names[1] in ([(ATTR, public)], [(ATTR, "_" + public)]):
            return (PathStep.attr(public),), 2
    return None
