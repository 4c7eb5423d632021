"""Kinds decided from evidence: where a culprit was made, and what its module holds
under its name; class culprits named by their own name."""

from __future__ import annotations

import asyncio
import collections
import ctypes
import dataclasses
import functools
import mmap
import multiprocessing
import threading
import typing
import warnings

import pytest

import picklecheck


def _only(obj, backend="pickle"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = picklecheck.check(obj, backends=(backend,), roundtrip=False)
    assert len(report.culprits) >= 1
    return report.culprits[0]


def make_namedtuple():
    Point = collections.namedtuple("Point", "x y")
    return Point(1, 2)


def make_dataclass():
    return dataclasses.make_dataclass("Row", [("x", int)])(1)


def make_typevar():
    return {"t": typing.TypeVar("T")}


def make_lru_local():
    def square(v):
        return v * v

    return {"f": functools.lru_cache(square)}


class Recursing:
    """Every attribute lookup calls itself."""

    def __getattribute__(self, name):
        return getattr(self, name)


def redefine():
    """An instance of a class that is then redefined under the same name."""
    global Redefined

    class Redefined:  # noqa: F811 - the point of the test
        pass

    Redefined.__qualname__ = "Redefined"
    obj = Redefined()

    class Redefined:  # noqa: F811 - the point of the test
        pass

    Redefined.__qualname__ = "Redefined"
    return obj


@pytest.mark.parametrize("factory, path, kind, named", [
    (make_namedtuple, "obj", "runtime_class", "Point is made at run time"),
    (make_dataclass, "obj", "runtime_class", "Row is made at run time"),
    (make_typevar, "obj['t']", "runtime_class", ".T is made at run time"),
    (lambda: {"arr": ctypes.c_int * 3}, "obj['arr']", "runtime_class",
     "c_int_Array_3 is made at run time"),
    (lambda: (ctypes.c_int * 3)(1, 2, 3), "obj", "runtime_class",
     "c_int_Array_3 is a ctypes type made at run time"),
    (make_lru_local, "obj['f']", "wrapped", "it wraps test_kinds.make_lru_local.<locals>.square"),
    (lambda: {"r": Recursing()}, "obj['r']", "recursive_attribute",
     "looking up an attribute on test_kinds.Recursing never ends "
     "(in Recursing.__getattribute__)"),
    (redefine, "obj", "stale_reference", "test_kinds.Redefined is not the object"),
], ids=["namedtuple made in a function", "make_dataclass in a function", "local TypeVar",
        "ctypes array type", "ctypes array", "lru_cache of a local function",
        "recursing __getattribute__", "class redefined after use"])
def test_kind_and_hint(factory, path, kind, named):
    """Each culprit gets the kind its evidence shows, and a hint naming it."""
    culprit = _only(factory())
    assert (culprit.path, culprit.kind) == (path, kind)
    assert named in culprit.hint, culprit.hint


def test_recursing_getattribute_is_not_too_deep():
    """An attribute lookup that recurses forever is named, not called a deep graph."""
    culprit = _only({"r": Recursing(), "n": [1, 2]})
    assert culprit.kind != "too_deep" and "flatten" not in culprit.hint


def test_deep_graph_is_still_too_deep():
    """A really deep graph stays too_deep."""
    chain: list = []
    for _ in range(5000):
        chain = [chain]
    assert _only(chain).kind == "too_deep"


def test_jinja_template_root_is_generated():
    """jinja compiles a template into a function named root: generated, not stale."""
    jinja2 = pytest.importorskip("jinja2")
    culprit = _only(jinja2.Template("hello {{ name }}"))
    assert (culprit.path, culprit.kind) == ("obj.root_render_func", "generated_function")
    assert culprit.hint.startswith("root is compiled at run time")


def test_boto3_client_class_is_made_at_run_time():
    """boto3 builds botocore.client.S3 at run time: the client is named by that class."""
    boto3 = pytest.importorskip("boto3")
    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="y")
    culprit = _only(client)
    assert (culprit.path, culprit.kind) == ("obj", "runtime_class")
    # botocore made it, not the user: the words do not ask to define it at module level.
    assert culprit.hint.startswith("botocore.client.S3 is a class botocore makes at run time")
    assert "module level" not in culprit.hint


def test_sqlalchemy_generated_init_is_generated():
    """SQLAlchemy replaces a mapped class's __init__ with generated code."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    from sqlalchemy.orm import declarative_base

    base = declarative_base()
    user = type("User", (base,), {"__tablename__": "users",
                                  "id": sqlalchemy.Column(sqlalchemy.Integer, primary_key=True)})
    culprit = _only({"init": user.__init__})
    assert (culprit.path, culprit.kind) == ("obj['init']", "generated_function")
    assert culprit.hint.startswith("sqlalchemy.orm.instrumentation.__init__ is compiled at run time")


def test_kinds_decided_by_type_are_the_kinds_of_each_object():
    """A report classifies objects of a C type with no dict or name of their own once per
    type and message (a hundred locks): each gets the kind it gets on its own."""
    import threading
    import weakref

    from picklecheck.engine import kinds

    class Target:
        pass

    target = Target()
    objs = [threading.Lock() for _ in range(5)] + [threading.RLock(), (x for x in ()),
                                                     memoryview(b"ab"), weakref.ref(target),
                                                     len, print, threading.local()]
    report = picklecheck.check(objs, backends=("pickle",), roundtrip=False)
    assert len(report.culprits) == len(objs) - 2  # builtin functions pickle by name
    for culprit in report.culprits:
        assert culprit.kind == kinds.classify(culprit.finding), culprit.path
    assert {c.kind for c in report.culprits} >= {"lock", "generator", "weakref", "view"}


class Settings(threading.local):
    """Per-thread settings, as rich's Console keeps them."""


def _future(request):
    loop = asyncio.new_event_loop()
    request.addfinalizer(loop.close)
    return loop.create_future()


def _mapped(request, tmp_path):
    path = tmp_path / "mapped.bin"
    path.write_bytes(b"\0" * 16)
    with path.open("r+b") as file:
        mapped = mmap.mmap(file.fileno(), 16)
    request.addfinalizer(mapped.close)
    return mapped


@pytest.mark.parametrize("factory, kind", [
    (lambda r, t: multiprocessing.Value("i", 1), "process_shared"),
    (lambda r, t: multiprocessing.Array("d", 3), "process_shared"),
    (lambda r, t: Settings(), "thread"),
    (lambda r, t: _future(r), "thread"),
    (_mapped, "file"),
], ids=["multiprocessing.Value", "multiprocessing.Array", "threading.local subclass",
        "asyncio future", "mmap"])
def test_kinds_of_process_bound_objects(factory, kind, request, tmp_path):
    """Objects bound to this process get the kind whose fix fits: a shared Value goes to
    workers when they start (it was "its own __reduce__ raises"), a thread-local of a
    library's own class, an asyncio future (written in C) and a memory map were "cannot
    be pickled"."""
    culprit = _only({"x": factory(request, tmp_path)})
    assert (culprit.path, culprit.kind) == ("obj['x']", kind)


def test_a_cython_type_cython_cannot_pickle_is_a_c_type():
    """Cython gives an extension type a __reduce__ that refuses ("no default __reduce__
    due to non-trivial __cinit__", "... cannot be converted to a Python object for
    pickling"): a C type, not a __reduce__ its author wrote to refuse."""
    hashtable = pytest.importorskip("pandas._libs.hashtable",
                                    reason="pip install 'picklecheck[realworld]'")
    for table in (hashtable.Int64HashTable(), hashtable.PyObjectHashTable()):
        report = picklecheck.check({"table": table}, backends=("pickle",))
        assert [(c.path, c.kind) for c in report.culprits] == [("obj['table']", "c_type")]
        assert "refuses to be pickled" not in report.culprits[0].hint


def test_a_fetched_row_is_data_not_a_connection():
    """sqlite3.Row cannot be pickled, but it is a row of values: not a connection to
    "store the connection string" of."""
    import sqlite3

    conn = sqlite3.connect(":memory:")
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT 1 AS a, 2 AS b").fetchone()
        report = picklecheck.check({"row": row}, backends=("pickle",))
    finally:
        conn.close()
    [culprit] = report.culprits
    assert (culprit.path, culprit.kind) == ("obj['row']", "c_type")
    assert "tuple(row)" in culprit.hint and "connection string" not in culprit.hint
