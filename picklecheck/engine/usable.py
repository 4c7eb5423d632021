"""Whether a culprit's loaded copy can be used, where that is cheap to check: its locks.

A load that returns is not yet a copy that works. dill re-creates an ``RLock`` by
restoring the original's owner and count, and an unlocked one comes back with its
mutex held by no thread: every ``acquire()`` on the copy blocks forever (a logging
handler, a ``Condition``, a connection pool that holds one deadlocks on first use).
A lock that was *held* when it was pickled comes back held, by a thread of the process
that pickled it: where it loads no thread will release it, and its first ``acquire()``
blocks forever too (a copy taken while another thread wrote through the handler).

:func:`probe` is given to :mod:`picklecheck.isolation.contain`, which runs it where
the copy was loaded; it looks at the copy and at what it holds (a bounded walk) and
tries, without blocking, each lock that says it is unlocked. A copy it finds broken
is not "ok": neither the backend's round trip of the whole object, nor "backend: ok"
for a culprit (:mod:`.compare`).
"""

from __future__ import annotations

import collections
import io
import itertools
import re
import threading
import types
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from picklecheck.backends.remains import identity, is_one_of

if TYPE_CHECKING:
    from picklecheck.isolation.contain import LoadOutcome, Probe

__all__ = ["EachProbe", "UnusableCopyError", "load_error", "probe", "probe_each_for",
           "probe_files", "probe_for", "probe_pure_for", "says_unlocked"]

_LOCK_TYPES = frozenset({type(threading.Lock()), type(threading.RLock()), threading._RLock})
#: Values that hold nothing: not worth a step of the walk.
_PLAIN = frozenset({type(None), bool, int, float, complex, str, bytes, bytearray})
#: How many objects of a copy the probe looks at, at most.
_BUDGET = 2_000
#: Names in the bytes that call for a probe: the reconstructors that restore a lock's
#: state (dill's; any other way of pickling a lock gives a fresh one), the module of
#: multiprocessing's connections, which plain pickling copies as a descriptor number, and
#: subprocess (dill copies a running Popen with its process's number), dill's files.
#: ... and of those, what a load that runs no code can hold (plain classes only).
_PURE_PROBED = b"asyncio.locks"
_FILE_SAVED = b"_create_filehandle"
_PROBED = (b"_create_rlock", b"_create_lock", b"multiprocessing.connection", b"subprocess",
           b"_create_thread_handle", _FILE_SAVED, _PURE_PROBED)
#: multiprocessing's connections (a Pipe's ends): a copy holds the original's descriptor
#: number, which in the process that loads it is another file or none, and which it
#: closes when it is dropped (in the process that pickled it, the original's).
_CONNECTIONS = frozenset({("multiprocessing.connection", "Connection"),
                          ("multiprocessing.connection", "PipeConnection")})
#: Files (dill's copy of one opened by descriptor number opens that number again).
_FILES = frozenset({io.FileIO, io.BufferedReader, io.BufferedWriter, io.BufferedRandom,
                    io.TextIOWrapper})
#: A running child process: only the process that started it can wait for it.
CHILDREN = frozenset({("subprocess", "Popen")})
#: asyncio's lock and bounded semaphore: pure Python, copied with their state by every
#: backend, held by tasks of the process that pickled them.
_ASYNC_LOCKS = frozenset({("asyncio.locks", "Lock")})
#: Bounded semaphores: their classes, the field of their bound, what they are and whom
#: they let in. threading's is a Condition (whose lock the probe looks at on its own) and
#: a count, copied by dill with the places threads of the pickling process had taken.
_SEMAPHORES = ((frozenset({("asyncio.locks", "BoundedSemaphore")}), "_bound_value",
                "asyncio semaphore", "task"),
               (frozenset({("threading", "BoundedSemaphore")}), "_initial_value",
                "semaphore", "thread"))


class UnusableCopyError(Exception):
    """A copy loaded, but cannot be used (the message says why: "its lock can never be
    acquired")."""

    @classmethod
    def saying(cls, unusable: str) -> UnusableCopyError:
        """The error of a copy of which the probe said ``unusable``."""
        return cls(f"it loads, but {unusable}")


def probe(copy: Any) -> str | None:
    """What is wrong with ``copy`` (a lock no thread can acquire), or None."""
    return _probe(copy, files=False)


def probe_files(copy: Any) -> str | None:
    """:func:`probe`, for a copy whose bytes hold a file dill saved: a file of the copy
    opened by its number is one too (only then: what a copy reaches by reference, a
    module or a logger, is this process's own, and pytest's captures are opened by
    number)."""
    return _probe(copy, files=True)


def _probe(copy: Any, files: bool) -> str | None:
    """What :func:`probe` finds; an error of the probe's own (a hostile object it reads)
    is no verdict on the load, which succeeded."""
    try:
        return _walk(copy, files)
    except Exception:  # noqa: BLE001 - the copy loaded; only the probe could not finish
        return None


def _walk(copy: Any, files: bool) -> str | None:
    seen: set[int] = set()
    pending: collections.deque[tuple[Any, Any]] = collections.deque([(copy, None)])
    while pending and len(seen) < _BUDGET:
        obj, link = pending.popleft()
        key = identity(obj)  # not id(): the probe runs in the watched loading child
        if key in seen:
            continue
        seen.add(key)
        if type(obj) in _LOCK_TYPES:
            if not says_unlocked(obj):
                return (f"the copy's lock{_at(link)} is held, as the original was when it "
                        "was pickled, and no thread where it loads will release it: its "
                        "first acquire() blocks forever")
            if not _acquirable(obj):
                return f"the copy's lock{_at(link)} can never be acquired"
            continue
        held = _held_by_tasks(obj, link)
        if held is not None:
            return held
        handle = _file_number(obj) if files else None
        if handle is not None:
            return (f"the copy's file{_at(link)} is descriptor {handle} of the process that "
                    "pickled it (a file opened by its number, as tempfile.TemporaryFile() and "
                    "os.fdopen() open one, has no name to open again): where it loads, that "
                    "number is another file or none, and dropping the copy closes it")
        handle = _descriptor(obj)
        if handle is not None:
            return (f"the copy's connection{_at(link)} holds descriptor {handle} of the process that "
                    "pickled it: where it loads, that number is another file or none, and "
                    "dropping the copy closes it (in the process that pickled it, the "
                    "original's)")
        if _foreign_thread(obj):
            return (f"the copy's thread{_at(link)} is marked as started, for a thread of the "
                    "process that pickled it (dill copies a thread's handle on Python 3.13), "
                    "and no such thread runs where it loads: its is_alive() stays True, "
                    "join() never returns, and start() raises \"thread already started\"")
        pid = _running_child(obj)
        if pid is not None:
            return (f"the copy's process{_at(link)} stands for process {pid}, which only the "
                    "original can wait for: the copy's poll() and wait() say it ended with "
                    "status 0 while it may still run, and its kill() signals whatever process "
                    "has that number by then")
        room = _BUDGET - len(seen) - len(pending)
        if room > 0:
            pending.extend((part, (link, how, key))
                           for how, key, part in itertools.islice(_parts(obj), room))
    return None


def _held_by_tasks(obj: Any, link: Any) -> str | None:
    """What of an asyncio lock or bounded semaphore, or threading's bounded semaphore
    (``link`` its place in the copy), is held by tasks or threads of the process that
    pickled it, which none where it loads will release."""
    state = _state_of(obj, _ASYNC_LOCKS)
    if state is not None:
        if state.get("_locked") is not True:
            return None
        return (f"the copy's asyncio lock{_at(link)} is held, as the original was when it was "
                "pickled, and no task where it loads will release it: waiting for it blocks "
                "forever")
    for classes, bound_field, what, who in _SEMAPHORES:
        state = _state_of(obj, classes)
        if state is None:
            continue
        value, bound = state.get("_value"), state.get(bound_field)
        if type(value) is not int or type(bound) is not int or value >= bound:
            return None
        return (f"the copy's {what}{_at(link)} has {bound - value} of its {bound} places "
                f"taken, as the original had when it was pickled, and no {who} where it loads will give "
                f"them back: it lets {value} {who}{'s' if value != 1 else ''} in, not {bound}"
                + (": its first acquire() blocks forever" if value == 0 else ""))
    return None


def _descriptor(obj: Any) -> int | None:
    """The descriptor number a copy of a multiprocessing connection holds, or None."""
    state = _state_of(obj, _CONNECTIONS)
    handle = state.get("_handle") if state is not None else None
    return handle if type(handle) is int else None


def _file_number(obj: Any) -> int | None:
    """The descriptor number a copy of a file opened by number stands for, or None."""
    if type(obj) not in _FILES:
        return None
    try:
        name = obj.name  # C getters all the way down (exact io types only)
    except Exception:  # noqa: BLE001 - a detached or half-made copy
        return None
    return name if type(name) is int else None


def _foreign_thread(obj: Any) -> bool:
    """Whether ``obj`` is a thread handle (Python 3.13's ``_thread._ThreadHandle``) marked
    as running a thread this process does not have."""
    kind = type(obj)
    if kind.__name__ != "_ThreadHandle" or kind.__module__ != "_thread":
        return False
    try:
        if obj.is_done():  # C methods and getters
            return False
        ident = obj.ident
    except Exception:  # noqa: BLE001 - a half-made copy: not this probe's to judge
        return False
    return ident not in {thread.ident for thread in threading.enumerate()}


def _running_child(obj: Any) -> int | None:
    """The process number a copy of a running ``subprocess.Popen`` holds, or None (one
    whose process had ended when it was pickled holds only a record of it)."""
    state = _state_of(obj, CHILDREN)
    if state is None or state.get("returncode") is not None or not state.get("_child_created"):
        return None
    pid = state.get("pid")
    return pid if type(pid) is int else None


def _state_of(obj: Any, classes: frozenset[tuple[str, str]]) -> dict[str, Any] | None:
    """The instance dict of ``obj`` when its own class or a base is one of ``classes``
    (module, name): a loading child disarms what it builds (see remains), so the class
    is read behind the twin."""
    if not is_one_of(obj, classes):
        return None
    try:
        state = object.__getattribute__(obj, "__dict__")
    except Exception:  # noqa: BLE001 - not such an object's state after all
        return None
    return state if type(state) is dict else None


def _at(link: Any) -> str:
    """`` at copy.path`` of what ``link`` leads to, or "" for the copy itself."""
    return f" at copy{_path(link)}" if link is not None else ""


def _path(link: Any) -> str:
    steps = []
    while link is not None:
        link, how, key = link
        steps.append(f"[{_key_text(key)}]" if how == "item" else f".{key}" if how == "attr"
                     else " element")
    return "".join(reversed(steps))


def _key_text(key: Any) -> str:
    """A key as the path shows it, running none of its code (a key's ``__repr__`` may
    raise, as a detached SQLAlchemy instance's does, or be slow)."""
    if type(key) in (str, int, float, bool, bytes, type(None)):
        return repr(key)
    return f"<{type(key).__qualname__} key>"


def probe_for(payloads: list[bytes] | tuple[bytes, ...]) -> Probe | None:
    """:func:`probe` if any of ``payloads`` re-creates a lock with its state, else None
    (the walk is cheap, but not free on a copy of a million objects)."""
    if any(_FILE_SAVED in data for data in payloads):
        return probe_files
    if any(name in data for data in payloads for name in _PROBED):
        return probe
    return None


def probe_pure_for(payloads: list[bytes] | tuple[bytes, ...]) -> Probe | None:
    """:func:`probe_for` payloads whose load runs no code (see
    :mod:`picklecheck.isolation.pure`): only asyncio's plain locks can be wrong there, and
    one search of the bytes is all the cost (five cost a tenth of a round trip)."""
    if any(_PURE_PROBED in data for data in payloads):
        return probe
    return None


def probe_each_for(payloads: list[bytes] | tuple[bytes, ...]) -> Probe | None:
    """As :func:`probe_for`, for payloads that are lists of objects loaded together:
    each item is probed on its own, so what is wrong is said of the item (``copy.lock``,
    not ``copy[0].lock``), with the whole budget of a probe."""
    single = probe_for(payloads)
    return None if single is None else EachProbe(single)


class EachProbe:
    """See :func:`probe_each_for` (a class, so that it pickles by reference to a loading
    child)."""

    __slots__ = ("single",)

    def __init__(self, single: Probe) -> None:
        self.single = single

    def __call__(self, copy: Any) -> str | None:
        for item in copy:
            found = self.single(item)
            if found is not None:
                return found
        return None


def load_error(outcome: LoadOutcome) -> BaseException | None:
    """What made a load not ok: what it raised, or what the probe found."""
    if outcome.exc is not None:
        return outcome.exc
    if outcome.unusable is not None:
        return UnusableCopyError.saying(outcome.unusable)
    return None


def _acquirable(lock: Any) -> bool:
    """Whether a lock that says it is unlocked can be acquired."""
    try:
        if not lock.acquire(blocking=False):
            return False
        lock.release()
    except Exception:  # noqa: BLE001 - a lock in a state its methods refuse
        return False
    return True


def says_unlocked(lock: Any) -> bool:
    """Whether a lock says it is free (a held one is copied held)."""
    if hasattr(lock, "locked"):  # Lock
        return not lock.locked()
    match = re.search(r"\bcount=(\d+)", repr(lock))  # RLock: "<unlocked ... count=0 at ...>"
    return match is not None and match.group(1) == "0"


def _parts(obj: Any) -> Iterator[tuple[str, Any, Any]]:
    """What ``obj`` holds (how it is reached, the key, the part), by plain data access
    only (no properties, no __getattr__, no method a subclass overrides: the builtin
    containers' own iteration, slots through their member descriptors), skipping values
    that hold nothing."""
    t = type(obj)
    if t is types.FunctionType:  # what a function saved by value carries
        yield from _function_parts(obj)
        return
    for how, key, part in itertools.chain(_contents(obj, t), _attributes(obj, t)):
        if type(part) not in _PLAIN:
            yield how, key, part


def _contents(obj: Any, t: type) -> Iterator[tuple[str, Any, Any]]:
    """The items of a builtin container or of a subclass of one (an ``OrderedDict``, a
    ``defaultdict``, a ``deque``), read by the builtin's own methods."""
    try:
        if issubclass(t, dict):
            for key, part in dict.items(obj):
                yield "item", key, part
        elif issubclass(t, (list, tuple, collections.deque)):
            sequence: Any = next(b for b in (list, tuple, collections.deque) if issubclass(t, b))
            for i, part in enumerate(sequence.__iter__(obj)):
                yield "item", i, part
        elif issubclass(t, (set, frozenset)):
            members: Any = set if issubclass(t, set) else frozenset
            for part in members.__iter__(obj):
                yield "element", None, part
    except (RuntimeError, TypeError):  # changed while read, or a broken copy: what was read
        return


def _attributes(obj: Any, t: type) -> Iterator[tuple[str, Any, Any]]:
    """An object's instance dict and slots (a dataclass with ``slots=True``)."""
    if t in _CONTAINERS:
        return
    try:
        state = object.__getattribute__(obj, "__dict__")
    except Exception:  # noqa: BLE001 - no instance dict
        state = None
    if type(state) is dict:
        for name, part in state.items():
            yield "attr", name, part
    for name, slot in _slots(t):
        try:
            part = slot.__get__(obj, t)
        except Exception:  # noqa: BLE001, S112 - an empty slot
            continue
        yield "attr", name, part


_CONTAINERS = frozenset({dict, list, tuple, set, frozenset, collections.deque})


def _slots(t: type) -> Iterator[tuple[str, Any]]:
    """The slots of class ``t`` and its bases, each with its member descriptor."""
    for klass in t.__mro__:
        names = vars(klass).get("__slots__", ())
        for name in (names,) if isinstance(names, str) else names:
            slot = vars(klass).get(name)
            if type(slot) is types.MemberDescriptorType:
                yield name, slot


def _function_parts(func: Any) -> Iterator[tuple[str, Any, Any]]:
    """What a function's copy holds: its closure's cells, defaults and attributes."""
    for i, cell in enumerate(func.__closure__ or ()):
        try:
            part = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if type(part) not in _PLAIN:
            yield "attr", f"__closure__[{i}].cell_contents", part
    for i, part in enumerate(func.__defaults__ or ()):
        if type(part) not in _PLAIN:
            yield "attr", f"__defaults__[{i}]", part
    for name, part in (func.__kwdefaults__ or {}).items():
        if type(part) not in _PLAIN:
            yield "attr", f"__kwdefaults__[{name!r}]", part
    for name, part in func.__dict__.items():
        if type(part) not in _PLAIN:
            yield "attr", name, part
