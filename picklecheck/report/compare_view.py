"""The compare view: "which of my options would work?", one row per backend.

``picklecheck app.py:task --compare`` (alias ``--frameworks``) checks the value with
every backend that is installed, each loading the bytes in the worker it stands for
(:mod:`picklecheck.isolation.workers`), and prints one row each: the verdict, the
size of the payload, the time to dump it, the worker and whether it loaded the
bytes, and the first culprit. Backends that are not installed get a row saying how
to install them. Objects first, drawing later: :func:`compare_rows` makes the rows,
:func:`render_compare` draws them as plain text.
"""

from __future__ import annotations

from dataclasses import dataclass

from picklecheck.model import BackendResult, Report
from picklecheck.report.render import entries_for

__all__ = ["CompareRow", "compare_rows", "render_compare"]


@dataclass(frozen=True)
class CompareRow:
    """One backend's answer: ``verdict`` is "ok", "dumps fails", "load fails",
    "worker load fails" or "not installed"."""

    backend: str
    verdict: str
    size: int | None
    dumps_seconds: float | None
    worker: str | None
    worker_load: bool | None
    culprit: str | None  # "path (kind)" of the first culprit of this backend
    note: str = ""


def compare_rows(report: Report) -> list[CompareRow]:
    return [_row(name, result, _first(report, name, result))
            for name, result in report.results.items()]


def _first(report: Report, name: str, result: BackendResult) -> str | None:
    """``path (kind)`` of the backend's first report entry: a library object that holds
    culprits is named as the report names it, not by the first culprit deep inside."""
    entries = entries_for(report, name) if report.culprits else []
    if entries:
        entry = entries[0]
        return f"{entry.path} ({entry.type}, holds {len(entry.culprits)})" if entry.inside \
            else f"{entry.path} ({entry.kind})"
    first = result.culprits[0] if result.culprits else None
    return f"{first.path} ({first.kind})" if first is not None else None


def _row(name: str, result: BackendResult, culprit: str | None) -> CompareRow:
    if not result.available:
        return CompareRow(name, "not installed", None, None, None, None, None,
                          note=result.error or "")
    if result.ok:
        verdict = "ok"
    elif result.stage == "dumps":
        verdict = "dumps fails"
    elif result.stage == "loads":
        verdict = "load fails"
    else:
        verdict = "worker load fails"
    return CompareRow(name, verdict, result.size, result.dumps_seconds, result.worker,
                      result.fresh, culprit)


_HEADER = ("backend", "verdict", "size", "dumps", "worker", "worker load", "first culprit")


def render_compare(report: Report, title: str | None = None) -> str:
    """The rows as a plain-text table, then which backends work and which do not."""
    rows = compare_rows(report)
    cells = [_HEADER] + [_cells(row) for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_HEADER))]
    lines = [title or f"{report.name}: {report.type}", ""]
    for line in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        if line is _HEADER:
            lines.append("-" * len(lines[-1]))
    works = [r.backend for r in rows if r.verdict == "ok"]
    fails = [r.backend for r in rows if r.verdict not in ("ok", "not installed")]
    missing = [r for r in rows if r.verdict == "not installed"]
    lines.append("")
    lines.append("works with: " + (", ".join(works) or "none of them"))
    if fails:
        lines.append("fails with: " + ", ".join(fails))
    for row in missing:
        lines.append(f"not installed: {row.backend} ({_install_words(row.note)})")
    return "\n".join(lines)


def _cells(row: CompareRow) -> tuple[str, ...]:
    if row.verdict == "not installed":
        return (row.backend, "not installed", _size(None), _seconds(None), "-", "-", "-")
    load = "-" if row.worker_load is None else ("ok" if row.worker_load else "FAIL")
    return (row.backend, row.verdict, _size(row.size), _seconds(row.dumps_seconds),
            row.worker or "-", load, row.culprit or "-")


def _install_words(error: str) -> str:
    start, end = error.find("("), error.rfind(")")
    return error[start + 1:end] if 0 <= start < end else error


def _size(size: int | None) -> str:
    """Right-aligned in 9 characters, like the times."""
    if size is None:
        text = "-"
    elif size < 1024:
        text = f"{size} B"
    elif size < 1024 * 1024:
        text = f"{size / 1024:.1f} KiB"
    else:
        text = f"{size / 1024 / 1024:.1f} MiB"
    return text.rjust(9)


def _seconds(seconds: float | None) -> str:
    """Right-aligned in 7 characters, so that a table's width does not follow its times."""
    if seconds is None:
        text = "-"
    elif seconds < 1e-3:
        text = f"{seconds * 1e6:.0f} us"
    elif seconds < 1:
        text = f"{seconds * 1e3:.1f} ms"
    else:
        text = f"{seconds:.2f} s"
    return text.rjust(7)
