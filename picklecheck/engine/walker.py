"""The pickler's-eye view of one object: what a backend's pickler saves next.

:func:`expand` answers "which objects does this backend's pickler save while it
saves ``obj``, and by which path does a person reach each of them?". Containers
are handled the way every pickler handles them; everything else goes through the
backend's own reduction (dispatch tables, copyreg, ``reducer_override``,
``__reduce_ex__``), so nothing is walked that the pickler would not walk: a logger
pickled by name has no children, an exception's ``__traceback__`` is never
reached, a cloudpickled function has its closure cells and referenced globals.

Steps are named so that the path is a Python expression wherever one exists
(``.attr`` for instance and slot state, ``.__closure__[0].cell_contents``,
``.args[0]``, ``.func``); elsewhere the step is an opaque label.
"""

from __future__ import annotations

import collections
import functools
import itertools
import operator
import pickle
import types
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from picklecheck.backends import GLOBAL, OPAQUE_CHILDREN
from picklecheck.model import PathStep, dotted

if TYPE_CHECKING:
    from picklecheck.backends import Backend

__all__ = ["ATOMS", "SETTER", "Child", "Expansion", "expand", "safe_attr"]

#: Types every pickler writes as a single opcode: never a culprit, never entered.
ATOMS = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})

MISSING = object()

# Roles of a child within its parent's reduction. "args" and "class" are saved
# before the parent is memoized, so a cycle back through them never ends.
ARGS, STATE, ITEMS, CLASS, FUNC = "args", "state", "items", "class", "func"
_FOLDED = (CLASS, FUNC)
#: The step to a reduction's state setter (its sixth item, called with the state).
SETTER = PathStep.opaque("state setter")

# Attributes that C types expose through member or getset descriptors (safe to read:
# no user code runs) and that reductions commonly pass along.
_KNOWN_ATTRS = (
    "__self__", "__func__", "func", "args", "keywords", "default_factory",
    "__code__", "__globals__", "__closure__", "__defaults__", "__kwdefaults__",
    "__dict__", "cell_contents", "__wrapped__", "fget", "fset", "fdel", "__objclass__",
    "__bases__",
)
_SAFE_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)


class Child:
    """One object the pickler saves while saving its parent."""

    __slots__ = ("obj", "steps", "role")

    def __init__(self, obj: Any, steps: tuple[PathStep, ...], role: str) -> None:
        self.obj = obj
        self.steps = steps
        self.role = role

    @property
    def folded(self) -> bool:
        """A class or reconstructor: a failure here is reported as the parent's own."""
        return self.role in _FOLDED


class Expansion:
    """The children of one object, built lazily for big containers.

    ``objs`` is the list (or tuple) the scan pickles (cheap to build, in pickling order;
    the scan draws runs of it through its iterator, whose position it reads back);
    :meth:`child` names the i-th one only when it is needed.
    """

    __slots__ = ("objs", "_keys", "_children", "levels", "kind")

    def __init__(self, kind: str, objs: Sequence[Any], levels: int = 1,
                 keys: Sequence[Any] | _Keys | None = None,
                 children: Sequence[Child | _Items | _Elements] | None = None) -> None:
        self.kind = kind
        self.objs = objs
        self.levels = levels
        self._keys = keys
        self._children = children

    def __len__(self) -> int:
        return len(self.objs)

    def child(self, i: int) -> Child:
        if self._children is not None:
            child = self._children[i]
            return child if isinstance(child, Child) else child.child(i, self.objs[i])
        obj = self.objs[i]
        if self.kind == "list":
            return Child(obj, (PathStep.index(i),), ITEMS)
        if self.kind == "dict":
            keys = self._keys
            if isinstance(keys, _Keys):
                key = keys.nth(i)  # counted to from the last one named, not listed
                if key is not MISSING and key is not _BEHIND:
                    return Child(obj, (PathStep.item(key),), ITEMS)
                keys = self._keys = keys.listed()
            if keys is None:  # the dict changed under the check: no key is known
                return Child(obj, (PathStep.opaque(f"value {i}"),), ITEMS)
            if i < len(keys):
                return Child(obj, (PathStep.item(keys[i]),), ITEMS)
            return Child(obj, (PathStep.opaque(f"key {_short_type(obj)}"),), ITEMS)
        if self.kind == "set":
            return Child(obj, (PathStep.opaque("set element"),), ITEMS)
        return Child(obj, (PathStep.opaque(f"item {i}"),), ITEMS)


#: What :meth:`_Keys.nth` says of a key before the last one it named.
_BEHIND = object()


class _Keys:
    """A dict's keys, named without listing them (listing a million of them costs a third
    of pickling the dict): failing values are named in the order the scan met them, so
    each key is counted to from the last one named, one walk over the dict for all of
    them. A key before the last one named has them listed."""

    __slots__ = ("mapping", "size", "_walk", "_at")

    def __init__(self, mapping: dict[Any, Any], size: int) -> None:
        self.mapping, self.size = mapping, size
        self._walk: Iterator[Any] | None = None
        self._at = 0  # the index of the key the walk yields next

    def nth(self, i: int) -> Any:
        """The ``i``-th key; :data:`_BEHIND` for one before the last named, MISSING if
        the dict changed under the check."""
        if i < self._at:
            return _BEHIND
        if len(self.mapping) != self.size:
            return MISSING
        if self._walk is None:
            self._walk = iter(self.mapping)
        try:
            key = next(itertools.islice(self._walk, i - self._at, None))
        except (StopIteration, RuntimeError):  # changed while counting (another thread)
            return MISSING
        self._at = i + 1
        return key

    def listed(self) -> list[Any] | None:
        keys = list(self.mapping)
        # Changed under the check (another thread): no key names a value for sure.
        return keys if len(keys) == self.size else None


LEAF = Expansion("leaf", ())


def expand(obj: Any, backend: Backend, protocol: int) -> Expansion:
    """The children ``backend``'s pickler saves for ``obj``.

    Raises what the backend's reduction raises: then ``obj`` is itself the culprit.
    """
    t = type(obj)
    if t in ATOMS:
        return LEAF
    if t is list or t is tuple:
        return Expansion("list", obj)
    if t is dict:
        if backend.name == "dill" and backend.is_module_dict(obj):  # type: ignore[attr-defined]
            return LEAF
        values = list(obj.values())
        if _atoms_only(obj):
            # Its keys are named only for a failing value: counted to when one is.
            return Expansion("dict", values, keys=_Keys(obj, len(values)))
        keys = list(obj)
        values.extend(k for k in keys if type(k) not in ATOMS)
        return Expansion("dict", values, keys=keys)
    if t is set or t is frozenset:
        return Expansion("set", list(obj))
    rv = backend.reduce(obj, protocol)
    if rv is GLOBAL:
        return LEAF
    return _reduce_expansion(obj, rv, protocol)


def _atoms_only(mapping: dict[Any, Any]) -> bool:
    """Whether every key of ``mapping`` is an atom. A dict's keys are nearly always of one
    type: the first key's type is counted at C speed (a third faster than looking each
    key's type up among the atoms), and only a dict of mixed keys is looked at twice."""
    kind = type(next(iter(mapping), None))
    if kind in ATOMS:
        try:  # a key whose class's metaclass compares classes could raise here
            if operator.countOf(map(type, mapping), kind) == len(mapping):
                return True
        except Exception:  # noqa: BLE001, S110 - looked at one by one below
            pass
    return ATOMS.issuperset(map(type, mapping))


class _Items:
    """The items a reduction hands the pickler (``listitems``, ``dictitems``: a deque's, an
    ``OrderedDict``'s), named only when one is asked for: naming each of a hundred
    thousand items (a deque's by indexing it) cost far more than pickling them. Stands in
    an :class:`Expansion`'s children for each of them, from ``start`` on."""

    __slots__ = ("owner", "start", "base", "keys")

    def __init__(self, owner: Any, start: int, base: type | None,
                 keys: list[Any] | None = None) -> None:
        self.owner, self.start, self.base, self.keys = owner, start, base, keys

    def child(self, i: int, obj: Any) -> Child:
        j = i - self.start
        keys = self.keys
        if keys is None:
            step = (PathStep.index(j) if self.base is not None
                    and _item_is(self.owner, self.base, j, obj) else PathStep.opaque(f"item {j}"))
        elif j < len(keys):
            step = _value_step(self.owner, self.base, keys[j], obj)
        else:  # the keys that are not atoms come after the values
            step = PathStep.opaque(f"key {_short_type(obj)}")
        return Child(obj, (step,), ITEMS)


def _value_step(owner: Any, base: type | None, key: Any, value: Any) -> PathStep:
    # owner[key] only where it is what the reduction gave (a __reduce__ can hand out dict
    # items for an object with no __getitem__ at all)
    literal = type(key) in ATOMS or type(key) is tuple
    if not literal or (base is not None and _item_is(owner, base, key, value)):
        return PathStep.item(key)
    return PathStep.opaque(f"item {key!r}"[:60])


#: Iterators over items that exist already (a container's): listing them costs a
#: reference each.
_OVER_A_CONTAINER: frozenset[type] = frozenset(map(type, (
    iter([]), iter(()), iter({}), iter({}.values()), iter({}.items()), reversed([]),
    iter(set()), iter(""), iter(b""), iter(range(0)))))
#: The most items a reduction's own iterator (a generator, a map) is read for: it may
#: make a new object per item and never end, where the pickler reads it up to the item
#: it fails on.
_MADE_ITEMS = 1 << 16
_BATCH = 4096


def _taken(source: Any) -> list[Any]:
    """The items of a reduction's ``listitems`` or ``dictitems``: all of a container's;
    of an iterator of its own, as many as the check's time and :data:`_MADE_ITEMS` allow."""
    if type(source) in _OVER_A_CONTAINER or type(source) in (list, tuple):
        return list(source)
    from picklecheck.isolation import deadline

    taken: list[Any] = []
    iterator = iter(source)
    while len(taken) < _MADE_ITEMS:
        batch = list(itertools.islice(iterator, _BATCH))
        taken += batch
        if len(batch) < _BATCH or deadline.expired():
            break
    return taken


def _reduce_expansion(owner: Any, rv: Any, protocol: int) -> Expansion:
    """:func:`reduce_children` as an :class:`Expansion`, its ``listitems`` and ``dictitems``
    listed at C speed and named only when asked for (see :class:`_Items`)."""
    listed = isinstance(rv, tuple) and 4 <= len(rv) <= 6  # else the pickler raises on it
    items = _taken(rv[3]) if listed and rv[3] is not None else None
    pairs = _taken(rv[4]) if listed and len(rv) > 4 and rv[4] is not None else None
    if pairs is not None and not ({tuple} >= set(map(type, pairs))
                                  and {2} >= set(map(len, pairs))):
        # not all pairs: named one by one, up to the one the pickler raises on
        rv = (*rv[:3], None if items is None else iter(items), iter(pairs), *rv[5:])
        items = pairs = None
    if items is None and pairs is None:
        elements = _object_array_elements(owner, rv)
        if elements is not None:
            # Its state is its elements: named one by one only when asked for (naming a
            # million of them cost seconds, where pickling them cost milliseconds).
            head = reduce_children(owner, rv[:2], protocol)
            objs = [c.obj for c in head]
            named: list[Child | _Items | _Elements] = list(head)
            named.extend(itertools.repeat(_Elements(owner, len(objs)), len(elements)))
            objs.extend(elements)
            return Expansion("reduce", objs, levels=2, children=named)
        children = reduce_children(owner, rv, protocol)
        return Expansion("reduce", [c.obj for c in children], levels=2, children=children)
    head = reduce_children(owner, rv[:3], protocol)
    objs = [c.obj for c in head]
    named = list(head)
    if items is not None:
        base = _getitem_base(owner, (list, collections.deque))
        named.extend(itertools.repeat(_Items(owner, len(objs), base), len(items)))
        objs.extend(items)
    if pairs is not None:
        keys = list(map(operator.itemgetter(0), pairs))
        tail = _Items(owner, len(objs), _getitem_base(owner, (dict,)), keys)
        objs.extend(map(operator.itemgetter(1), pairs))
        objs.extend(itertools.compress(keys, map(operator.not_, map(ATOMS.__contains__,
                                                                     map(type, keys)))))
        named.extend(itertools.repeat(tail, len(objs) - tail.start))
    if len(rv) > 5 and rv[5] is not None:
        named.append(Child(rv[5], (SETTER,), FUNC))
        objs.append(rv[5])
    return Expansion("reduce", objs, levels=2, children=named)


def reduce_children(owner: Any, rv: Any, protocol: int = pickle.DEFAULT_PROTOCOL) -> list[Child]:
    """Name what a reduce tuple makes the pickler save, in the order it saves it.

    Raises what the pickler raises on the object itself for a ``__newobj__`` call it
    refuses (protocols 2 and up check its class argument)."""
    if not isinstance(rv, tuple) or not 2 <= len(rv) <= 6:
        return []  # malformed: the pickler raises on the object itself
    func, args, state, listitems, dictitems, setter = (tuple(rv) + (None,) * 4)[:6]
    if func is OPAQUE_CHILDREN:
        return [Child(a, (PathStep.opaque(f"item {i}"),), ITEMS) for i, a in enumerate(args)]
    children: list[Child] = []
    fname = getattr(func, "__name__", None) if func is not None else None
    if protocol >= 2 and fname in ("__newobj__", "__newobj_ex__"):
        _check_newobj(owner, fname, args)
    if fname == "__newobj__" and isinstance(args, tuple) and args:
        children.append(_class_child(owner, args[0]))
        children.extend(_arg_children(owner, args[1:], "__new__ argument", tuple_owner=True))
    elif fname == "__newobj_ex__" and isinstance(args, tuple) and len(args) == 3:
        children.append(_class_child(owner, args[0]))
        children.extend(_arg_children(owner, tuple(args[1]), "__new__ argument", tuple_owner=True))
        if isinstance(args[2], dict):
            # A keyword is nearly always the attribute it sets (``__getnewargs_ex__``)
            children.extend(
                Child(v, (PathStep.attr(k) if isinstance(k, str) and _same_as_attr(owner, k, v)
                          else PathStep.opaque(f"__new__ keyword {k!r}"),), ARGS)
                for k, v in args[2].items()
            )
    else:
        step = _class_step(owner, func) or PathStep.opaque("reconstructor")
        children.append(Child(func, (step,), FUNC))
        if isinstance(args, tuple):
            shared = safe_attr(owner, "args")
            if shared is args and args:
                children.extend(
                    Child(a, (PathStep.attr("args"), PathStep.index(i)), ARGS) for i, a in enumerate(args)
                )
            else:
                children.extend(_arg_children(owner, args, "reduce argument"))
        elif args is not None:
            children.append(Child(args, (PathStep.opaque("reduce arguments"),), ARGS))
    if state is not None:
        children.extend(_state_children(owner, state))
    if listitems is not None:
        base = _getitem_base(owner, (list, collections.deque))
        for i, item in enumerate(listitems):
            step = (PathStep.index(i) if base is not None and _item_is(owner, base, i, item)
                    else PathStep.opaque(f"item {i}"))
            children.append(Child(item, (step,), ITEMS))
    if dictitems is not None:
        base = _getitem_base(owner, (dict,))
        for pair in dictitems:
            if not isinstance(pair, tuple) or len(pair) != 2:
                break
            key, value = pair
            children.append(Child(value, (_value_step(owner, base, key, value),), ITEMS))
            if type(key) not in ATOMS:
                children.append(Child(key, (PathStep.opaque(f"key {_short_type(key)}"),), ITEMS))
    if setter is not None:
        children.append(Child(setter, (SETTER,), FUNC))
    return children


def _check_newobj(owner: Any, fname: str, args: Any) -> None:
    """The pickler's own checks of a ``__newobj__``/``__newobj_ex__`` reduction."""
    if not isinstance(args, tuple) or not args:
        msg = f"{fname} arglist is empty" if fname == "__newobj__" else f"{fname} args is not a tuple"
        raise pickle.PicklingError(msg)
    cls = args[0]
    if not issubclass(type(cls), type):
        msg = f"args[0] from {fname} args is not a type"
        raise pickle.PicklingError(msg)
    if cls is not getattr(owner, "__class__", None):  # noqa: B009 - as the pickler reads it
        msg = f"args[0] from {fname} args has the wrong class"
        raise pickle.PicklingError(msg)


def _class_child(owner: Any, cls: Any) -> Child:
    """``__newobj__``'s first argument: the owner's class (folded into the owner), or,
    when a reduction passes something else (an instance, at protocols 0 and 1 where the
    pickler does not check), an argument like any other."""
    if issubclass(type(cls), type):
        return Child(cls, (_class_step(owner, cls) or PathStep.opaque("class"),), CLASS)
    return Child(cls, (PathStep.opaque("__new__ argument 0"),), ARGS)


def _class_step(owner: Any, cls: Any) -> PathStep | None:
    """``.__class__`` if that evaluates to ``cls`` (the owner's type, and no class of its
    says otherwise), else None."""
    if cls is not type(owner):
        return None
    try:
        if any("__class__" in vars(k) for k in type(owner).__mro__[:-1]):
            return None
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return None
    return PathStep.attr("__class__")


def _getitem_base(owner: Any, bases: tuple[type, ...]) -> type | None:
    """The base among ``bases`` whose own ``__getitem__`` ``owner[...]`` runs (None when
    ``owner`` is none of them, or its class overrides ``__getitem__``)."""
    try:
        for klass in type(owner).__mro__:
            if "__getitem__" in klass.__dict__:
                return klass if klass in bases else None
    except Exception:  # noqa: BLE001 - a hostile metaclass
        return None
    return None


def _item_is(owner: Any, base: type, key: Any, value: Any) -> bool:
    """Whether ``owner[key] is value``, looked up with ``base``'s own method (no user code:
    keys here are plain literals)."""
    try:
        return base.__dict__["__getitem__"](owner, key) is value
    except Exception:  # noqa: BLE001 - no such key, or an unhashable one
        return False


def _arg_children(owner: Any, args: tuple[Any, ...], label: str,
                  tuple_owner: bool = False) -> list[Child]:
    same_items = (
        tuple_owner and _getitem_base(owner, (tuple,)) is tuple and len(owner) == len(args)
        and all(a is b for a, b in zip(owner, args, strict=True))
    )
    out = []
    present = None
    for i, arg in enumerate(args):
        if same_items:
            steps: tuple[PathStep, ...] = (PathStep.index(i),)
        elif arg is type(owner):  # copyreg._reconstructor(cls, base, state): protocols 0 and 1
            out.append(Child(arg, (_class_step(owner, arg) or PathStep.opaque("class"),), CLASS))
            continue
        elif _copies_items(owner, arg):
            # dict(self), as a mapping's __reduce__ hands it out (werkzeug's ImmutableDict):
            # its items are the owner's, each named as the owner's own
            out.extend(Child(value, (PathStep.item(key),), ITEMS) for key, value in arg.items())
            continue
        else:
            present = present or _attr_names(owner)
            steps = _attr_steps(owner, arg, present) or (PathStep.opaque(f"{label} {i}"),)
        out.append(Child(arg, steps, ARGS))
    return out


def _copies_items(owner: Any, arg: Any) -> bool:
    """Whether ``arg`` is a new dict of ``owner``'s own items (keyed by atoms, each the
    very object ``owner[key]`` gives, looked up with dict's own method)."""
    if type(arg) is not dict or not arg or arg is owner:
        return False
    base = _getitem_base(owner, (dict,))
    return base is not None and all(
        type(key) in ATOMS and _item_is(owner, base, key, value) for key, value in arg.items())


def _state_children(owner: Any, state: Any) -> list[Child]:
    if type(state) is dict:
        return _state_dict_children(owner, state)
    if (type(state) is tuple and len(state) == 2
            and all(part is None or type(part) is dict for part in state)):
        out = []
        for part in state:  # (instance dict, slots dict)
            if part:
                out.extend(_state_dict_children(owner, part))
        return out
    if type(state) in (tuple, list):  # functools.partial: (func, args, keywords, dict)
        out = []
        own = None
        for i, part in enumerate(state):
            if part is None:
                continue
            steps = _attr_steps(owner, part)
            if steps is None and type(part) not in ATOMS:
                # A __getstate__ that lists attributes (PIL's Image: [info, mode, size,
                # data]): a part that is an entry of the instance dict is that attribute.
                own = _by_identity(owner) if own is None else own
                name = own.get(id(part))
                steps = (PathStep.attr(name),) if name is not None else None
            out.append(Child(part, steps or (PathStep.opaque(f"state {i}"),), STATE))
        return out
    steps = _attr_steps(owner, state) or (PathStep.opaque("state"),)
    return [Child(state, steps, STATE)]


def _by_identity(owner: Any) -> dict[int, str]:
    """The names of ``owner``'s instance dict entries by the id of their values (those
    :func:`_same_as_attr` agrees are the attribute: nothing of the class's shadows them)."""
    own = _own_namespace(owner)
    if own is None:
        return {}
    try:
        return {id(value): name for name, value in own.items()
                if isinstance(name, str) and _same_as_attr(owner, name, value)}
    except Exception:  # noqa: BLE001 - changed under the check
        return {}


def _object_array_elements(owner: Any, rv: Any) -> list[Any] | None:
    """The elements of a numpy array of dtype object whose reduction is ``rv``: a
    reconstructor, its arguments, and a state whose last part is the flat list of as
    many objects as it has elements; or None. (A structured array's records are made
    anew on each access: no path through one is exact.) The array is known for one
    before anything of it is read."""
    if not isinstance(rv, tuple) or len(rv) != 3 or not isinstance(rv[1], tuple):
        return None
    t = type(owner)
    if getattr(t, "__module__", None) != "numpy" or getattr(t, "__name__", None) != "ndarray":
        return None
    state = rv[2]
    if type(state) is not tuple or len(state) != 5 or type(state[4]) is not list:
        return None
    try:
        return state[4] if owner.dtype.kind == "O" and len(state[4]) == owner.size else None
    except Exception:  # noqa: BLE001 - not an array after all
        return None


class _Elements:
    """A numpy object array's elements (its state's flat list), each named ``.flat[i]``
    only when one is asked for, and only if it is the array's element there (by identity,
    so the path is exact): else ``<element i>``."""

    __slots__ = ("owner", "start")

    def __init__(self, owner: Any, start: int) -> None:
        self.owner, self.start = owner, start

    def child(self, i: int, obj: Any) -> Child:
        j = i - self.start
        try:
            exact = self.owner.flat[j] is obj
        except Exception:  # noqa: BLE001 - changed under the check
            exact = False
        steps = ((PathStep.attr("flat"), PathStep.index(j)) if exact
                 else (PathStep.opaque(f"element {j}"),))
        return Child(obj, steps, STATE)


def _state_dict_children(owner: Any, state: dict[Any, Any]) -> list[Child]:
    out = []
    for key, value in state.items():
        if isinstance(key, str) and _same_as_attr(owner, key, value):
            steps: tuple[PathStep, ...] = (
                (PathStep.attr("__dict__"), PathStep.item(key))
                if isinstance(owner, type) and _changes_on_class_access(value)
                else (PathStep.attr(key),))
        else:
            steps = (PathStep.opaque(f"state {key!r}"),)
        out.append(Child(value, steps, STATE))
    return out


#: What a class's attribute of these types reads as on the class: itself.
_SELF_ON_CLASS = frozenset({types.FunctionType, property, functools.cached_property,
                            types.MemberDescriptorType, types.GetSetDescriptorType,
                            types.WrapperDescriptorType, types.MethodDescriptorType})


def _changes_on_class_access(value: Any) -> bool:
    """Whether ``cls.name`` reads as something else than ``value``, the entry of the
    class's namespace: a descriptor's ``__get__`` runs (a classmethod gives a bound
    method, a staticmethod its function, a singledispatchmethod a new function). Then
    the path goes through ``cls.__dict__['name']``, which is the entry itself."""
    kind = type(value)
    return kind not in _SELF_ON_CLASS and any("__get__" in vars(k) for k in kind.__mro__)


def _same_as_attr(owner: Any, name: str, value: Any) -> bool:
    if not dotted(name):
        # Named as ``.__dict__['a b']`` (see PathStep.render): only an entry of the
        # instance dict itself, where nothing of the class's stands before it.
        own = _own_namespace(owner)
        return (own is not None and own.get(name, MISSING) is value
                and type(_class_attr(owner, "__dict__")) is types.GetSetDescriptorType)
    real = safe_attr(owner, name)
    if real is value:
        return True
    # A reducer's filtered copy of a real dict (cloudpickle keeps only the globals a
    # function uses, dill the namespace of a class it saves by value): its items are the
    # real dict's (or the class's mappingproxy's), so the path through it is exact.
    if type(real) in (dict, types.MappingProxyType) and type(value) is dict:
        return all(real.get(k, MISSING) is v for k, v in value.items())
    return False


def _class_attr(owner: Any, name: str) -> Any:
    """What ``owner``'s classes hold under ``name`` (the first in its mro), or MISSING."""
    try:
        for klass in type(owner).__mro__:
            found = klass.__dict__.get(name, MISSING)
            if found is not MISSING:
                return found
    except Exception:  # noqa: BLE001, S110 - a hostile class: nothing known
        pass
    return MISSING


def _attr_steps(owner: Any, value: Any,
                present: tuple[tuple[str, ...], frozenset[str]] | None = None
                ) -> tuple[PathStep, ...] | None:
    """``.name`` when the attribute ``name`` (a well-known one, or a slot) of ``owner`` is
    ``value``; ``present``: :func:`_attr_names` of ``owner``, found once for its
    arguments."""
    names, found = present if present is not None else _attr_names(owner)
    for name in names:
        if name in found and _same_as_attr(owner, name, value):
            return (PathStep.attr(name),)
    return None


def _attr_names(owner: Any) -> tuple[tuple[str, ...], frozenset[str]]:
    """The names :func:`_attr_steps` tries, in order, and those of them that ``owner``'s
    classes or instance dict hold at all (what :func:`safe_attr` could find): the rest
    are not looked up one by one (an ast node's arguments asked each of them, along a
    chain of 5,000 nodes)."""
    names = _KNOWN_ATTRS + _slot_names(owner)
    try:
        found = {name for klass in type(owner).__mro__ for name in names
                 if name in klass.__dict__}
    except Exception:  # noqa: BLE001 - a hostile class: every name is tried, as before
        return names, frozenset(names)
    d = _own_namespace(owner)
    if d is not None:
        found.update(name for name in names if name in d)
    return names, frozenset(found)


def _slot_names(owner: Any) -> tuple[str, ...]:
    names: list[str] = []
    try:
        for klass in type(owner).__mro__:
            slots = klass.__dict__.get("__slots__", ())
            names.extend([slots] if isinstance(slots, str) else [n for n in slots if isinstance(n, str)])
    except Exception:  # noqa: BLE001
        return ()
    return tuple(names)


def safe_attr(owner: Any, name: str) -> Any:
    """``getattr(owner, name)`` without running user code, or :data:`MISSING`.

    Reads the instance ``__dict__`` and C-level member/getset descriptors only; a
    property, ``__getattr__`` or hostile ``__getattribute__`` is never called.
    """
    try:
        mro = type(owner).__mro__
    except Exception:  # noqa: BLE001
        return MISSING
    for klass in mro:
        try:
            desc = klass.__dict__.get(name, MISSING)
        except Exception:  # noqa: BLE001
            return MISSING
        if desc is MISSING:
            continue
        if type(desc) in _SAFE_DESCRIPTORS:
            try:
                return desc.__get__(owner, type(owner))
            except Exception:  # noqa: BLE001 - empty slot, empty cell
                return MISSING
        if _shadows(desc):
            return MISSING  # a property or similar would shadow the instance dict
        break
    d = _own_namespace(owner)
    return MISSING if d is None else d.get(name, MISSING)


def _own_namespace(owner: Any) -> Any:
    """``owner``'s instance dict (a class's own namespace, not its metaclass's), read
    without running its code; None when it has none (or one of another type)."""
    try:
        if isinstance(owner, type):
            d = type.__dict__["__dict__"].__get__(owner, type)
        else:
            d = object.__getattribute__(owner, "__dict__")
    except Exception:  # noqa: BLE001
        return None
    return d if type(d) in (dict, types.MappingProxyType) else None


def _shadows(desc: Any) -> bool:
    """Whether a class attribute is read instead of the instance dict's entry of the
    same name: a data descriptor (``__set__`` or ``__delete__``) that has a ``__get__``.
    One with only a ``__set__`` (networkx's Graph resets its caches so) is not: the
    entry is read."""
    t = type(desc)
    return hasattr(t, "__get__") and (hasattr(t, "__set__") or hasattr(t, "__delete__"))


def _short_type(obj: Any) -> str:
    try:
        return type(obj).__qualname__
    except Exception:  # noqa: BLE001
        return "object"
