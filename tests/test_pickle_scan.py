"""``inspect`` reads opcodes as ``pickle.load`` does: corrupt streams, dotted names, limits.

Every stream called corrupt here is also loaded by the real C unpickler with every
global replaced by a permissive stand-in (:mod:`permissive_loader`), which must fail
too: ``inspect`` never calls corrupt what some environment could load.
"""

from __future__ import annotations

import collections
import pickle
import pkgutil
import sys
import tracemalloc
from pathlib import Path

import pytest
from permissive_loader import permissive_load

from picklecheck.tools import pickle_scan
from picklecheck.tools.pickle_file import PickleFileError, inspect_file, render_pickle_file

P4 = b"\x80\x04"


def stack_global(module: str, name: str) -> bytes:
    """The opcodes that push global ``module.name`` with protocol 4's STACK_GLOBAL."""
    def text(s: str) -> bytes:
        return b"\x8c" + bytes([len(s.encode())]) + s.encode()
    return text(module) + text(name) + b"\x93"


def inspect_bytes(tmp_path: Path, data: bytes, **kwargs):
    path = tmp_path / "case.pkl"
    path.write_bytes(data)
    return inspect_file(str(path), **kwargs)


CORRUPT = [
    pytest.param(b"\x80\x09N.", 0, "unsupported pickle protocol 9", id="unknown protocol"),
    pytest.param(P4 + b"h\x05.", 2, "memo slot 5 is read before anything was stored",
                 id="GET never PUT"),
    pytest.param(P4 + b"j\x00\x00\x01\x00.", 2, "memo slot 65536", id="LONG_BINGET never PUT"),
    pytest.param(P4 + b"K\x01K\x02\x93.", 6, "STACK_GLOBAL needs two str, and the name is an int",
                 id="STACK_GLOBAL on ints"),
    pytest.param(P4 + b"\x8c\x01a]\x93.", 6, "the name is a list", id="STACK_GLOBAL on a list"),
    pytest.param(P4 + b"\x8c\x03\xed\xb2\x80\x8c\x01X\x93.", 10, "lone surrogate",
                 id="surrogate module name"),
    pytest.param(b"c\xff\xfe\nX\n.", 0, "is not UTF-8 text", id="non-UTF-8 GLOBAL"),
    pytest.param(b"ios\nsystem\xc3\xa9\n.", 0, "is not ASCII text", id="non-ASCII INST"),
    pytest.param(P4 + b"e.", 2, "could not find MARK", id="APPENDS without MARK"),
    pytest.param(P4 + b"0N.", 2, "unpickling stack underflow", id="POP on empty stack"),
    pytest.param(P4 + b"N(\x94.", 4, "unpickling stack underflow", id="MEMOIZE above a MARK"),
    pytest.param(P4 + b"(.", 3, "unpickling stack underflow", id="STOP above a MARK"),
    pytest.param(P4 + b"(K\x01d.", 5, "odd number of items for DICT", id="odd DICT"),
    pytest.param(P4 + b"}(K\x01u.", 6, "odd number of items for SETITEMS", id="odd SETITEMS"),
    pytest.param(P4 + b"K\x01(K\x02e.", 7, "appends items to an int", id="APPENDS to an int"),
    pytest.param(P4 + b"}N\x85N\x86\x8f(]\x90.", 10, "a set member is a list",
                 id="unhashable set member"),
    pytest.param(P4 + b"(]K\x01d.", 6, "a dict key is a list", id="unhashable dict key"),
    pytest.param(P4 + b"K\x01)R.", 5, "what REDUCE calls is an int", id="REDUCE on an int"),
    pytest.param(P4 + b"\x8c\x01a\x8c\x01b\x93]R.", 10, "arguments of REDUCE must be a tuple",
                 id="REDUCE with list arguments"),
    pytest.param(P4 + b"K\x01)\x81.", 5, "class argument must be a type, not an int",
                 id="NEWOBJ on an int"),
    pytest.param(P4 + b"Np-1\n.", 3, "negative memo index", id="negative PUT"),
    pytest.param(P4 + b"\x82\x00.", 2, "EXT specifies code <= 0", id="EXT code 0"),
    pytest.param(P4 + b"\x8b\xff\xff\xff\xff.", 2, "negative byte count", id="LONG4 negative"),
    pytest.param(b"S'abc\n.", 0, "must be quoted", id="unquoted STRING"),
    pytest.param(b"Iabc\n.", 0, "is not a number", id="INT not a number"),
    pytest.param(P4 + b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N.", 2, "a frame of 255 bytes",
                 id="FRAME past the end"),
    pytest.param(P4 + b"X\x02\x00\x00\x00\xff\xfe.", 2, "not UTF-8", id="BINUNICODE not UTF-8"),
    pytest.param(P4 + b"K\x01\x98.", 4, "needs a bytes-like object", id="READONLY_BUFFER int"),
    pytest.param(P4 + b"](K\x01b.", 6, "unpickling stack underflow", id="BUILD above a MARK"),
    pytest.param(P4 + b"N(\x85.", 4, "unpickling stack underflow", id="TUPLE1 reaching under a MARK"),
    pytest.param(P4 + b"]}b.", 4, "sets the state of a list", id="BUILD dict state on list"),
]


@pytest.mark.parametrize(("data", "offset", "reason"), CORRUPT)
def test_corrupt_streams(tmp_path: Path, data: bytes, offset: int, reason: str) -> None:
    """What pickle.load rejects whatever the globals are: exit 2, the offset, and why."""
    if "surrogate" not in reason:  # a name no module can have; a stub would take it
        assert permissive_load(data) != "ok"
    with pytest.raises(PickleFileError) as info:
        inspect_bytes(tmp_path, data)
    assert info.value.offset == offset
    assert f"at byte {offset} " in info.value.problem
    assert reason in info.value.problem
    assert info.value.exit_code == 2


LOADABLE = [
    pytest.param(P4 + b"N(t.", id="empty TUPLE right after a MARK"),
    pytest.param(P4 + b"}(u.", id="SETITEMS of nothing"),
    pytest.param(P4 + b"K\x01(e.", id="APPENDS of nothing to an int"),
    pytest.param(P4 + b"N(0.", id="POP takes the empty MARK first"),
    pytest.param(b"I010\n.", id="INT in octal, as C's strtol reads it"),
    pytest.param(b"I12\x00junk\n.", id="INT cut at a NUL byte"),
    pytest.param(P4 + b"]N}\x86b.", id="BUILD with a (state, slotstate) tuple on a list"),
    pytest.param(P4 + b"Nr\x00\x00\x01\x00\x94h\x01.", id="far memo slot, then MEMOIZE"),
    pytest.param(b"\x80\x02U\x02\xe9\xe9.", id="Python 2 byte string (needs encoding=)"),
]


@pytest.mark.parametrize("data", LOADABLE)
def test_loadable_streams(tmp_path: Path, data: bytes) -> None:
    """Odd but valid streams: what the permissive C loader reads, inspect never calls corrupt."""
    assert permissive_load(data) == "ok" or "ascii" in permissive_load(data)
    report = inspect_bytes(tmp_path, data)
    assert report.pickles == 1


def test_python2_strings_noted(tmp_path: Path) -> None:
    """Non-ASCII Python 2 strings are a note about encoding=, not corruption."""
    report = inspect_bytes(tmp_path, b"\x80\x02U\x02\xe9\xe9.")
    assert "encoding='latin1'" in render_pickle_file(report)


@pytest.mark.parametrize(("data", "resolves_to"), [
    pytest.param(P4 + b"\x8c\tposixpath\x8c\tos.system\x93\x8c\x02id\x85R.",
                 ("posix.system", "nt.system", "os.system"), id="posixpath + os.system"),
    pytest.param(P4 + b"\x8c\nsubprocess\x8c\x0ePopen.__init__\x93.",
                 ("subprocess.Popen",), id="subprocess + Popen.__init__"),
    pytest.param(P4 + b"\x8c\x13not_imported_mod_xy\x8c\tos.system\x93.", ("os.system",),
                 id="module never imported + os.system"),
])
def test_dotted_names_resolved_for_hazards(tmp_path: Path, data: bytes, resolves_to) -> None:
    """A dotted global is followed to what it names before the hazard check, never run."""
    report = inspect_bytes(tmp_path, data)
    (ref,) = report.hazards
    assert ref.resolves_to in resolves_to
    assert ref.hazard == "starts or signals processes"
    assert f"WARNING: loading it calls {ref.qualified} (that is, {ref.resolves_to})" in (
        render_pickle_file(report))


def test_dotted_names_below_protocol_4_are_one_attribute(tmp_path: Path) -> None:
    """Below protocol 4 the loader looks ``os.system`` up as one name: missing, no hazard."""
    report = inspect_bytes(tmp_path, b"cposixpath\nos.system\n.")
    (ref,) = report.globals
    assert ref.status == "missing attribute" and ref.hazard is None
    assert "does not follow dotted names" in ref.detail


def test_control_characters_in_names_are_escaped(tmp_path: Path) -> None:
    """A name holding a terminal escape is shown spelled out, never raw."""
    report = inspect_bytes(tmp_path, P4 + b"\x8c\x05\x1b[31m\x8c\x01X\x93.")
    text = render_pickle_file(report)
    assert "\x1b" not in text and "\\x1b[31m.X" in text


def test_memo_bomb_memory_bounded(tmp_path: Path) -> None:
    """A file of MEMOIZE opcodes costs a few bytes of memory per byte of file, not 70."""
    data = P4 + b"]" + b"\x94" * 300_000 + b"."
    tracemalloc.start()
    try:
        inspect_bytes(tmp_path, data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 12 * len(data)


def test_limit_stops_with_a_clear_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the documented limit the scan stops: exit 2 and a sentence, not memory."""
    monkeypatch.setattr("picklecheck.tools.pickle_stack.MAX_ITEMS", 50_000)
    with pytest.raises(PickleFileError) as info:
        inspect_bytes(tmp_path, P4 + b"]" * 200_000 + b".")
    assert "too large to inspect" in info.value.problem
    assert "more than 50,000 stack entries" in info.value.problem


def test_globals_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More distinct globals than the documented limit stop the scan too."""
    monkeypatch.setattr(pickle_scan, "MAX_GLOBALS", 100)
    data = b"(" + b"".join(f"cmod_{i}\nX\n0".encode() for i in range(150)) + b"N."
    with pytest.raises(PickleFileError, match="more than 100 distinct globals"):
        inspect_bytes(tmp_path, data)


def test_many_missing_modules_scan_sys_path_once(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 missing modules: sys.path is listed once per file, not once per module."""
    calls = []
    real = pkgutil.iter_modules
    monkeypatch.setattr(pkgutil, "iter_modules", lambda *a, **k: calls.append(1) or real(*a, **k))
    data = b"(" + b"".join(f"cmissing_mod_{i}\nX\n0".encode() for i in range(3000)) + b"N."
    report = inspect_bytes(tmp_path, data)
    assert len(report.missing) == 3000
    assert len(calls) == 1


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_real_pickles_every_protocol(tmp_path: Path, protocol: int) -> None:
    """Real pickles of shared, recursive and nested objects read as whole and loadable."""
    shared = [1, "x"]
    cyclic: list = []
    cyclic.append(cyclic)
    obj = {"a": shared, "b": shared, "c": cyclic, "d": frozenset({1, 2}), "e": {3},
           "f": collections.OrderedDict(x=b"\x00" * 300), "g": bytearray(b"ab"),
           "h": (1.5, -2**70, None, True), "i": "é" * 10}
    data = pickle.dumps(obj, protocol=protocol)
    report = inspect_bytes(tmp_path, data)
    assert report.ok and report.pickles == 1 and not report.trailing
    assert permissive_load(data) == "ok"


def test_trailing_corrupt_pickle_is_a_note(tmp_path: Path) -> None:
    """A corrupt second pickle is not read by one pickle.load: a note with its offset."""
    data = pickle.dumps([1]) + P4 + b"h\x07."
    report = inspect_bytes(tmp_path, data)
    assert report.pickles == 1
    assert f"pickle.load would fail at byte {len(pickle.dumps([1])) + 2}" in report.notes[-1]


def test_python_is_not_imported_by_reading(tmp_path: Path) -> None:
    """Reading names a module; it is never imported without --import."""
    inspect_bytes(tmp_path, P4 + b"\x8c\x0bantigravity\x8c\x01X\x93.")
    assert "antigravity" not in sys.modules


def test_modules_found_without_importlib_per_name(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The one listing of sys.path still finds namespace packages and other finders' modules."""
    import importlib.abc
    import importlib.machinery

    (tmp_path / "lib" / "nspkg_xyz").mkdir(parents=True)
    (tmp_path / "lib" / "nspkg_xyz" / "mod.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))

    class Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "virtual_mod_xyz":
                return importlib.machinery.ModuleSpec(name, None)
            return None

    monkeypatch.setattr(sys, "meta_path", [*sys.meta_path, Finder()])
    data = P4 + b"".join(stack_global(m, "X") for m in (
        "nspkg_xyz.mod", "virtual_mod_xyz", "not_there_q_xyz")) + b"\x87."
    refs = {ref.module: ref.status for ref in inspect_bytes(tmp_path, data).globals}
    assert refs == {"nspkg_xyz.mod": "found", "virtual_mod_xyz": "found",
                    "not_there_q_xyz": "missing module"}
