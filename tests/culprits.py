"""Real-world objects that break pickling, built the way applications build them.

Defined at module level (not in a test) so that classes here pickle by reference,
as they would from an installed package, and load in a fresh interpreter.
"""

from __future__ import annotations

import collections
import copyreg
import enum
import functools
import io
import os
import socket
import sqlite3
import threading
import typing
import weakref
from dataclasses import dataclass, field

square = lambda x: x * x  # noqa: E731 - a lambda bound to a module-level name


def scale(x):
    return x * 3


def make_closure():
    n = 10

    def add_n(x):
        return x + n

    return add_n


def make_closure_over_lock():
    lock = threading.Lock()

    def bump():
        with lock:
            return 1

    return bump


def make_local_instance():
    class Point:
        def __init__(self):
            self.x = 1

    return Point()


def make_local_enum():
    class Color(enum.Enum):
        RED = 1

    return Color.RED


def make_local_typevar():
    return typing.TypeVar("T")


class Conn:
    def __init__(self):
        self.dsn = "sqlite://"
        self._lock = threading.Lock()


class Database:
    def __init__(self):
        self.conn = Conn()


@dataclass
class RateLimiter:
    rate: float
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class SlotWorker:
    __slots__ = ("name", "lock")

    def __init__(self):
        self.name = "w1"
        self.lock = threading.Lock()


class Holder:
    def __init__(self):
        self._lock = threading.RLock()

    def run(self):
        with self._lock:
            return 1


class DbClient:
    def __getstate__(self):
        msg = "DbClient holds a live connection; pass the DSN instead"
        raise TypeError(msg)


class Account:
    def __init__(self, owner, balance):
        self.owner = owner
        self.balance = balance

    def __reduce__(self):
        return (Account, (self.owner,))  # forgets balance: loads fail


class Versioned:
    def __init__(self):
        self.version = 1

    def __setstate__(self, state):
        msg = "incompatible pickle version 1"
        raise ValueError(msg)


class ValidationError(Exception):
    def __init__(self, field_name, reason):
        super().__init__(field_name)
        self.reason = reason


class Temperature(float):
    def __new__(cls, value, unit):
        obj = super().__new__(cls, value)
        obj.unit = unit
        return obj


class Handle:
    def __init__(self, key):
        self.key = key

    def __reduce__(self):
        return (lambda key: Handle(key), (self.key,))


class Peer:
    def __init__(self, name, other=None):
        self.name = name
        self.other = other

    def __reduce__(self):
        return (Peer, (self.name, self.other))


class FeatureJob:
    def __init__(self):
        self.factor = 2
        self.conn = sqlite3.connect(":memory:")

    def mapper(self):
        return lambda row: row * self.factor


class Dataset:
    def __init__(self, root, transform=None):
        self.root = root
        self.transform = transform
        self.files = [f"{root}/{i}.png" for i in range(3)]


class RaisingRepr:
    def __init__(self):
        self.lock = threading.Lock()

    def __repr__(self):
        msg = "repr is broken"
        raise RuntimeError(msg)


class Proxy:
    """Forwards every missing attribute to its target (a common wrapper)."""

    def __init__(self, target):
        self._target = target

    def __getattr__(self, name):
        return getattr(self._target, name)


class HostileEq:
    def __init__(self):
        self.cb = lambda: 0

    def __eq__(self, other):
        msg = "no comparisons"
        raise RuntimeError(msg)

    def __hash__(self):
        msg = "no hashing"
        raise RuntimeError(msg)


class ReduceRaises:
    def __reduce_ex__(self, protocol):
        msg = "reduce exploded"
        raise KeyError(msg)


class Session:
    """A session-state-like object: the usual mixture."""

    def __init__(self):
        self.user = {"name": "ada", "roles": ["admin"]}
        self.db = Database()
        self.handlers = [{"event": "save", "cb": print}, {"event": "load", "cb": square}]
        self.cache = collections.OrderedDict(a=1)


def build(name):
    """Objects that need set-up: each call builds a fresh one."""
    return _BUILDERS[name]()


def _generator():
    yield 1


def _open_socket():
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


_BUILDERS = {
    "generator": _generator,
    "socket": _open_socket,
    "weakref": lambda: weakref.ref(Holder),
    "bytesio": lambda: io.BytesIO(b"abc"),
    "partial_lock": lambda: functools.partial(print, threading.RLock()),
}


LOCK = threading.Lock()
uses_global_lock = lambda: LOCK  # noqa: E731 - cloudpickle saves it by value, with LOCK
Point3 = collections.namedtuple("Point3", "x y z")


class RenamingState:
    def __init__(self):
        self.lock = threading.Lock()

    def __getstate__(self):
        return {"renamed": self.lock}


@dataclass(frozen=True)
class Frozen:
    value: object


def make_class_with_lock_attribute():
    return type("Throttle", (), {"lock": threading.Lock(), "__module__": __name__})


class Registered:
    """Pickled through a copyreg reducer, not through its own __reduce__."""

    def __init__(self, payload):
        self.payload = payload
        self.lock = threading.Lock()


def _reduce_registered(obj):
    return (Registered, (obj.payload,))  # drops the lock: a fix registered from outside


copyreg.pickle(Registered, _reduce_registered)


class RegisteredLeaky:
    def __init__(self):
        self.lock = threading.Lock()


copyreg.pickle(RegisteredLeaky, lambda obj: (RegisteredLeaky.__new__, (RegisteredLeaky,), {"lock": obj.lock}))


def set_and_unset_env(name):
    """What importing numpy does with OPENBLAS_MAIN_FREE: set a variable, then remove it."""
    import os

    os.environ[name] = "1"
    del os.environ[name]
    return name


class EnvRoundTrip:
    """Its load sets an environment variable and removes it again: no change at all."""

    def __reduce__(self):
        return (set_and_unset_env, ("PICKLECHECK_TEST_TRANSIENT",))


class WritesSharedMemory:
    """Loads by writing into the shared file mapping in ``SHARED_MAPS[key]`` (set by the
    test): a write that would reach the mapped file in the process that loads it."""

    SHARED_MAPS: dict = {}

    def __init__(self, key: str) -> None:
        self.key = key

    def __reduce__(self):
        return (_write_shared, (self.key,))


def _write_shared(key: str) -> WritesSharedMemory:
    WritesSharedMemory.SHARED_MAPS[key][0:5] = b"pwned"
    return WritesSharedMemory(key)


class UsesProcessLock:
    """Loads by acquiring and releasing a ``multiprocessing`` lock of the caller's (its
    semaphore lives in shared memory), as a tqdm bar's lock does when a copy closes."""

    LOCKS: dict = {}

    def __init__(self, key: str) -> None:
        self.key = key

    def __reduce__(self):
        return (_use_lock, (self.key,))


def _use_lock(key: str) -> UsesProcessLock:
    with UsesProcessLock.LOCKS[key]:
        pass
    return UsesProcessLock(key)


class Restores:
    """Loads fine, through a ``__setstate__`` of its own (code a load runs: contained)."""

    def __init__(self):
        self.value = 1

    def __setstate__(self, state):
        self.__dict__.update(state)


class RemovesOnInit:
    """A plain class (nothing runs when NEWOBJ builds it), whose ``__init__`` removes a
    file: bytes that *call* it run that."""

    def __init__(self, path):
        os.remove(path)


class CallsRemovesOnInit:
    """Pickles as a call of :class:`RemovesOnInit` (its ``__init__`` runs at load)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (RemovesOnInit, (self.path,))


class Row:
    """A plain record: nothing of its own runs when a load builds it."""

    def __init__(self, key, values):
        self.key = key
        self.values = values


class SharedLog:
    """Opens its SQLite file again as it loads, and writes to it (as a diskcache Cache
    opens its folder's database)."""

    def __init__(self, path):
        self.path = path
        self._open()

    def _open(self):
        self.conn = sqlite3.connect(self.path)
        self.conn.execute("CREATE TABLE IF NOT EXISTS log (line TEXT)")
        self.conn.execute("INSERT INTO log VALUES ('opened')")
        self.conn.commit()

    def __getstate__(self):
        return {"path": self.path}

    def __setstate__(self, state):
        self.path = state["path"]
        self._open()
