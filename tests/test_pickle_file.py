"""``inspect_file``: what an existing pickle needs, read from its opcodes, never loaded."""

from __future__ import annotations

import collections
import importlib
import json
import os
import pickle
import sys
from pathlib import Path

import cloudpickle
import dill
import pytest

from picklecheck.tools.pickle_file import PickleFileError, inspect_file, render_pickle_file


class Evil:
    """Loads as ``os.system("touch <marker>")``: must be reported, never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def write(path: Path, obj, dumps=pickle.dumps, **kwargs) -> str:
    path.write_bytes(dumps(obj, **kwargs))
    return str(path)


def by_name(report):
    return {ref.qualified: ref for ref in report.globals}


def test_plain_pickle_ok(tmp_path: Path) -> None:
    """An importable class: protocol, size, one pickle, the global verified."""
    path = write(tmp_path / "a.pkl", collections.OrderedDict(a=1), protocol=4)
    report = inspect_file(path)
    assert (report.protocol, report.pickles, report.size) == (4, 1, os.path.getsize(path))
    assert report.ok and report.verified
    assert by_name(report)["collections.OrderedDict"].status == "ok"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_globals_every_protocol(tmp_path: Path, protocol: int) -> None:
    """GLOBAL (text) and STACK_GLOBAL (memoized strings) both name the same globals."""
    obj = [collections.OrderedDict(), collections.OrderedDict(), collections.Counter("ab")]
    report = inspect_file(write(tmp_path / "p.pkl", obj, protocol=protocol))
    assert {"collections.OrderedDict", "collections.Counter"} <= set(by_name(report))
    assert report.protocol == protocol
    assert report.dynamic_globals == 0


def test_python2_names_mapped(tmp_path: Path) -> None:
    """Protocol 2 writes ``__builtin__.set``; loading maps it to ``builtins.set``."""
    report = inspect_file(write(tmp_path / "s.pkl", {1}, protocol=2))
    ref = by_name(report)["builtins.set"]
    assert (ref.written_as, ref.status) == ("__builtin__.set", "ok")


def test_missing_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that existed when the file was written and is gone now."""
    pkg = tmp_path / "lib"
    pkg.mkdir()
    (pkg / "old_pkg_xyz.py").write_text("class Thing:\n    pass\n")
    monkeypatch.syspath_prepend(str(pkg))
    module = importlib.import_module("old_pkg_xyz")
    path = write(tmp_path / "t.pkl", module.Thing())
    del sys.modules["old_pkg_xyz"]
    (pkg / "old_pkg_xyz.py").unlink()
    importlib.invalidate_caches()
    report = inspect_file(path)
    ref = by_name(report)["old_pkg_xyz.Thing"]
    assert not report.ok
    assert ref.status == "missing module"
    assert ref.detail.startswith("No module named 'old_pkg_xyz'")
    assert "FAIL: will not load here: 1 of 1 globals missing" in render_pickle_file(report)


def test_missing_attribute_with_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class renamed since the file was written: found only with --import, with a suggestion."""
    pkg = tmp_path / "lib"
    pkg.mkdir()
    (pkg / "renamed_mod_xyz.py").write_text("class Widget:\n    pass\n")
    monkeypatch.syspath_prepend(str(pkg))
    module = importlib.import_module("renamed_mod_xyz")
    path = write(tmp_path / "w.pkl", module.Widget())
    del sys.modules["renamed_mod_xyz"]
    (pkg / "renamed_mod_xyz.py").write_text("class Widgets:\n    pass\n")
    importlib.invalidate_caches()
    plain = by_name(inspect_file(path))["renamed_mod_xyz.Widget"]
    assert plain.status == "found"  # not imported, so the attribute is unknown
    assert "renamed_mod_xyz" not in sys.modules
    imported = by_name(inspect_file(path, import_modules=True))["renamed_mod_xyz.Widget"]
    assert imported.status == "missing attribute"
    assert "did you mean Widgets?" in imported.detail
    sys.modules.pop("renamed_mod_xyz", None)


def test_submodule_not_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --import, a package's __init__ never runs; a missing submodule is still found."""
    pkg = tmp_path / "lib" / "noisy_pkg_xyz"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "models.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    path = tmp_path / "n.pkl"
    path.write_bytes(b"cnoisy_pkg_xyz.models\nThing\n)\x81cnoisy_pkg_xyz.gone\nOther\n.")
    report = inspect_file(str(path))
    refs = by_name(report)
    assert refs["noisy_pkg_xyz.models.Thing"].status == "found"
    assert refs["noisy_pkg_xyz.gone.Other"].status == "missing module"
    assert "noisy_pkg_xyz" not in sys.modules


def test_a_namespace_portion_inside_a_package_is_found(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder without __init__.py inside a package (flask/sansio) is a namespace portion:
    its modules are found on disk, the package still not imported."""
    pkg = tmp_path / "lib" / "ns_pkg_xyz"
    (pkg / "sansio").mkdir(parents=True)
    (pkg / "__init__.py").write_text("raise RuntimeError('must not be imported')\n")
    (pkg / "sansio" / "scaffold.py").write_text("class Scaffold:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    path = tmp_path / "ns.pkl"
    path.write_bytes(b"cns_pkg_xyz.sansio.scaffold\nScaffold\n)\x81cns_pkg_xyz.sansio.gone\nX\n.")
    refs = by_name(inspect_file(str(path)))
    assert refs["ns_pkg_xyz.sansio.scaffold.Scaffold"].status == "found"
    assert refs["ns_pkg_xyz.sansio.gone.X"].status == "missing module"
    assert "ns_pkg_xyz" not in sys.modules


def test_main_class(tmp_path: Path) -> None:
    """A class from a script's __main__ cannot be found from another program's __main__."""
    path = tmp_path / "m.pkl"
    # What a script writes for an instance of its own class Foo (protocol 4).
    path.write_bytes(pickle.dumps(collections.OrderedDict()).replace(
        b"\x8c\x0bcollections\x94\x8c\x0bOrderedDict", b"\x8c\x08__main__\x94\x8c\x0eFooNotInMain_x"))
    report = inspect_file(str(path))
    ref = by_name(report)["__main__.FooNotInMain_x"]
    assert ref.status == "missing attribute"
    assert "defined in the script that wrote the file" in ref.detail


def test_malicious_reduce_never_runs(tmp_path: Path) -> None:
    """An os.system reduce is named and flagged, and inspecting it runs nothing."""
    marker = tmp_path / "pwned"
    path = write(tmp_path / "evil.pkl", Evil(marker))
    report = inspect_file(path, import_modules=True)
    assert not marker.exists()
    (ref,) = report.hazards
    assert ref.name == "system" and ref.module in ("posix", "nt", "os")
    assert ref.hazard == "starts or signals processes" and ref.blocks
    text = render_pickle_file(report)
    assert f"WARNING: loading it calls {ref.qualified}" in text
    assert not marker.exists()


@pytest.mark.parametrize("name", ["eval", "exec", "getattr"])
def test_builtins_hazards(tmp_path: Path, name: str) -> None:
    """builtins.eval, exec and getattr get a warning."""
    path = tmp_path / "b.pkl"
    path.write_bytes(f"cbuiltins\n{name}\n(S'1'\ntR.".encode())
    (ref,) = inspect_file(str(path)).hazards
    assert ref.qualified == f"builtins.{name}"


def test_dill_file(tmp_path: Path) -> None:
    """A dill lambda: dill's globals found, its __builtin__.__main__ special not missing."""
    path = write(tmp_path / "d.pkl", lambda x: x + 1, dumps=dill.dumps)
    report = inspect_file(path)
    refs = by_name(report)
    assert "dill._dill._create_function" in refs
    assert report.ok
    assert refs["dill._dill._create_function"].status == "ok"  # dill is imported here


def test_cloudpickle_file_with_import(tmp_path: Path) -> None:
    """A cloudpickled lambda needs cloudpickle's reconstructors; --import verifies them."""
    path = write(tmp_path / "c.pkl", lambda x: x + 1, dumps=cloudpickle.dumps)
    report = inspect_file(path, import_modules=True)
    assert by_name(report)["cloudpickle.cloudpickle._make_function"].status == "ok"
    assert report.ok and report.verified


def test_concatenated_pickles(tmp_path: Path) -> None:
    """Several pickles in one file are counted, and their globals merged."""
    path = tmp_path / "many.pkl"
    with open(path, "wb") as f:
        pickle.dump(1, f)
        pickle.dump(collections.OrderedDict(), f)
        pickle.dump(collections.Counter(), f)
    report = inspect_file(str(path))
    assert report.pickles == 3
    assert {"collections.OrderedDict", "collections.Counter"} <= set(by_name(report))
    assert "holds 3 pickles" in render_pickle_file(report)


def test_trailing_garbage_noted(tmp_path: Path) -> None:
    """Bytes after a good pickle are a note, not an error: pickle.load ignores them."""
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps([1]) + b"\xff\xfe")
    report = inspect_file(str(path))
    assert (report.pickles, report.trailing) == (1, 2)


@pytest.mark.parametrize(("content", "expected"), [
    pytest.param(b"", "the file is empty (0 bytes), so it holds no pickle", id="empty"),
    pytest.param(pickle.dumps({"a": [1, 2, 3]}, protocol=4)[:-4],
                 "a truncated pickle (protocol 4)", id="truncated"),
    pytest.param(pickle.dumps([1, 2], protocol=5)[:-1], "a truncated pickle (protocol 5)",
                 id="no STOP"),
    pytest.param(b"\x9d\x00garbage", "not a pickle: its first byte 0x9d is not a pickle opcode",
                 id="garbage"),
    pytest.param(b"name,score\nada,1\n", "not a pickle: it looks like text ('name,score'",
                 id="text"),
    pytest.param(b"\x1f\x8b\x08\x00rest", "not a pickle: it is a gzip file", id="gzip"),
    pytest.param(b"PK\x03\x04rest", "not a pickle: it is a zip archive", id="zip"),
])
def test_unreadable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    """Empty, truncated, garbage and foreign files raise PickleFileError with exit code 2."""
    path = tmp_path / "bad.pkl"
    path.write_bytes(content)
    with pytest.raises(PickleFileError) as info:
        inspect_file(str(path))
    assert info.value.problem.startswith(expected)
    assert str(info.value).startswith(f"{path}: ")
    assert info.value.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is a PickleFileError, not an OSError traceback."""
    with pytest.raises(PickleFileError, match="cannot read it"):
        inspect_file(str(tmp_path / "nope.pkl"))


def test_to_dict_is_json(tmp_path: Path) -> None:
    """The JSON form carries the verdict and each global's status and hazard."""
    path = write(tmp_path / "evil.pkl", Evil(tmp_path / "x"))
    data = json.loads(json.dumps(inspect_file(path).to_dict()))
    assert data["pickles"] == 1 and data["ok"] is True
    (ref,) = data["globals"]
    assert ref["name"] == "system" and ref["hazard"] == "starts or signals processes"
    assert data["hazards"] == [ref["qualified"]]


def test_render_golden(tmp_path: Path) -> None:
    """The plain rendering of a simple file, exactly."""
    path = write(tmp_path / "g.pkl", collections.OrderedDict(), protocol=4)
    assert render_pickle_file(inspect_file(path)) == (
        f"{path}: pickle protocol 4, 45 B, 1 pickle\n"
        "ok: every global it needs is importable (1)\n"
        "\n"
        "globals:\n"
        "  ok  collections.OrderedDict"
    )


def test_a_joblib_file_is_named_not_called_corrupt(tmp_path: Path) -> None:
    """joblib.dump writes each array's raw bytes into the stream (pickle.load cannot read
    them) or, with compress=, a zlib stream: both are named, with joblib.load."""
    joblib = pytest.importorskip("joblib", reason="pip install 'picklecheck[joblib]'")
    np = pytest.importorskip("numpy")
    plain, packed = tmp_path / "model.joblib", tmp_path / "model.z.joblib"
    joblib.dump({"weights": np.arange(10.0), "name": "m"}, plain)
    joblib.dump({"weights": np.arange(10.0)}, packed, compress=3)
    for path, words in ((plain, "a joblib file (joblib.dump)"), (packed, "a zlib stream")):
        with pytest.raises(PickleFileError) as caught:
            inspect_file(str(path))
        assert words in str(caught.value) and "joblib.load" in str(caught.value)
        assert "corrupt" not in str(caught.value)
