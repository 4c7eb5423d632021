"""The rich rendering: culprit tree, comparison table, verdicts, plain and colour output."""

from __future__ import annotations

import io
import threading

import pytest
from rich.console import Console

import picklecheck
from picklecheck.model import BackendResult, Culprit, PathStep, Report
from picklecheck.report.console import (
    comparison_table,
    culprit_tree,
    is_plain,
    make_console,
    render_all,
    render_report,
)


class Conn:
    """A connection-like object holding a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "Conn()"


def on_click(event):
    """A module-level callback (stands in for a lambda in the fixtures)."""
    return event


def render(renderable, width: int = 80) -> str:
    """Render as the golden tests see it: 80 columns, no colour, no trailing spaces."""
    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def make_state():
    """The root object the hand-made report describes."""
    return {"db": Conn(), "handlers": [on_click], "n": 1}


def make_report(state, *, fresh: bool = False) -> Report:
    """A report with fixed timings and reprs, so that renders are exact."""
    lock = Culprit(
        path="state['db']._lock", obj=state["db"]._lock, type="_thread.lock",
        reason="cannot pickle '_thread.lock' object", exception="TypeError", kind="lock",
        hint="locks cannot cross a process boundary; drop _lock in Conn.__getstate__ and "
             "create a new one in __setstate__ (dill: ok)",
        backends=("pickle", "cloudpickle"), repr="<unlocked _thread.lock object>",
        steps=(PathStep.item("db"), PathStep.attr("_lock")),
        reasons={"pickle": "cannot pickle '_thread.lock' object",
                 "cloudpickle": "cannot pickle '_thread.lock' object"},
        works_with={"pickle": False, "dill": True, "cloudpickle": False})
    handler = Culprit(
        path="state['handlers'][0]", obj=on_click, type="function",
        reason="Can't pickle local object 'on_click'", exception="AttributeError",
        kind="lambda", hint="use a module-level def", backends=("pickle",),
        repr="<function on_click>", steps=(PathStep.item("handlers"), PathStep.index(0)),
        reasons={"pickle": "Can't pickle local object 'on_click'"},
        works_with={"pickle": False, "dill": True, "cloudpickle": True})
    results = {
        "pickle": BackendResult("pickle", ok=False, error="TypeError: cannot pickle",
                                dumps_seconds=2.1e-5, culprits=[lock, handler]),
        "dill": BackendResult("dill", ok=True, size=2345, dumps_seconds=0.0042,
                              roundtrip=True, fresh=True if fresh else None),
        "cloudpickle": BackendResult("cloudpickle", ok=False, error="TypeError: cannot pickle",
                                     dumps_seconds=3.3e-5, culprits=[lock]),
    }
    return Report(name="state", type="dict", repr="{'db': Conn(), 'handlers': [...], 'n': 1}",
                  protocol=None, results=results, culprits=[lock, handler])


def test_report_plain_golden():
    """The whole report in ASCII: header, tree to each culprit, table, verdict."""
    state = make_state()
    assert render(render_report(make_report(state), state, ascii=True)) == """\
state: dict = {'db': Conn(), 'handlers': [...], 'n': 1}

state  dict
+-- ['db']  test_console.Conn
|   `-- ._lock  _thread.lock  x pickle, cloudpickle
|       value <unlocked _thread.lock object>
|       path  state['db']._lock
|       cause TypeError: cannot pickle '_thread.lock' object
|       hint  locks cannot cross a process boundary; drop _lock in
|             Conn.__getstate__ and create a new one in __setstate__ (dill: ok)
`-- ['handlers']  list
    `-- [0]  function  x pickle
        value <function on_click>
        path  state['handlers'][0]
        cause AttributeError: Can't pickle local object 'on_click'
        hint  use a module-level def

backend      result          size   dumps  round trip
-----------------------------------------------------
pickle       dumps fails        -   21 us  -
dill         ok           2.3 KiB  4.2 ms  ok
cloudpickle  dumps fails        -   33 us  -

FAIL: state does not survive pickle, cloudpickle (2 culprits); ok with dill"""


def test_tree_unicode_golden():
    """On a terminal the tree uses Unicode guides and a cross for each culprit."""
    state = make_state()
    report = make_report(state)
    report.culprits = report.culprits[1:]
    assert render(culprit_tree(report, state)) == """\
state  dict
└── ['handlers']  list
    └── [0]  function  ✗ pickle
        value <function on_click>
        path  state['handlers'][0]
        cause AttributeError: Can't pickle local object 'on_click'
        hint  use a module-level def"""


def test_fresh_column_only_when_asked():
    """The fresh-interpreter column appears when a fresh load was run."""
    state = make_state()
    without = render(comparison_table(make_report(state), ascii=True))
    with_fresh = render(comparison_table(make_report(state, fresh=True), ascii=True))
    assert "fresh" not in without
    assert with_fresh.splitlines()[0].split() == [
        "backend", "result", "size", "dumps", "round", "trip", "fresh", "interpreter"]
    assert with_fresh.splitlines()[3].split()[-1] == "ok"


def test_several_values_summary_golden():
    """Several values: one row each, then the failing ones in full, then one verdict."""
    state = make_state()
    ok = picklecheck.check({"n": 1}, name="limits", backends=["pickle"])
    ok.results["pickle"].dumps_seconds = 1e-5
    ok.repr = "{'n': 1}"
    text = render(render_all(["limits", "state"], [ok, make_report(state)], [{"n": 1}, state],
                             [[], ["a note"]], ascii=True))
    lines = text.splitlines()
    assert lines[:4] == [
        "name    type  pickle  dill  cloudpickle  culprits",
        "-------------------------------------------------",
        "limits  dict  ok      -     -                   -",
        "state   dict  FAIL    ok    FAIL                2",
    ]
    assert lines[5] == "state " + "-" * 74
    assert "note: a note" in lines
    assert lines[-1] == "FAIL: 1 of 2 values does not survive every backend: state"


def test_long_run_of_one_step_is_one_node():
    """A path of 1,000 ``[0]`` steps is drawn as one level, not 1,000."""
    leaf = threading.Lock()
    root = leaf
    for _ in range(1000):
        root = [root]
    steps = tuple(PathStep.index(0) for _ in range(1000))
    culprit = Culprit(path="deep" + "[0]" * 1000, obj=leaf, type="_thread.lock", reason="r",
                      exception="TypeError", kind="lock", hint="h", backends=("pickle",),
                      repr="<lock>", steps=steps)
    report = Report(name="deep", type="list", repr="[[...]]", protocol=None,
                    results={}, culprits=[culprit])
    lines = render(culprit_tree(report, root, ascii=True)).splitlines()
    assert lines[:2] == ["deep  list", "`-- [0][0][0]...[0]  (1,000 x [0])  _thread.lock  x pickle"]
    assert lines[3] == "    path  deep[0][0][0]...[0] (1000 x [0])"


def test_many_distinct_levels_are_elided():
    """A tree deeper than MAX_DEPTH keeps the first and last levels."""
    steps = tuple(PathStep.attr(f"a{i}") for i in range(40))
    culprit = Culprit(path="x", obj=None, type="NoneType", reason="r", exception="E",
                      kind="k", hint="h", backends=("pickle",), steps=steps)
    report = Report(name="root", type="T", repr="", protocol=None, results={},
                    culprits=[culprit])
    text = render(culprit_tree(report, ascii=True), width=200)
    assert "`-- .a6.a7 ... .a33  (28 levels)" in text
    assert len(text.splitlines()) < 20


class Hostile:
    """Raises from __repr__ and __getattr__; pickles its lock via __reduce_ex__."""

    def __init__(self):
        object.__setattr__(self, "lock", threading.Lock())

    def __repr__(self):
        raise ValueError("no repr")

    def __getattr__(self, name):
        raise RuntimeError(f"hostile {name}")

    def __reduce_ex__(self, protocol):
        return (Hostile, (), {"lock": object.__getattribute__(self, "lock")})


def test_hostile_object_renders():
    """A raising __repr__ and __getattr__ never break the tree."""
    root = {"h": Hostile()}
    report = picklecheck.check(root, name="root", backends=["pickle"])
    lines = render(render_report(report, root, ascii=True)).splitlines()
    assert lines[0] == "root: dict = {'h': <test_console.Hostile object (repr raised ValueError)>}"
    assert lines[3:5] == ["`-- ['h']  test_console.Hostile",
                          "    `-- .lock  _thread.lock  x pickle"]


def test_user_text_is_not_markup():
    """Square brackets in reprs and reasons are printed literally."""
    state = make_state()
    report = make_report(state)
    report.culprits[1].reason = "[bold red]not markup[/]"
    assert "[bold red]not markup[/]" in render(render_report(report, state, ascii=True))


def test_colour_on_a_terminal():
    """A terminal console gets colour codes and Unicode guides."""
    state = make_state()
    stream = io.StringIO()
    console = Console(file=stream, width=80, force_terminal=True, color_system="standard")
    console.print(render_report(make_report(state), state))
    text = stream.getvalue()
    assert "\x1b[" in text and "└── " in text and "✗ pickle" in text


class FakeTTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("stream", "no_color", "plain"), [
    pytest.param(FakeTTY(), None, False, id="terminal"),
    pytest.param(FakeTTY(), "1", True, id="terminal with NO_COLOR"),
    pytest.param(io.StringIO(), None, True, id="pipe"),
])
def test_is_plain(monkeypatch, stream, no_color, plain):
    """Plain output unless the stream is a terminal and NO_COLOR is unset."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    if no_color:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert is_plain(stream) is plain


def test_plain_console_has_no_colour(monkeypatch):
    """The plain console writes no escape codes, at COLUMNS width."""
    monkeypatch.setenv("COLUMNS", "100")
    stream = io.StringIO()
    console = make_console(stream, plain=True)
    console.print(render_report(make_report(make_state()), ascii=True))
    assert console.width == 100
    assert "\x1b" not in stream.getvalue()
