"""The hazard guard (loads in this process where there is no sandbox): every hostile
route is refused and reported as refused, and nothing harmless is turned into a
load failure (issue 8 item 5)."""

from __future__ import annotations

import code
import ctypes
import logging
import os
import posixpath
import subprocess
import types

import pytest
from hostile_payloads import build

import picklecheck
from picklecheck.backends import hazards
from picklecheck.isolation import contain

ROUTES = sorted(build("v", "m", 0))


@pytest.fixture(params=["sandbox", "guarded"])
def isolation(request, monkeypatch):
    """Each test once in the sandbox (where available) and once guarded in-process."""
    if request.param == "sandbox" and contain.isolation() != "sandbox":
        pytest.skip("this kernel has no Landlock sandbox")
    monkeypatch.setenv("PICKLECHECK_ISOLATION", request.param)
    return request.param


@pytest.mark.parametrize("factory", [lambda: ctypes.cdll, code.InteractiveConsole],
                         ids=["ctypes.cdll", "code.InteractiveConsole()"])
def test_harmless_objects_of_hazardous_modules_load(isolation, factory):
    """ctypes.cdll and an InteractiveConsole load with every backend: no false failure."""
    report = picklecheck.check(factory())
    assert report.ok, [(r.backend, r.roundtrip_error) for r in report.results.values()]
    assert all(not r.skipped for r in report.results.values())


def test_dill_append_mode_file_handler_loads(isolation, tmp_path):
    """A logging.FileHandler that dill re-opens with mode 'a' loads and appends nothing."""
    log = tmp_path / "app.log"
    log.write_text("line\n")
    handler = logging.FileHandler(log, mode="a")
    try:
        report = picklecheck.check(handler, backends=("dill",))
    finally:
        handler.close()
    # It loads, not refused as a hazard; what is wrong with the copy is dill's own dead
    # RLock (the engine probes copies for that: issue 8), never the file.
    result = report.results["dill"]
    assert not result.skipped
    assert result.roundtrip_error in (
        None, "UnusableCopyError: it loads, but the copy's lock at copy.lock can never be acquired")
    assert log.read_text() == "line\n"


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("where", ["guarded", "process"])
def test_guard_refuses_every_route(tmp_path, monkeypatch, route, where):
    """Guarded (in this process, or in a child without Landlock): each hostile route is
    refused before it runs or named by the watch, and never ok."""
    monkeypatch.setenv("PICKLECHECK_ISOLATION", where)
    victim, marker = tmp_path / "victim", tmp_path / "marker"
    victim.write_text("precious")
    cwd, environ = os.getcwd(), dict(os.environ)
    payload = build(str(victim), str(marker), os.getpid())[route]
    report = picklecheck.check(payload, backends=("pickle",), timeout=20)
    assert victim.read_text() == "precious" and not marker.exists()
    assert (os.getcwd(), dict(os.environ)) == (cwd, environ)
    result = report.results["pickle"]
    assert not report.ok and result.isolation == where
    kinds = {c.kind for c in report.culprits}
    if where == "guarded":
        assert kinds == {"load_hazard"} and result.skipped
    else:
        assert kinds and kinds <= {"load_hazard", "load_side_effect"}, kinds


def test_a_refusal_that_breaks_the_load_is_reported_as_refused(monkeypatch):
    """NEWOBJ of a blocked class: the refusal is the finding, not the failure it causes."""
    monkeypatch.setenv("PICKLECHECK_ISOLATION", "guarded")
    payload = object.__new__(subprocess.Popen)  # pickles as NEWOBJ(subprocess.Popen)
    payload._child_created = False  # keeps Popen.__del__ quiet
    report = picklecheck.check(payload, backends=("pickle",))
    result = report.results["pickle"]
    assert result.skipped and "subprocess.Popen" in result.skipped[0]
    assert [c.kind for c in report.culprits] == ["load_hazard"]


def test_aliases_and_dotted_names_are_the_hazard_they_name():
    """posixpath.os.system is os.system; Popen.__init__ is Popen's hazard."""
    assert hazards.hazard_of(posixpath.os.system).blocks  # type: ignore[attr-defined]
    assert hazards.hazard_of(subprocess.Popen.__init__).blocks
    assert hazards.find_hazard("subprocess", "Popen.__init__").blocks
    assert hazards.find_hazard("os", "getcwd") is None


def test_the_table_cannot_be_changed():
    """The guard's table is read-only."""
    assert isinstance(hazards._TABLE, types.MappingProxyType)
    with pytest.raises(TypeError):
        hazards._TABLE[("os", "system")] = ("harmless", False)  # type: ignore[index]


def test_inspect_and_the_guard_share_one_table():
    """`picklecheck inspect` warns about exactly what the guard blocks."""
    from picklecheck.tools import pickle_resolve

    assert pickle_resolve.find_hazard is hazards.find_hazard
    assert pickle_resolve.hazard_of is hazards.hazard_of
