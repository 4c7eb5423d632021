"""Entries: alike culprits grouped under a path pattern, the same in every rendering."""

from __future__ import annotations

import json
import threading

import culprits as c
import pytest
from click.testing import CliRunner

import picklecheck
from picklecheck.cli import cli
from picklecheck.engine.group import entries
from picklecheck.model import PathStep


class Message:
    """A chat message that holds a lock (the user's class)."""

    def __init__(self, text):
        self.text = text
        self._lock = threading.Lock()


def chat(n=100):
    return {"messages": [Message(f"m{i}") for i in range(n)], "title": "chat"}


def test_alike_culprits_are_one_entry_with_every_path():
    """100 locks at the same place of 100 messages: one entry, a range, every path kept."""
    report = picklecheck.check(chat(), name="state", backends=("pickle",))
    assert len(report.culprits) == 100
    (entry,) = report.entries
    assert entry.path == "state['messages'][0..99]._lock"
    assert entry.count == 100 and len(entry.culprits) == 100
    assert entry.paths == [f"state['messages'][{i}]._lock" for i in range(100)]
    assert all(o is cu.obj for o, cu in zip(entry.objs, report.culprits, strict=True))
    assert "Message.__getstate__" in entry.hint


def test_positions_that_are_no_run_become_a_star():
    """Keys, or indices with gaps, are shown as [*]."""
    by_key = picklecheck.check({"x": threading.Lock(), "y": threading.Lock()},
                               backends=("pickle",))
    assert [e.path for e in by_key.entries] == ["obj[*]"]
    gaps = picklecheck.check([1, threading.Lock(), 2, threading.Lock()], backends=("pickle",))
    assert [e.path for e in gaps.entries] == ["obj[*]"]
    assert gaps.entries[0].paths == ["obj[1]", "obj[3]"]


def test_different_things_are_not_grouped():
    """A lock and a lambda side by side stay two entries; so do different attributes."""
    report = picklecheck.check([threading.Lock(), c.square, threading.Lock()],
                               backends=("pickle",))
    assert [(e.path, e.kind, e.count) for e in report.entries] == [
        ("obj[*]", "lock", 2), ("obj[1]", "lambda", 1)]
    limiter = picklecheck.check([c.RateLimiter(1.0), c.SlotWorker()], backends=("pickle",))
    assert sorted(e.path for e in limiter.entries) == ["obj[0]._lock", "obj[1].lock"]


def test_expand_lists_every_culprit():
    """check(expand=True): one entry per culprit, no grouping, no collapsing."""
    report = picklecheck.check(chat(5), name="state", backends=("pickle",), expand=True)
    assert report.expanded
    assert [e.path for e in report.entries] == [cu.path for cu in report.culprits]
    assert "shown as" not in str(report)


def test_plain_text_shows_the_group():
    """str(report): the pattern, the first paths, one cause and hint, and how to expand."""
    text = str(picklecheck.check(chat(), name="state", backends=("pickle",)))
    assert "  state['messages'][0..99]._lock  (_thread.lock)  [pickle]" in text
    assert "paths: state['messages'][0]._lock, state['messages'][1]._lock," in text
    assert "and 97 more" in text
    assert text.count("cause:") == 1
    assert "(100 culprits shown as 1 entry; check(..., expand=True) or report.culprits " \
           "lists each)" in " ".join(text.split())


def test_error_message_shows_the_group():
    """UnpicklableError: grouped too, with the culprit count in its first line."""
    with pytest.raises(picklecheck.UnpicklableError) as info:
        picklecheck.assert_picklable(chat(), name="state")
    message = str(info.value)
    assert message.splitlines()[0] == "cannot pickle state with 'pickle': 100 culprits"
    assert len(message.splitlines()) < 15
    assert "state['messages'][0..99]._lock" in message
    with pytest.raises(picklecheck.UnpicklableError) as info:
        picklecheck.assert_picklable(chat(3), name="state", expand=True)
    assert "  state['messages'][2]._lock  (_thread.lock)" in str(info.value).splitlines()


def test_json_keeps_every_path():
    """to_dict: every culprit in full, and the entries with every member path."""
    data = json.loads(json.dumps(picklecheck.check(chat(), backends=("pickle",)).to_dict()))
    assert len(data["culprits"]) == 100
    (entry,) = data["entries"]
    assert entry["count"] == 100 and len(entry["paths"]) == 100 and len(entry["culprits"]) == 100
    assert set(entry) == {"path", "type", "kind", "inside", "count", "paths", "hint",
                          "backends", "culprits"}


def test_grouping_is_plain_data():
    """entries() regroups any list of culprits without the checked object."""
    report = picklecheck.check(chat(10), backends=("pickle",))
    assert [e.path for e in entries(report.culprits[:3])] == ["obj['messages'][0..2]._lock"]
    assert len(entries(report.culprits[:3], expand=True)) == 3
    assert PathStep.pattern("0..2").render() == "[0..2]"


@pytest.fixture
def app(tmp_path, monkeypatch):
    (tmp_path / "chatapp.py").write_text(
        "import threading\n"
        "class Message:\n"
        "    def __init__(self, i):\n"
        "        self.i = i\n"
        "        self.lock = threading.Lock()\n"
        "state = {'messages': [Message(i) for i in range(30)]}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cli_groups_and_expands(app):
    """The command line draws one tree node for the group; --expand draws each one."""
    runner = CliRunner()
    grouped = runner.invoke(cli, ["chatapp.py:state", "-b", "pickle"])
    assert grouped.exit_code == 1
    assert "[0..29]" in grouped.output and "[17]" not in grouped.output
    assert "30 culprits shown as 1 entry; --expand lists each" in grouped.output
    expanded = runner.invoke(cli, ["chatapp.py:state", "-b", "pickle", "--expand"])
    assert expanded.exit_code == 1
    assert "[17]" in expanded.output and "[0..29]" not in expanded.output
    doc = json.loads(runner.invoke(cli, ["chatapp.py:state", "-b", "pickle", "--json"]).stdout)
    report = doc["targets"][0]["report"]
    assert len(report["culprits"]) == 30 and report["entries"][0]["count"] == 30


def test_notebook_html_draws_entries():
    """A report displayed in a notebook has one table row per entry, not per culprit."""
    from picklecheck.integrations.ipython import ReportView

    html = ReportView(picklecheck.check(chat(), backends=("pickle",)))._repr_html_()
    assert html.count("<tr><td><code>") == 1
    assert "obj[&#x27;messages&#x27;][0..99]._lock" in html


def test_different_roots_are_not_one_pattern():
    """Culprits re-rooted at different labels (as a diagnosis does) stay apart: no pattern
    could name them all."""
    report = picklecheck.check(chat(2), backends=("pickle",))
    for i, culprit in enumerate(report.culprits):
        culprit.steps = culprit.steps[3:]
        culprit.path = f"messages[{i}]._lock"
    assert [e.path for e in entries(report.culprits)] == ["messages[0]._lock",
                                                         "messages[1]._lock"]


def test_a_library_object_full_of_culprits_leaves_room_for_the_users_own():
    """A library object with hundreds of culprits inside (a psycopg cursor's run-time
    classes; here a LoggerAdapter's extra) is one entry; the search does not spend the
    whole culprit budget in it and so still names the user's lambda beside it."""
    import logging

    adapter = logging.LoggerAdapter(logging.getLogger("picklecheck-crowd"),
                                    {f"k{i}": threading.Lock() for i in range(300)})
    report = picklecheck.check({"adapter": adapter, "cb": lambda r: r}, backends=("pickle",))
    assert "obj['cb']" in [c.path for c in report.culprits]
    assert [e.path for e in report.entries] == ["obj['adapter']", "obj['cb']"]
    assert report.results["pickle"].truncated


def test_many_library_objects_with_a_few_culprits_each_leave_room_for_the_users_own():
    """Forty records, each holding a library object with culprits of its own (a rich
    Console: here a LoggerAdapter with three locks): the search takes a few from each
    once half the budget is spent, and still names the user's lambda after them."""
    import logging

    records = [{"log": logging.LoggerAdapter(logging.getLogger(f"picklecheck-r{i}"),
                                             {"a": threading.Lock(), "b": threading.Lock(),
                                              "c": threading.Lock()})}
               for i in range(40)]
    report = picklecheck.check({"records": records, "on_done": lambda r: r},
                               backends=("pickle",))
    paths = [c.path for c in report.culprits]
    assert "obj['on_done']" in paths
    assert {f"obj['records'][{i}]['log']" for i in range(40)} <= {
        p.partition(".")[0] for p in paths}
