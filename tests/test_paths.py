"""Paths: evaluable only where the expression evaluates to the culprit."""

from __future__ import annotations

import collections
import copyreg
import threading

import pytest

import picklecheck


class REX_seven:  # noqa: N801 - the name in CPython's pickletester
    """A __reduce__ that hands out dict items for an object with no __getitem__."""

    def __init__(self, table=None):
        self.table = table if table is not None else {}

    def __reduce__(self):
        return type(self), (), None, None, iter(self.table.items())


class REX_six:  # noqa: N801 - the name in CPython's pickletester
    """A __reduce__ that hands out list items for an object with no __getitem__."""

    def __init__(self, items=None):
        self.items = items if items is not None else []

    def __reduce__(self):
        return type(self), (), None, iter(self.items), None


class Holder:
    """Holds a lock."""

    def __init__(self):
        self.lock = threading.Lock()


class NewobjWithInstance:
    """A reduction that calls copyreg.__newobj__ with an instance, not a class."""

    def __reduce_ex__(self, protocol):
        return copyreg.__newobj__, (Holder(),)


class ListWithOwnGetitem(list):
    """owner[i] runs this, not list's."""

    def __getitem__(self, i):
        return "something else"


class LyingClass:
    """obj.__class__ is not type(obj)."""

    @property
    def __class__(self):
        return int

    def __init__(self):
        self.lock = threading.Lock()


def _culprits(obj, protocol=None):
    report = picklecheck.check(obj, backends=("pickle",), roundtrip=False, protocol=protocol)
    return report.culprits


def _assert_honest(obj, culprits):
    for culprit in culprits:
        if culprit.evaluable:
            assert eval(culprit.path, {"obj": obj}) is culprit.obj, culprit.path  # noqa: S307


def test_dict_items_of_an_object_without_getitem_are_not_evaluable():
    """REX_seven({'a': lock}): the lock is found, at a path not claiming obj['a']."""
    lock = threading.Lock()
    obj = REX_seven({"a": lock})
    (culprit,) = _culprits(obj)
    assert culprit.obj is lock
    assert (culprit.path, culprit.evaluable) == ("obj[<item 'a'>]", False)


def test_list_items_of_an_object_without_getitem_are_not_evaluable():
    """REX_six([lock]): the lock is found, at a path not claiming obj[0]."""
    lock = threading.Lock()
    (culprit,) = _culprits(REX_six([lock]))
    assert (culprit.obj, culprit.evaluable) == (lock, False)


def test_dict_items_of_a_dict_subclass_are_evaluable():
    """A dict subclass's items keep their obj['key'] paths."""
    obj = collections.OrderedDict(a=threading.Lock())
    (culprit,) = _culprits(obj)
    assert (culprit.path, culprit.evaluable) == ("obj['a']", True)
    _assert_honest(obj, [culprit])


@pytest.mark.parametrize("protocol", [0, 1])
def test_newobj_called_with_an_instance_at_protocols_0_and_1(protocol):
    """copyreg.__newobj__(instance) is a plain call at protocols 0 and 1: the instance's
    lock is the culprit, at a path that does not claim obj.__class__."""
    obj = NewobjWithInstance()
    (culprit,) = _culprits(obj, protocol)
    assert isinstance(culprit.obj, type(threading.Lock()))
    assert (culprit.path, culprit.evaluable) == ("obj[<__new__ argument 0>].lock", False)


@pytest.mark.parametrize("protocol", [2, 4])
def test_newobj_called_with_an_instance_at_protocol_2_and_up(protocol):
    """From protocol 2 the pickler refuses the reduction itself: the object is the culprit."""
    obj = NewobjWithInstance()
    (culprit,) = _culprits(obj, protocol)
    assert (culprit.path, culprit.obj, culprit.kind) == ("obj", obj, "custom_reduce")
    assert culprit.reason == "args[0] from __newobj__ args is not a type"


def test_list_subclass_with_its_own_getitem():
    """obj[0] would run the subclass's __getitem__: the path is not evaluable."""
    obj = ListWithOwnGetitem([threading.Lock()])
    culprits = _culprits(obj)
    assert len(culprits) == 1 and not culprits[0].evaluable
    _assert_honest(obj, culprits)


def test_class_that_lies_about_its_class():
    """A class whose __class__ is a property: no culprit path goes through obj.__class__."""
    obj = LyingClass()
    culprits = _culprits(obj, protocol=1)
    assert culprits
    _assert_honest(obj, culprits)


class SetOnly:
    """A data descriptor with only ``__set__`` (networkx's Graph resets its caches with
    one): ``obj.x`` still reads the instance dict."""

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__["x"] = value


class GetAndSet:
    """A data descriptor with ``__get__`` too: ``obj.x`` reads it, never the dict."""

    def __get__(self, obj: object, owner: type | None = None) -> object:
        return "from the descriptor"

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__["x"] = value


class WithSetOnly:
    x = SetOnly()

    def __init__(self) -> None:
        self.x = {"lock": threading.Lock()}


class WithGetAndSet:
    x = GetAndSet()

    def __init__(self) -> None:
        self.x = {"lock": threading.Lock()}


def test_a_set_only_descriptor_does_not_hide_the_instance_dict():
    obj = WithSetOnly()
    culprits = _culprits(obj)
    assert [c.path for c in culprits] == ["obj.x['lock']"]
    assert eval(culprits[0].path, {"obj": obj}) is culprits[0].obj  # noqa: S307
    _assert_honest(obj, culprits)


def test_a_descriptor_with_get_and_set_hides_the_instance_dict():
    """``obj.x`` is the descriptor's value: the state's entry is named as state."""
    obj = WithGetAndSet()
    culprits = _culprits(obj)
    assert len(culprits) == 1 and not culprits[0].evaluable
    assert culprits[0].path == "obj[<state 'x'>]['lock']"
    _assert_honest(obj, culprits)


def _with_local_class():
    class Local:  # dill saves a local class by value: its namespace as a reduce argument
        rows = (i for i in range(3))

    return Local()


def test_a_class_dill_saves_by_value_names_its_namespace_by_dunder_dict():
    """dill's reduction of a class passes a filtered copy of its namespace: the path goes
    through the class's own ``__dict__``, not ``[<reduce argument 3>]``."""
    obj = _with_local_class()
    report = picklecheck.check(obj, backends=("dill",), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj.__class__.__dict__['rows']"]
    _assert_honest(obj, report.culprits)


def _with_dispatching_class():
    import functools

    class Handler:  # local: cloudpickle saves it by value
        guard = threading.Lock()

        @functools.singledispatchmethod
        def handle(self, x):
            return x

    return Handler()


def test_a_descriptor_in_a_class_saved_by_value_is_named_through_its_namespace():
    """``cls.handle`` runs a singledispatchmethod's ``__get__`` (as a classmethod's) and
    reads as another object: the path goes through ``cls.__dict__['handle']``, which is the
    entry itself (``obj.__class__.handle.dispatcher...`` was marked evaluable and raised
    AttributeError). A plain class attribute keeps its dotted name."""
    obj = _with_dispatching_class()
    report = picklecheck.check(obj, backends=("cloudpickle",), roundtrip=False)
    paths = [c.path for c in report.culprits]
    assert "obj.__class__.guard" in paths, paths
    assert any(p.startswith("obj.__class__.__dict__['handle'].dispatcher.") for p in paths), paths
    _assert_honest(obj, report.culprits)


class KeywordOnly:
    """Made with a keyword-only argument, which ``__getnewargs_ex__`` hands to ``__new__``."""

    def __new__(cls, name, *, guard):
        self = super().__new__(cls)
        self.name, self.guard = name, guard
        return self

    def __getnewargs_ex__(self):
        return (self.name,), {"guard": self.guard, "spare": threading.Lock()}


def test_a_keyword_to_new_is_named_by_the_attribute_it_is():
    """The pickler saves ``__new__``'s keywords before the state: a keyword that is the
    attribute of its name is named ``obj.guard``; one that is no attribute keeps its label."""
    obj = KeywordOnly("db", guard=threading.Lock())
    culprits = _culprits(obj)
    assert [c.path for c in culprits] == ["obj.guard", "obj[<__new__ keyword 'spare'>]"]
    assert culprits[0].evaluable and not culprits[1].evaluable
    _assert_honest(obj, culprits)


def _with_local_base():
    class Base:  # saved by value with its subclass, as one of its bases
        rows = (i for i in range(3))

    class Local(Base):
        pass

    return Local()


def test_a_base_of_a_class_dill_saves_by_value_is_named_by_dunder_bases():
    """dill's reduction of a class passes its bases: the path goes through
    ``__bases__``, not ``[<reduce argument 2>]``."""
    obj = _with_local_base()
    report = picklecheck.check(obj, backends=("dill",), roundtrip=False)
    assert [c.path for c in report.culprits] == ["obj.__class__.__bases__[0].__dict__['rows']"]
    _assert_honest(obj, report.culprits)


def _set_state(obj, state):
    obj.__dict__.update(state)


class SetByLambda:
    """Reduces to ``object.__new__`` and a state setter (the sixth item) that pickle
    cannot save by name."""

    setter = staticmethod(lambda obj, state: _set_state(obj, state))

    def __init__(self):
        self.rows = [1, 2]

    def __reduce_ex__(self, protocol):
        return (object.__new__, (SetByLambda,), dict(self.__dict__), None, None, self.setter)


def test_a_state_setter_that_cannot_be_pickled_is_said_to_be_the_state_setter():
    """Its failure is the object's own, where the state setter is named: it said "the
    callable its __reduce__ returns", which pickles."""
    report = picklecheck.check(SetByLambda(), backends=("pickle",), roundtrip=False)
    [culprit] = report.culprits
    assert culprit.path == "obj"
    assert culprit.detail.startswith("the state setter its __reduce_ex__ returns")


class Frozen(dict):
    """A mapping that reduces to its class called with a plain copy of its items."""

    def __reduce__(self):
        return (Frozen, (dict(self),))


class Renamed(dict):
    """Reduces to a dict that is not its items (renamed keys): no item path."""

    def __reduce__(self):
        return (Renamed, ({f"_{k}": v for k, v in self.items()},))


def test_a_mapping_reduced_to_a_copy_of_its_items_names_them_as_its_own():
    """``dict(self)`` is a new dict of the owner's items: ``obj['lock']`` (it read
    ``obj[<reduce argument 0>]['lock']``, as werkzeug's ImmutableDict and frozendict did)."""
    obj = Frozen(rows=[1, 2], lock=threading.Lock())
    culprits = _culprits(obj)
    assert [c.path for c in culprits] == ["obj['lock']"]
    assert culprits[0].evaluable
    _assert_honest(obj, culprits)
    other = Renamed(lock=threading.Lock())
    renamed = _culprits(other)
    assert [c.path for c in renamed] == ["obj[<reduce argument 0>]['_lock']"]
    _assert_honest(other, renamed)


class Plain:
    """Attributes set under any name, as setattr allows."""


def test_an_attribute_whose_name_is_no_identifier_is_named_through_the_instance_dict():
    """``setattr(obj, 'my attr', lock)`` (and a keyword, 'class'): ``obj.__dict__['my
    attr']`` (it read ``obj[<attribute 'my attr'>]``, which no Python evaluates); the hint
    quotes the name."""
    obj = Plain()
    setattr(obj, "my attr", threading.Lock())
    setattr(obj, "class", threading.Lock())
    culprits = _culprits(obj)
    assert sorted(c.path for c in culprits) == ["obj.__dict__['class']",
                                                "obj.__dict__['my attr']"]
    assert all(c.evaluable for c in culprits)
    _assert_honest(obj, culprits)
    assert "drop 'my attr' in test_paths.Plain.__getstate__" in " ".join(c.hint for c in culprits)


def test_a_key_that_is_a_frozenset_of_literals_is_named_by_its_repr():
    """``{frozenset({1, 2}): lock}``: ``obj[frozenset({1, 2})]``; one that holds something
    with no literal (a class) keeps its label."""
    obj = {frozenset({1, 2}): threading.Lock(), frozenset({Plain}): threading.Lock()}
    culprits = sorted(_culprits(obj), key=lambda c: c.path)
    assert [(c.path, c.evaluable) for c in culprits] == [
        ("obj[<key of type frozenset>]", False), ("obj[frozenset({1, 2})]", True)]
    _assert_honest(obj, culprits)


def test_a_long_tuple_key_is_not_claimed_evaluable():
    """A tuple key whose repr is too long to show is labelled, and says so."""
    key = tuple(range(40))
    obj = {key: threading.Lock()}
    (culprit,) = _culprits(obj)
    assert culprit.path.startswith("obj[<key 0, 1, 2, 3")
    assert not culprit.evaluable


class Picture:
    """State as a list of its attributes, as PIL's Image gives it ([info, mode, ...])."""

    def __init__(self):
        self.info = {"cb": threading.Lock()}
        self.mode = "RGB"
        self.extra = ["kept"]

    def __getstate__(self):
        return [self.info, self.mode, ["a copy"]]

    def __setstate__(self, state):
        self.info, self.mode, _ = state


def test_a_state_list_part_that_is_an_attribute_is_named_by_it():
    """``__getstate__`` returning ``[self.info, ...]``: ``obj.info['cb']`` (it read
    ``obj[<state 0>]['cb']``); a part that is no attribute keeps its label."""
    picture = Picture()
    picture.extra = threading.Lock()  # not in the state: never reached
    culprits = _culprits(picture)
    assert [(c.path, c.evaluable) for c in culprits] == [("obj.info['cb']", True)]
    _assert_honest(picture, culprits)


class Listed:
    """A state list whose part is made anew: no attribute holds it."""

    def __getstate__(self):
        return [{"lock": threading.Lock()}]

    def __setstate__(self, state):
        pass


def test_a_state_list_part_made_anew_keeps_its_label():
    (culprit,) = _culprits(Listed())
    assert (culprit.path, culprit.evaluable) == ("obj[<state 0>]['lock']", False)
