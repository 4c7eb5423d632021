"""Plain-text and JSON renderings of a report (no colour, no rich, no click).

The terminal rendering with colour lives in :mod:`picklecheck.console`; this module
is what ``str(report)`` and exception messages use, so it must stay light.
"""

from __future__ import annotations

import json
import textwrap
from typing import Any, Protocol

from picklecheck.engine.group import entries as group_entries
from picklecheck.model import BackendResult, Culprit, Entry, PathStep, Report

__all__ = ["culprit_lines", "display_path", "entries_for", "entry_lines", "explain",
           "first_paths", "format_bytes", "format_seconds", "holds_text", "load_notes",
           "plural", "render_json", "render_plain", "summary_note", "verdict_line"]

#: How many member paths a group shows before "and N more".
SHOWN = 3

WIDTH = 88


def format_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    for unit in ("KiB", "MiB", "GiB"):
        size_f = size / 1024
        if size_f < 1024 or unit == "GiB":
            return f"{size_f:.1f} {unit}"
        size = int(size_f)
    return f"{size} B"


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n} {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def verdict_line(report: Report) -> str:
    """One line: does it serialize, and with what."""
    ok, failed = report.succeeded(), report.failed()
    if not failed:
        return f"ok: {report.name} serializes with {', '.join(ok)}"
    text = f"FAIL: {report.name} does not survive {', '.join(failed)}"
    text += f" ({plural(len(report.culprits), 'culprit')})"
    if ok:
        text += f"; ok with {', '.join(ok)}"
    return text


def _status(result: BackendResult) -> str:
    if not result.available:
        return "not installed"
    if result.ok:
        return "ok"
    return {"dumps": "dumps fails", "loads": "loads fails", "fresh": "fresh load fails"}[
        result.stage or "dumps"
    ]


def _load_cell(value: bool | None) -> str:
    return "-" if value is None else ("ok" if value else "FAIL")


def comparison_rows(report: Report) -> list[list[str]]:
    """Rows of the backend comparison table, header first."""
    rows = [["backend", "result", "size", "dumps", "round trip", "fresh"]]
    for result in report.results.values():
        rows.append([
            result.backend, _status(result), format_bytes(result.size),
            format_seconds(result.dumps_seconds), _load_cell(result.roundtrip),
            _load_cell(result.fresh),
        ])
    return rows


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _wrapped(label: str, text: str, indent: str, width: int = WIDTH) -> list[str]:
    prefix = f"{indent}{label:<7}"
    return textwrap.wrap(text, width, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False) or [prefix.rstrip()]


class _HasPath(Protocol):
    path: str
    steps: tuple[PathStep, ...]


def display_path(culprit: _HasPath, name: str | None = None, run: int = 6) -> str:
    """A path for people (a culprit's or an entry's): long runs of one step are shown
    once with a count."""
    if not culprit.steps:
        return culprit.path
    root = culprit.path[: len(culprit.path) - len("".join(s.render() for s in culprit.steps))]
    parts: list[str] = []
    rendered = [step.render() for step in culprit.steps]
    i = 0
    while i < len(rendered):
        j = i
        while j < len(rendered) and rendered[j] == rendered[i]:
            j += 1
        count = j - i
        if count < run:
            parts.append(rendered[i] * count)
        else:
            parts.append(f"{rendered[i] * 3}...{rendered[i]} ({count} x {rendered[i]}) ")
        i = j
    return ((name or root) + "".join(parts)).rstrip()


def culprit_lines(culprit: Culprit, indent: str = "  ", backends: bool = True,
                  width: int = WIDTH) -> list[str]:
    """The culprit's path and type, then cause, where and hint wrapped at ``width``."""
    head = f"{indent}{display_path(culprit)}  ({culprit.type})"
    if backends:
        head += f"  [{', '.join(culprit.backends)}]"
    lines = [head]
    inner = indent + "  "
    stage = {"loads": "loads: ", "fresh": "fresh interpreter: "}.get(culprit.stage, "")
    lines += _wrapped("cause:", f"{stage}{culprit.exception}: {culprit.reason}", inner, width)
    for other, reason in culprit.reasons.items():
        if other != culprit.backends[0] and reason != culprit.reason:
            lines += _wrapped("", f"{other}: {reason}", inner, width)
    if culprit.detail:
        lines += _wrapped("where:", culprit.detail, inner, width)
    lines += _wrapped("hint:", culprit.hint, inner, width)
    return lines


def entries_for(report: Report, backend: str | None = None) -> list[Entry]:
    """The report's entries, or those of the culprits ``backend`` fails on, grouped the
    same way (a report made by hand, without entries, is grouped here)."""
    if backend is None and (report.entries or not report.culprits):
        return list(report.entries)
    culprits = [c for c in report.culprits if backend is None or backend in c.backends]
    return group_entries(culprits, report.expanded)


def first_paths(entry: Entry, shown: int = SHOWN) -> str:
    """``a[0], a[1], a[2] and 97 more``: the members of a group."""
    text = ", ".join(entry.paths[:shown])
    rest = entry.count - shown
    return text + (f" and {rest} more" if rest > 0 else "")


def holds_text(entry: Entry) -> str:
    """``51 culprits inside, first: obj.bind.pool._conn (_thread._local): reason``."""
    first = entry.first
    count = len(entry.culprits)
    return (f"{plural(count, 'culprit')} inside, first: {display_path(first)} "
            f"({first.type}): {first.exception}: {first.reason}")


def entry_lines(entry: Entry, indent: str = "  ", backends: bool = True,
                width: int = WIDTH) -> list[str]:
    """An entry as plain text: a culprit as :func:`culprit_lines` draws it; a group with
    its members; a library object with what it holds and its own fix."""
    if entry.count == 1 and not entry.inside:
        return culprit_lines(entry.first, indent, backends, width)
    head = f"{indent}{display_path(entry)}  ({entry.type})"
    if backends:
        head += f"  [{', '.join(entry.backends)}]"
    lines = [head]
    inner = indent + "  "
    if entry.count > 1:
        lines += _wrapped("paths:", first_paths(entry), inner, width)
    if entry.inside:
        lines += _wrapped("holds:", holds_text(entry), inner, width)
        lines += _wrapped("hint:", entry.hint, inner, width)
        return lines
    return lines + culprit_lines(entry.first, indent, backends, width)[1:]


def summary_note(report: Report, entries: list[Entry], culprits: int, how: str) -> str | None:
    """``51 culprits shown as 1 entry; <how> lists each``, when entries summarise."""
    if report.expanded or len(entries) >= culprits:
        return None
    return (f"{plural(culprits, 'culprit')} shown as {plural(len(entries), 'entry')}; "
            f"{how} lists each")


def render_plain(report: Report) -> str:
    """The whole report as plain text, readable without colour."""
    lines = [verdict_line(report), f"  {report.name}: {report.type} = {report.repr}", ""]
    lines += _table(comparison_rows(report))
    if report.culprits:
        entries = entries_for(report)
        lines += ["", f"{plural(len(report.culprits), 'culprit')}:"]
        for entry in entries:
            lines += entry_lines(entry)
        note = summary_note(report, entries, len(report.culprits),
                            "check(..., expand=True) or report.culprits")
        if note:
            lines.append(f"  ({note})")
    truncated = [r.backend for r in report.results.values() if r.truncated]
    if truncated:
        timed = any("time limit" in s or "stopped after" in s
                    for r in report.results.values() for s in r.skipped)
        why = "the time limit" if timed else "max_culprits"
        lines.append(f"  (search stopped at {why} for {', '.join(truncated)})")
    skipped = [s for r in report.results.values() for s in r.skipped]
    for note in dict.fromkeys(skipped):
        lines.append(f"  skipped: {note}")
    lines += [f"  {note}" for note in load_notes(report)]
    return "\n".join(lines)


_ISOLATION_NOTES = {
    "process": ("loads ran in a child process without the kernel sandbox (no Landlock here), "
                "through the hazard guard: files and the network were not protected by the "
                "kernel"),
    "guarded": ("loads ran guarded in this process (no kernel sandbox here): the hazard guard "
                "refuses known dangerous calls, but a load can still change this process"),
}


def load_notes(report: Report) -> list[str]:
    """Where loads ran, when it is not the usual: another interpreter (``python=``), and
    without the kernel sandbox (see picklecheck.isolation.contain)."""
    notes = [f"fresh loads ran in {report.fresh_python}"] if report.fresh_python else []
    notes += [f"{r.backend}'s fresh load warned: {w}"
              for r in report.results.values() for w in r.fresh_warnings]
    where = [r.isolation for r in report.results.values() if r.isolation not in (None, "sandbox")]
    if where:
        notes.append(f"isolation: {_ISOLATION_NOTES[where[0]]}")
    return notes


def explain(report: Report, backend: str | None = None) -> str:
    """The message of an :class:`~picklecheck.UnpicklableError`: summary, then detail."""
    names = [backend] if backend else list(report.failed())
    culprits = [c for c in report.culprits if backend is None or backend in c.backends]
    entries = entries_for(report, backend)
    result = report.results.get(backend) if backend else None
    stage = result.stage if result is not None else None
    verb = {"loads": "load back", "fresh": "load in a fresh interpreter"}.get(stage or "", "pickle")
    lines = [f"cannot {verb} {report.name} with {', '.join(repr(n) for n in names)}: "
             f"{plural(len(culprits), 'culprit')}"]
    for entry in entries:
        lines += entry_lines(entry, backends=backend is None)
    note = summary_note(report, entries, len(culprits), "expand=True")
    if note:
        lines.append(f"  ({note})")
    if result is not None and not culprits:
        error = result.error or result.roundtrip_error or result.fresh_error
        lines.append(f"  {error}")
    others = {n: r for n, r in report.results.items() if n != backend}
    if backend and others:
        verdicts = ", ".join(f"{n}: {'ok' if r.ok else 'fails'}" for n, r in others.items())
        lines.append(f"  other backends: {verdicts}")
    return "\n".join(lines)


def render_json(report: Report, indent: int | None = 2) -> str:
    """The report as JSON (see README.md for the keys)."""
    return json.dumps(report.to_dict(), indent=indent, default=_json_default)


def _json_default(value: Any) -> Any:
    return repr(value)
