"""Tasks and matrix objects shared by the framework tests (importable by their workers).

Each row of :data:`MATRIX` makes an object that a task receives as its argument; the
tests run the framework's real job on it and the matching backend's check, and
assert the two agree.
"""

from __future__ import annotations

import functools
import socket
import sys
import threading
import types


def kind(x):
    """The task: what arrived in the worker."""
    return type(x).__name__


def make_lock():
    """A task whose result cannot be pickled."""
    return threading.Lock()


def make_closure(n):
    def add(x):
        return x + n

    return add


class Counter:
    def __init__(self):
        self.n = 0

    def bump(self):
        self.n += 1
        return self.n


module_lambda = lambda x: x  # noqa: E731 - a lambda pickle cannot find by name


def _socket():
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


#: id -> factory; each factory makes a fresh object.
MATRIX = {
    "clean dict": lambda: {"a": [1, 2.5, "x"], "b": (None, True)},
    "lock": lambda: {"state": [threading.Lock()]},
    "lambda": lambda: {"cb": module_lambda},
    "closure": lambda: [make_closure(3)],
    "generator": lambda: {"rows": (i for i in range(3))},
    "dict_keys": lambda: {"a": 1, "b": 2}.keys(),
    "partial": lambda: functools.partial(kind, 1),
    "bound method": lambda: Counter().bump,
    "socket": _socket,
}


def outcome_of(report, obj):
    """The backend's verdict, after checking that every culprit path reaches its culprit."""
    for culprit in report.culprits:
        if culprit.evaluable:
            assert eval(culprit.path, {report.name: obj}) is culprit.obj, culprit.path  # noqa: S307
    return "ok" if report.ok else "fails"


def close(obj):
    if isinstance(obj, socket.socket):
        obj.close()


def parent_only_module(name="picklecheck_parent_only"):
    """A module that exists only in this process (made at run time), with a class."""
    module = types.ModuleType(name)
    exec("class Point:\n    def __init__(self, x):\n        self.x = x\n", module.__dict__)
    module.Point.__module__ = name
    sys.modules[name] = module
    return module


def main_function(name="picklecheck_main_job"):
    """A function defined in __main__, the way ``python -c``, stdin or a notebook defines
    it; returns it and a function that removes it again."""
    main = sys.modules["__main__"]
    namespace = {"__name__": "__main__"}
    exec(f"def {name}(x):\n    return x\n", namespace)
    func = namespace[name]
    setattr(main, name, func)
    return func, lambda: delattr(main, name)


def why_not_explained(exc):
    """The warning :func:`picklecheck.explain` gives where it names no culprit (it must
    name none)."""
    import warnings

    import picklecheck

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert picklecheck.explain(exc) is None
    return " ".join(str(w.message) for w in caught)
