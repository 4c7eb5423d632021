"""The copies a check loads in-process never run their finalizers: a half-built copy's
would recurse (and abort the interpreter), a whole one's would act in the user's world."""

from __future__ import annotations

import collections.abc
import gc
import io
import pickle
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import picklecheck
from picklecheck.backends import get_backend, remains

FINALIZED: list[str] = []


class Wrapper:
    """tqdm's ObjectWrapper: attribute access falls through to the wrapped object, so on
    a copy whose state never arrived every lookup recurses (BUILD's own included)."""

    def __init__(self, wrapped):
        self._wrapped = wrapped

    def __getattr__(self, name):
        return getattr(self._wrapped, name)


class Bar:
    """tqdm's bar: its finalizer writes to the wrapped file, through the wrapper."""

    def __init__(self):
        self.fp = Wrapper(io.StringIO())
        self.me = self  # a cycle: only the cyclic collector frees a copy

    def __del__(self):
        FINALIZED.append("broken" if "fp" not in self.__dict__ else "whole")
        self.fp.write("")


def _unraisable_during(action):
    seen = []
    previous = sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        action()
        gc.collect()
    finally:
        sys.unraisablehook = previous
    return seen


@pytest.mark.parametrize("backend", ["pickle", "dill", "cloudpickle"])
def test_failed_load_runs_no_finalizer_of_its_copies(backend):
    """The half-built copies a failed load leaves never run their __del__."""
    bar = Bar()
    data = get_backend(backend).dumps(bar, pickle.DEFAULT_PROTOCOL)
    FINALIZED.clear()

    def load():
        with pytest.raises(RecursionError):
            get_backend(backend).loads(data)

    assert _unraisable_during(load) == []
    assert "broken" not in FINALIZED
    assert type(bar) is Bar and bar.fp._wrapped is not None  # the original is untouched


def test_check_of_a_bar_like_object_leaves_nothing_broken():
    """check() of an object whose copies cannot load finishes without finalizer noise."""
    FINALIZED.clear()
    report = _unraisable_during(lambda: picklecheck.check(Bar()))
    assert report == []
    assert "broken" not in FINALIZED


class Tidy:
    """Loads fine; its finalizer records that it ran."""

    def __init__(self):
        self.me = self

    def __del__(self):
        FINALIZED.append("tidy")


class Needy:
    """Dumps, never loads: __reduce__ forgets the argument __init__ needs."""

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (Needy, ())


SINGLETON = Tidy()


def the_singleton():
    return SINGLETON


class SingletonRef:
    """Pickles as a call that returns the module's existing SINGLETON."""

    def __reduce__(self):
        return (the_singleton, ())


def test_finalizer_of_a_whole_copy_does_not_run_either():
    """A copy that loads is looked at and dropped: its finalizer would act in this process."""
    original = Tidy()
    gc.collect()
    FINALIZED.clear()
    get_backend("pickle").loads(pickle.dumps(original))
    gc.collect()
    assert FINALIZED == []
    assert type(original) is Tidy and gc.isenabled()


class Registry(collections.abc.MutableMapping):
    """A finalizer on a class whose metaclass is ABCMeta: no twin can be made for it, so
    a disarmed copy is kept alive instead (as dbm.dumb's _Database)."""

    def __init__(self):
        self.data = {}

    def __getitem__(self, key):
        return self.data[key]

    def __setitem__(self, key, value):
        self.data[key] = value

    def __delitem__(self, key):
        del self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self):
        return len(self.data)

    def __del__(self):
        FINALIZED.append("registry")


def test_a_copy_given_back_its_finalizers_runs_them_when_dropped():
    """``swapped`` names what a load disarmed (swapped or kept alive); rearm gives it back,
    and the copy's finalizers run when it is dropped (the sandbox's drop, see contain)."""
    gc.collect()
    FINALIZED.clear()
    swapped = []
    originals = [Tidy(), Registry()]  # alive to the end: their finalizers are not the copy's
    copy = get_backend("pickle").loads(pickle.dumps(originals), swapped=swapped)
    assert sorted(cls.__name__ if cls else "kept" for _, cls in swapped) == ["Tidy", "kept"]
    assert type(copy[0]) is not Tidy
    gc.collect()
    # Only this test's own kinds: an original of another test (a Bar, in a cycle) may be
    # collected here, and its finalizer runs, as it should.
    assert _mine(FINALIZED) == []
    remains.rearm(swapped)
    assert swapped == [] and type(copy[0]) is Tidy
    del copy
    gc.collect()
    assert sorted(_mine(FINALIZED)) == ["registry", "tidy"]


def _mine(finalized: list[str]) -> list[str]:
    return [kind for kind in finalized if kind in ("tidy", "registry")]


class Pool:
    """A connection pool: its finalizer closes it under its lock (redis.ConnectionPool)."""

    def __init__(self):
        self._lock = threading.RLock()

    def __del__(self):
        with self._lock:
            FINALIZED.append("pool closed")


def test_dill_copy_whose_finalizer_takes_a_broken_lock_does_not_hang():
    """dill restores the RLock held by no thread; the copy's finalizer would wait forever."""
    script = textwrap.dedent("""
        import gc, picklecheck, test_remains
        report = picklecheck.check(test_remains.Pool(), backends=("dill",))
        gc.collect()
        print("done", report.ok)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=str(Path(__file__).parent))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["done", "False"]  # its lock is dead: not ok, and no hang


def test_objects_that_existed_before_the_load_are_never_touched():
    """A failed load that returned an existing object (a singleton) leaves its class alone."""
    data = pickle.dumps([SingletonRef(), Tidy(), Needy(1)])
    with pytest.raises(TypeError):
        get_backend("pickle").loads(data)
    assert type(SINGLETON) is Tidy
    assert gc.isenabled()


def test_tqdm_bar_does_not_abort_the_interpreter():
    """check(tqdm(...)) used to end the process: 'Cannot recover from stack overflow'."""
    pytest.importorskip("tqdm")
    script = textwrap.dedent("""
        import io, gc, picklecheck
        from tqdm import tqdm
        for _ in range(3):
            report = picklecheck.check(tqdm(total=100, file=io.StringIO()))
            gc.collect()
        print("ok", report.ok)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok False"
    assert "Exception ignored" not in done.stderr
