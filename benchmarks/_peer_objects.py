"""Objects for the peer oracle (peer_oracle.py): the kinds of objects peers test with.

Three sources, each a list of ``(name, factory)``:

* ``dill_catalogue()``: every object of dill's own catalogue (``dill._objects``);
* ``cpython_cases()``: objects shaped like CPython's pickle tests (``pickletester``):
  reductions returning every kind of bad or unpicklable part (``REX(...)``), reduce
  protocol corner cases (list and dict items, state, state setters, ``__newobj__``,
  ``__newobj_ex__``), containers holding something unpicklable, subclasses of the
  built-in types, and the classic helper classes;
* ``cloudpickle_cases()``: what cloudpickle's test suite pickles: lambdas, closures,
  local classes and functions, methods, partials, generators, typing objects, enums,
  dataclasses, weak references, locks, files.

The classes live here, at module level, so every backend can import them by name.
"""

from __future__ import annotations

import abc
import collections
import copyreg
import dataclasses
import datetime
import decimal
import enum
import fractions
import functools
import io
import itertools
import logging
import operator
import pathlib
import re
import threading
import types
import typing
import uuid
import warnings
import weakref
from collections.abc import Callable
from typing import Any

Factory = Callable[[], Any]


# -- CPython pickletester-like --------------------------------------------------

class CustomError(Exception):
    """What an unpicklable part raises when it is pickled."""


class Unpickleable:
    """Refuses to be pickled, with its own exception."""

    def __reduce__(self):
        raise CustomError


class UnpickleableCallable(Unpickleable):
    """Callable, and refuses to be pickled."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        return None


UNPICKLEABLE = Unpickleable()


class REX:
    """``__reduce__`` returns whatever it was given."""

    def __init__(self, reduce_value: Any) -> None:
        self.reduce_value = reduce_value

    def __reduce__(self) -> Any:
        return self.reduce_value


class REXSix:
    """List items from ``__reduce__`` for an object with no ``__getitem__``."""

    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def __reduce__(self) -> Any:
        return type(self), (), None, iter(self.items), None


class REXSeven:
    """Dict items from ``__reduce__`` for an object with no ``__getitem__``."""

    def __init__(self, table: dict[Any, Any]) -> None:
        self.table = table

    def __reduce__(self) -> Any:
        return type(self), (), None, None, iter(self.table.items())


class REXState:
    """State from ``__reduce__``, set by ``__setstate__``."""

    def __init__(self, state: Any = None) -> None:
        self.state = state

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self) -> Any:
        return type(self), (), self.state


class NoNew:
    """An instance that says it has no ``__new__``."""

    def __getattribute__(self, name: str) -> Any:
        if name == "__new__":
            raise AttributeError(name)
        return super().__getattribute__(name)


class C:
    def __eq__(self, other: object) -> bool:
        return self.__dict__ == getattr(other, "__dict__", None)


class D(C):
    def __init__(self, arg: Any) -> None:
        self.arg = arg


class E(C):
    def __getinitargs__(self) -> tuple[()]:
        return ()


class K:
    def __init__(self, value: Any) -> None:
        self.value = value

    def __reduce__(self) -> Any:
        return K, (self.value,)


class MyInt(int):
    sample = 1


class MyList(list):
    sample = [1, 2, 3]


class MyDict(dict):
    sample = {"a": 1}


class MyTuple(tuple):
    sample = (1, 2)


class MySet(set):
    pass


class MyFrozenSet(frozenset):
    pass


class MyStr(str):
    pass


class SlotList(MyList):
    __slots__ = ["foo"]


class SimpleNewObj(int):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("__init__ must not be called")


class ComplexNewObj(SimpleNewObj):
    def __getnewargs__(self) -> tuple[Any, ...]:
        return (f"{self:X}", 16)


class ComplexNewObjEx(SimpleNewObj):
    def __getnewargs_ex__(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (f"{self:X}",), {"base": 16}


class BadGetattr:
    def __getattr__(self, key: str) -> Any:
        return self.foo


class Slots:
    __slots__ = ("a", "b")

    def __init__(self, a: Any = 1, b: Any = 2) -> None:
        self.a, self.b = a, b


def _local_rex() -> Any:
    class LocalREX(REX):
        pass

    return LocalREX


def _newobj_local() -> Any:
    local = _local_rex()
    return local((copyreg.__newobj__, (local,)))


def _newobj_ex_local() -> Any:
    local = _local_rex()
    return local((copyreg.__newobj_ex__, (local, (), {})))


def cpython_cases() -> list[tuple[str, Factory]]:
    u = UNPICKLEABLE
    rex = {
        "bad reduce result (list)": lambda: REX([print, ()]),
        "reduce tuple too short": lambda: REX((print,)),
        "reduce tuple too long": lambda: REX((print, (), None, None, None, None, None)),
        "reconstructor not callable": lambda: REX((42, ())),
        "unpicklable reconstructor": lambda: REX((UnpickleableCallable(), ())),
        "reconstructor args a list": lambda: REX((print, [])),
        "unpicklable reconstructor argument": lambda: REX((print, (1, 2, u))),
        "__newobj__ without arguments": lambda: REX((copyreg.__newobj__, ())),
        "__newobj__ args a list": lambda: REX((copyreg.__newobj__, [REX])),
        "__newobj__ with an instance": lambda: REX((copyreg.__newobj__, (NoNew(),))),
        "__newobj__ with the wrong class": lambda: REX((copyreg.__newobj__, (str,))),
        "__newobj__ with a local class": _newobj_local,
        "unpicklable __newobj__ argument": lambda: REX((copyreg.__newobj__, (REX, 1, 2, u))),
        "__newobj_ex__ without arguments": lambda: REX((copyreg.__newobj_ex__, ())),
        "__newobj_ex__ args an int": lambda: REX((copyreg.__newobj_ex__, 42)),
        "__newobj_ex__ args not a tuple": lambda: REX((copyreg.__newobj_ex__, (REX, 42, {}))),
        "__newobj_ex__ kwargs not a dict": lambda: REX((copyreg.__newobj_ex__, (REX, (), []))),
        "__newobj_ex__ with an instance": lambda: REX((copyreg.__newobj_ex__, (NoNew(), (), {}))),
        "__newobj_ex__ with the wrong class": lambda: REX((copyreg.__newobj_ex__, (str, (), {}))),
        "__newobj_ex__ with a local class": _newobj_ex_local,
        "unpicklable __newobj_ex__ argument":
            lambda: REX((copyreg.__newobj_ex__, (REX, (1, 2, u), {}))),
        "unpicklable __newobj_ex__ keyword":
            lambda: REX((copyreg.__newobj_ex__, (REX, (), {"a": u}))),
        "unpicklable state": lambda: REXState(u),
        "state setter not callable": lambda: REX((print, (), "state", None, None, 42)),
        "unpicklable state setter":
            lambda: REX((print, (), "state", None, None, UnpickleableCallable())),
        "unpicklable state with a state setter":
            lambda: REX((print, (), u, None, None, print)),
        "list items not an iterator": lambda: REX((list, (), None, 42)),
        "list items a list": lambda: REX((list, (), None, [])),
        "unpicklable list item (reduce)": lambda: REXSix([1, 2, u]),
        "dict items not an iterator": lambda: REX((dict, (), None, None, 42)),
        "dict items not pairs": lambda: REX((dict, (), None, None, iter([("a",)]))),
        "dict items a list": lambda: REX((dict, (), None, None, [])),
        "unpicklable dict item (reduce)": lambda: REXSeven({"a": u}),
        "unpicklable nested list item": lambda: [1, [2, 3, u]],
        "unpicklable nested tuple item": lambda: (1, (2, 3, u)),
        "unpicklable tuple item 10": lambda: (*range(10), u),
        "unpicklable nested dict item": lambda: {"a": {"b": u}},
        "unpicklable set element": lambda: {u},
        "unpicklable frozenset element": lambda: frozenset({frozenset({u})}),
        "unpicklable key": lambda: {u: 1},
        "unpicklable slot": lambda: Slots(1, u),
        "unpicklable partial argument": lambda: functools.partial(print, u),
        "unpicklable partial keyword": lambda: functools.partial(print, end=u),
        "unpicklable in a MyList": lambda: MyList([1, u]),
        "unpicklable in a MyDict": lambda: MyDict(a=u),
        "unpicklable in a MyTuple": lambda: MyTuple((1, u)),
        "unpicklable in an OrderedDict": lambda: collections.OrderedDict(a=u),
        "unpicklable in a deque": lambda: collections.deque([1, u]),
        "unpicklable in a defaultdict": lambda: collections.defaultdict(list, a=u),
        "unpicklable attribute of a MyList": lambda: _with_attr(MyList([1]), u),
        "REXSix of plain items": lambda: REXSix([1, 2, 3]),
        "REXSeven of plain items": lambda: REXSeven({"a": 1}),
        "REXState of plain state": lambda: REXState({"x": 1}),
    }
    for n in (0, 1, 1000, 1005):
        rex[f"unpicklable list item {n}"] = functools.partial(_list_with, n, u)
        rex[f"unpicklable dict item after {n}"] = functools.partial(_dict_with, n, u)
    plain: dict[str, Factory] = {
        "C instance": lambda: _with_attr(C(), 1),
        "D instance": lambda: D(1),
        "E instance": E,
        "K recursive": _recursive_k,
        "MyInt": lambda: MyInt(5),
        "MyList": lambda: MyList([1, 2]),
        "MyDict": lambda: MyDict(a=1),
        "MyTuple": lambda: MyTuple((1, 2)),
        "MySet": lambda: MySet({1}),
        "MyFrozenSet": lambda: MyFrozenSet({1}),
        "MyStr": lambda: MyStr("x"),
        "SlotList": _slot_list,
        "SimpleNewObj": _simple_newobj,
        "ComplexNewObj": lambda: _newobj(ComplexNewObj),
        "ComplexNewObjEx": lambda: _newobj(ComplexNewObjEx),
        "BadGetattr": BadGetattr,
        "recursive list": _recursive_list,
        "recursive dict": _recursive_dict,
        "recursive tuple through a list": _recursive_tuple,
        "shared list": lambda: _shared(),
        "big list": lambda: list(range(3000)),
        "nested lists": _nested_lists,
        "bytes and bytearray": lambda: [b"x" * 300, bytearray(b"y" * 300)],
        "floats and complex": lambda: [1.5, float("inf"), 2j],
        "datetime": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5),
        "decimal and fraction": lambda: [decimal.Decimal("1.1"), fractions.Fraction(1, 3)],
        "uuid": lambda: uuid.UUID(int=1),
        "range and slice": lambda: [range(3), slice(1, 2)],
        "Ellipsis and NotImplemented": lambda: [Ellipsis, NotImplemented],
    }
    return list(rex.items()) + list(plain.items())


def _with_attr(obj: Any, value: Any) -> Any:
    obj.attr = value
    return obj


def _list_with(n: int, value: Any) -> list[Any]:
    return [*range(n), value]


def _dict_with(n: int, value: Any) -> dict[Any, Any]:
    d: dict[Any, Any] = dict.fromkeys(range(n))
    d["a"] = value
    return d


def _recursive_k() -> K:
    k = K(None)
    k.value = [k]
    return k


def _slot_list() -> SlotList:
    s = SlotList([1, 2])
    s.foo = 42
    return s


def _simple_newobj() -> SimpleNewObj:
    return _newobj(SimpleNewObj)


def _newobj(cls: type) -> Any:
    x = cls.__new__(cls, 0xFACE)  # type: ignore[call-overload]
    x.abc = 666
    return x


def _recursive_list() -> list[Any]:
    x: list[Any] = [1]
    x.append(x)
    return x


def _recursive_dict() -> dict[Any, Any]:
    d: dict[Any, Any] = {}
    d["self"] = d
    return d


def _recursive_tuple() -> tuple[Any, ...]:
    inner: list[Any] = []
    t = (inner,)
    inner.append(t)
    return t


def _shared() -> list[Any]:
    x = [1, 2]
    return [x, x, {"x": x}]


def _nested_lists() -> list[Any]:
    x: list[Any] = []
    for _ in range(200):
        x = [x]
    return x


# -- dill's catalogue -----------------------------------------------------------

def dill_catalogue() -> list[tuple[str, Factory]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from dill import _objects
    out: list[tuple[str, Factory]] = []
    for group in ("registered", "failures", "succeeds"):
        for name, obj in sorted(getattr(_objects, group).items()):
            out.append((f"{group}:{name}", functools.partial(_same, obj)))
    return out


def _same(obj: Any) -> Any:
    return obj


# -- cloudpickle's test suite -----------------------------------------------------

class Color(enum.Enum):
    RED = 1
    GREEN = 2


class Shape(abc.ABC):
    @abc.abstractmethod
    def area(self) -> float: ...


@dataclasses.dataclass
class Point:
    x: int = 0
    y: int = 0


class WithMethods:
    def method(self) -> int:
        return 1

    @classmethod
    def cls_method(cls) -> str:
        return cls.__name__

    @staticmethod
    def static_method() -> int:
        return 2

    @property
    def prop(self) -> int:
        return 3


T = typing.TypeVar("T")


class Box(typing.Generic[T]):
    def __init__(self, value: T) -> None:
        self.value = value


def module_function(x: int) -> int:
    return x + 1


def _gen() -> Any:
    yield 1


def _closure() -> Any:
    y = 5

    def add(x: int) -> int:
        return x + y

    return add


def _recursive_closure() -> Any:
    def fact(n: int) -> int:
        return 1 if n <= 1 else n * fact(n - 1)

    return fact


def _local_class() -> Any:
    class Local:
        attr = 1

        def method(self) -> int:
            return self.attr

    return Local


def _local_instance() -> Any:
    return _local_class()()


def _local_enum() -> Any:
    class Mood(enum.Enum):
        HAPPY = 1

    return Mood.HAPPY


def _local_dataclass() -> Any:
    @dataclasses.dataclass
    class Row:
        x: int = 1

    return Row()


def _closure_over_lock() -> Any:
    lock = threading.Lock()

    def locked() -> bool:
        with lock:
            return True

    return locked


def _weakref_alive() -> Any:
    target = WithMethods()
    return [target, weakref.ref(target)]


def _weak_value_dict() -> Any:
    p = Point()
    d: Any = weakref.WeakValueDictionary()
    d["p"] = p
    return [p, d]


def _nested_function_globals() -> Any:
    def uses_module() -> Any:
        return re.compile("a+")

    return uses_module


def cloudpickle_cases() -> list[tuple[str, Factory]]:
    return [
        ("lambda", lambda: (lambda x: x + 1)),
        ("lambda with default", lambda: (lambda x, y=2: x * y)),
        ("closure", _closure),
        ("recursive closure", _recursive_closure),
        ("local class", _local_class),
        ("local class instance", _local_instance),
        ("local enum member", _local_enum),
        ("local dataclass instance", _local_dataclass),
        ("function using a module", _nested_function_globals),
        ("closure over a lock", _closure_over_lock),
        ("module function", lambda: module_function),
        ("builtin function", lambda: len),
        ("builtin method", lambda: [].append),
        ("bound method", lambda: WithMethods().method),
        ("classmethod", lambda: WithMethods.cls_method),
        ("staticmethod function", lambda: WithMethods.static_method),
        ("property object", lambda: WithMethods.__dict__["prop"]),
        ("method descriptor", lambda: str.upper),
        ("wrapper descriptor", lambda: object.__init__),
        ("partial of a module function", lambda: functools.partial(module_function, 1)),
        ("partial of a lambda", lambda: functools.partial(lambda a, b: a + b, 1)),
        ("itemgetter", lambda: operator.itemgetter(1, 2)),
        ("attrgetter", lambda: operator.attrgetter("x.y")),
        ("methodcaller", lambda: operator.methodcaller("split", ",")),
        ("generator", _gen),
        ("generator expression", lambda: (i for i in range(3))),
        ("itertools.count", lambda: itertools.count(5)),
        ("enum member", lambda: Color.RED),
        ("enum class", lambda: Color),
        ("abc class", lambda: Shape),
        ("dataclass instance", lambda: Point(1, 2)),
        ("generic class instance", lambda: Box(1)),
        ("typing Union", lambda: typing.Union[int, str]),  # noqa: UP007 - the typing object
        ("typing List", lambda: typing.List[int]),  # noqa: UP006 - the typing object
        ("typing Literal", lambda: typing.Literal["a"]),
        ("module TypeVar", lambda: T),
        ("local TypeVar", lambda: typing.TypeVar("Local")),
        ("typing Callable", lambda: typing.Callable[[int], str]),
        ("builtin generic alias", lambda: list[int]),
        ("module", lambda: re),
        ("compiled regex", lambda: re.compile(r"\d+")),
        ("mappingproxy", lambda: types.MappingProxyType({"a": 1})),
        ("SimpleNamespace", lambda: types.SimpleNamespace(a=1)),
        ("memoryview", lambda: memoryview(b"abc")),
        ("code object", lambda: module_function.__code__),
        ("cell", lambda: _closure().__closure__[0]),
        ("weakref to a live object", _weakref_alive),
        ("WeakValueDictionary", _weak_value_dict),
        ("WeakSet", weakref.WeakSet),
        ("lock", threading.Lock),
        ("rlock", threading.RLock),
        ("event", threading.Event),
        ("condition", threading.Condition),
        ("logger", lambda: logging.getLogger("peer.oracle")),
        ("logging handler", lambda: logging.StreamHandler(io.StringIO())),
        ("StringIO", lambda: io.StringIO("text")),
        ("BytesIO", lambda: io.BytesIO(b"data")),
        ("pathlib path", lambda: pathlib.PurePosixPath("/tmp/x")),
        ("dict keys view", lambda: {"a": 1}.keys()),
        ("namedtuple class", lambda: collections.namedtuple("Pair", "a b")),
        ("object()", object),
        ("super object", lambda: super(WithMethods, WithMethods())),
        ("type of None", lambda: type(None)),
    ]
