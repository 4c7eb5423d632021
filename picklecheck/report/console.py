"""The terminal rendering of reports with rich: culprit tree, comparison table, verdict.

Imported only by the command line. The text comes from the plain data in
:mod:`picklecheck.model` and the helpers of :mod:`picklecheck.render`; this module
adds layout, colour and glyphs. With ``ascii=True`` every glyph, tree guide and
table rule is ASCII, so piped output (or ``NO_COLOR``) is plain text with the same
content. User text (reprs, messages) always goes in as :class:`rich.text.Text`,
never as markup.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.rule import Rule
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from picklecheck.engine.saferepr import type_name
from picklecheck.model import ATTR, INDEX, ITEM, Culprit, Entry, PathStep, Report
from picklecheck.report.render import (
    comparison_rows,
    display_path,
    entries_for,
    first_paths,
    holds_text,
    load_notes,
    summary_note,
    verdict_line,
)

__all__ = [
    "comparison_table",
    "culprit_tree",
    "is_plain",
    "make_console",
    "overall_verdict",
    "print_reports",
    "render_all",
    "render_report",
    "summary_table",
    "verdict_text",
]

#: A run of this many identical steps (``[0][0][0]...``) becomes one tree node.
RUN = 4
#: Trees deeper than this show their first and last levels only.
MAX_DEPTH = 12
REPR_SIZE = 72

_ASCII_HEAD = box.Box("    \n    \n -- \n    \n    \n    \n    \n    \n", ascii=True)
_STATUS_STYLE = {"ok": "green", "not installed": "yellow"}


def is_plain(stream: IO[str]) -> bool:
    """Plain text (no colour, ASCII only) unless ``stream`` is a terminal and NO_COLOR is unset."""
    if os.environ.get("NO_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return not (isatty is not None and isatty())
    except ValueError:  # a closed stream
        return True


def make_console(stream: IO[str], *, plain: bool, width: int | None = None) -> Console:
    """A console for ``stream``: colour on a terminal, no colour and no markup when plain."""
    if plain:
        return Console(file=stream, color_system=None, width=width or _env_width(),
                       highlight=False, markup=False, emoji=False, soft_wrap=False)
    return Console(file=stream, width=width, highlight=False, markup=False, emoji=False)


def _env_width() -> int:
    try:
        return max(40, int(os.environ.get("COLUMNS", "")))
    except ValueError:
        return 80


class _Ascii:
    """Render the wrapped renderable as if the terminal could only show ASCII."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        ascii_options = options.copy()
        ascii_options.encoding = "ascii"
        yield from console.render(self.renderable, ascii_options)


# -- the culprit tree ----------------------------------------------------------

_MISSING = object()
_FATAL = (KeyboardInterrupt, SystemExit)


@dataclass
class _Node:
    """One node of the tree: the steps from its parent, and what it leads to."""

    steps: tuple[PathStep, ...]
    obj: Any = _MISSING
    children: dict[tuple[str, ...], _Node] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)


def _follow(obj: Any, step: PathStep) -> Any:
    """The object one step further, or _MISSING when it cannot be evaluated safely."""
    if obj is _MISSING or not step.evaluable:
        return _MISSING
    try:
        if step.kind in (ITEM, INDEX):
            return obj[step.value]
        if step.kind == ATTR:
            return getattr(obj, step.value)
    except _FATAL:
        raise
    except BaseException:  # noqa: BLE001 - a hostile __getitem__ or __getattr__
        return _MISSING
    return _MISSING


def _segments(steps: Sequence[PathStep]) -> list[tuple[PathStep, ...]]:
    """Steps grouped into tree levels: a long run of one step is a single level."""
    groups: list[tuple[PathStep, ...]] = []
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j].render() == steps[i].render():
            j += 1
        if j - i >= RUN:
            groups.append(tuple(steps[i:j]))
        else:
            groups += [(step,) for step in steps[i:j]]
        i = j
    if len(groups) > MAX_DEPTH:
        keep = MAX_DEPTH // 2
        middle = tuple(step for group in groups[keep:-keep] for step in group)
        groups = [*groups[:keep], middle, *groups[-keep:]]
    return groups


def _build(root: Any, entries: Iterable[Entry]) -> _Node:
    top = _Node(steps=(), obj=root)
    for entry in entries:
        node = top
        for group in _segments(entry.steps):
            key = tuple(step.render() for step in group)
            child = node.children.get(key)
            if child is None:
                obj = node.obj
                for step in group:
                    obj = _follow(obj, step)
                child = node.children[key] = _Node(steps=group, obj=obj)
            node = child
        node.obj = entry.obj if entry.count == 1 else _MISSING
        node.entries.append(entry)
    return top


def _step_text(steps: tuple[PathStep, ...]) -> str:
    rendered = [step.render() for step in steps]
    if len(rendered) >= RUN and len(set(rendered)) == 1:
        return f"{rendered[0] * 3}...{rendered[0]}  ({len(rendered):,} x {rendered[0]})"
    if len(rendered) > RUN:
        return f"{''.join(rendered[:2])} ... {rendered[-1]}  ({len(rendered):,} levels)"
    return "".join(rendered)


def _label(head: str, obj: Any, entries: list[Entry], ascii: bool) -> RenderableType:
    text = Text(head, style="bold")
    shown = type_name(obj) if obj is not _MISSING else (entries[0].type if entries else "")
    if shown:
        text.append("  ")
        text.append(shown, style="cyan")
    if not entries:
        return text
    culprits = [c for e in entries for c in e.culprits]
    backends = sorted({b for e in entries for b in e.backends}, key=_backend_order(culprits))
    text.append("  ")
    text.append(("x " if ascii else "✗ ") + ", ".join(backends), style="bold red")
    return Group(text, *(_entry_detail(e) for e in entries))


def _backend_order(culprits: list[Culprit]) -> Any:
    order = list(dict.fromkeys(name for c in culprits for name in c.works_with))
    return lambda name: order.index(name) if name in order else len(order)


def _entry_detail(entry: Entry) -> Table:
    """The rows under an entry: a culprit's value, path, cause and hint; a group's
    members; what a library object holds and its own fix."""
    if entry.count == 1 and not entry.inside:
        return _culprit_detail(entry.first)
    rows: list[tuple[str, Text]] = [("path", Text(display_path(entry), style="bold yellow"))]
    if entry.count > 1:
        rows.append(("paths", Text(first_paths(entry))))
    if entry.inside:
        rows += [("holds", Text(holds_text(entry), style="red")),
                 ("hint", Text(entry.hint, style="green"))]
    else:
        rows += _culprit_rows(entry.first)[2:]
    return _grid(rows)


def _culprit_detail(culprit: Culprit) -> Table:
    return _grid(_culprit_rows(culprit))


def _culprit_rows(culprit: Culprit) -> list[tuple[str, Text]]:
    stage = {"loads": "loads: ", "fresh": "fresh interpreter: "}.get(culprit.stage, "")
    rows = [
        ("value", Text(_short(culprit.repr, REPR_SIZE))),
        ("path", Text(display_path(culprit), style="bold yellow")),
        ("cause", Text(f"{stage}{culprit.exception}: {culprit.reason}", style="red")),
    ]
    for other, reason in culprit.reasons.items():
        if other != culprit.backends[0] and reason != culprit.reason:
            rows.append(("", Text(f"{other}: {reason}", style="red")))
    if culprit.detail:
        rows.append(("where", Text(culprit.detail)))
    rows.append(("hint", Text(culprit.hint, style="green")))
    return rows


def _grid(rows: list[tuple[str, Text]]) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in rows:
        if value.plain or name:
            grid.add_row(name, value)
    return grid


def culprit_tree(report: Report, root: Any = _MISSING, *, ascii: bool = False
                 ) -> RenderableType:
    """The object graph from the root down to each culprit, and nothing else.

    ``root`` is the checked object: the types of the objects on the way are read
    from it by following each culprit's steps (never by calling repr on them).
    """
    top = _build(root, entries_for(report))
    tree = Tree(_label(report.name, top.obj, top.entries, ascii), guide_style="dim")
    pending = [(tree, node) for node in top.children.values()]
    while pending:  # an explicit stack: deep graphs cannot exhaust the recursion limit
        parent, node = pending.pop(0)
        branch = parent.add(_label(_step_text(node.steps), node.obj, node.entries, ascii))
        pending += [(branch, child) for child in node.children.values()]
    return _Ascii(tree) if ascii else tree


# -- the comparison table and the verdict ----------------------------------------

def comparison_table(report: Report, *, ascii: bool = False) -> RenderableType:
    """One row per backend: verdict, payload size, dumps time, round trips."""
    header, *rows = comparison_rows(report)
    fresh_asked = any(r.fresh is not None for r in report.results.values())
    if not fresh_asked:
        header, rows = header[:-1], [row[:-1] for row in rows]
    table = Table(box=_ASCII_HEAD if ascii else box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for i, title in enumerate(header):
        table.add_column("fresh interpreter" if title == "fresh" else title,
                         justify="right" if i in (2, 3) else "left")
    for row in rows:
        table.add_row(*(_cell(i, value) for i, value in enumerate(row)))
    return _Ascii(table) if ascii else table


def _cell(column: int, value: str) -> Text:
    if column == 1:
        return Text(value, style=_STATUS_STYLE.get(value, "bold red"))
    if column >= 4:
        return Text(value, style={"ok": "green", "FAIL": "bold red"}.get(value, "dim"))
    return Text(value)


def verdict_text(report: Report) -> Text:
    """The one-line verdict, green when every backend round-trips the object."""
    return Text(verdict_line(report), style="bold green" if report.ok else "bold red")


class _Header:
    """``name: type = repr`` on one line, the repr cut with "..." to the width."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = Text()
        text.append(self.report.name, style="bold")
        text.append(": ")
        text.append(self.report.type, style="cyan")
        text.append(" = ")
        room = max(options.max_width - len(text.plain), 20)
        text.append(_short(self.report.repr, room), style="dim")
        yield text


def _short(text: str, size: int = 100) -> str:
    return text if len(text) <= size else text[: size - 3] + "..."


def _notes(report: Report, notes: Sequence[str]) -> list[Text]:
    lines = [Text(f"note: {note}", style="yellow") for note in notes]
    summary = summary_note(report, entries_for(report), len(report.culprits), "--expand")
    if summary:
        lines.append(Text(f"note: {summary}", style="yellow"))
    truncated = [r.backend for r in report.results.values() if r.truncated]
    if truncated:
        lines.append(Text(f"note: search stopped at --max-culprits for {', '.join(truncated)}",
                          style="yellow"))
    skipped = dict.fromkeys(s for r in report.results.values() for s in r.skipped)
    lines += [Text(f"skipped: {note}", style="yellow") for note in skipped]
    lines += [Text(note, style="yellow") for note in load_notes(report)]
    return lines


def render_report(report: Report, root: Any = _MISSING, *, notes: Sequence[str] = (),
                  ascii: bool = False) -> RenderableType:
    """Everything about one report: header, culprit tree, table, notes, verdict."""
    parts: list[RenderableType] = [_Header(report), Text("")]
    if report.culprits:
        parts += [culprit_tree(report, root, ascii=ascii), Text("")]
    parts += [comparison_table(report, ascii=ascii), Text("")]
    extra = _notes(report, notes)
    if extra:
        parts += [*extra, Text("")]
    parts.append(verdict_text(report))
    group = Group(*parts)
    return _Ascii(group) if ascii else group


def summary_table(rows: Sequence[tuple[str, Report]], *, ascii: bool = False) -> RenderableType:
    """One row per checked value: its type, each backend's verdict, its culprit count."""
    backends = list(dict.fromkeys(b for _, report in rows for b in report.results))
    table = Table(box=_ASCII_HEAD if ascii else box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1, 0, 0), header_style="bold")
    for title in ["name", "type", *backends, "culprits"]:
        table.add_column(title, justify="right" if title == "culprits" else "left",
                         overflow="fold")
    for label, report in rows:
        cells = [Text(label, style="bold"), Text(report.type, style="cyan")]
        for backend in backends:
            result = report.results.get(backend)
            value = "-" if result is None else ("ok" if result.ok else "FAIL")
            cells.append(Text(value, style={"ok": "green", "FAIL": "bold red"}.get(value, "")))
        cells.append(Text(str(len(report.culprits)) if report.culprits else "-"))
        table.add_row(*cells)
    return _Ascii(table) if ascii else table


# -- whole outputs -------------------------------------------------------------------

def overall_verdict(labels: Sequence[str], reports: Sequence[Report]) -> Text:
    """The last line when several values were checked."""
    failed = [label for label, report in zip(labels, reports, strict=True) if not report.ok]
    total = len(reports)
    if not failed:
        backends = list(dict.fromkeys(b for r in reports for b in r.results))
        return Text(f"ok: all {total} values serialize with {', '.join(backends)}",
                    style="bold green")
    verb = "does" if len(failed) == 1 else "do"
    return Text(f"FAIL: {len(failed)} of {total} values {verb} not survive every backend: "
                f"{', '.join(failed)}", style="bold red")


def render_all(labels: Sequence[str], reports: Sequence[Report], roots: Sequence[Any],
               notes: Sequence[Sequence[str]], *, ascii: bool = False) -> RenderableType:
    """One report in full; or a summary row per value, then the failing ones in full."""
    if len(reports) == 1:
        return render_report(reports[0], roots[0], notes=notes[0], ascii=ascii)
    parts: list[RenderableType] = [summary_table(list(zip(labels, reports, strict=True)), ascii=ascii)]
    for label, report, root, note in zip(labels, reports, roots, notes, strict=True):
        if not report.ok:
            parts += [Text(""), Rule(Text(label, style="bold"), align="left",
                                     characters="-" if ascii else "─"),
                      Text(""), render_report(report, root, notes=note, ascii=ascii)]
    parts += [Text(""), overall_verdict(labels, reports)]
    group = Group(*parts)
    return _Ascii(group) if ascii else group


def print_plain(console: Console, renderable: RenderableType) -> None:
    """Print without the trailing spaces rich pads table cells with."""
    with console.capture() as capture:
        console.print(renderable)
    text = "\n".join(line.rstrip() for line in capture.get().splitlines())
    console.file.write(text + "\n")


def print_reports(stream: IO[str], labels: Sequence[str], reports: Sequence[Report],
                  roots: Sequence[Any], notes: Sequence[Sequence[str]]) -> None:
    """Print to ``stream``: colour and Unicode on a terminal, plain ASCII otherwise."""
    plain = is_plain(stream)
    console = make_console(stream, plain=plain)
    renderable = render_all(labels, reports, roots, notes, ascii=plain)
    if plain:
        print_plain(console, renderable)
    else:
        console.print(renderable)
