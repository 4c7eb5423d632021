"""A diagnosis of a failed job: what the user passed, which parts of it do not pickle, why.

:class:`Diagnosis` is plain data with its renderings: plain text (``str``), HTML for
notebooks (``_repr_html_``) and the short note attached to the exception (one culprit
path a line). It is built by checking the user's parts of the payload
(:mod:`~picklecheck.integrations.unwrap`) together, with the framework's serializer,
and rooting every culprit path at the part's label.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from picklecheck.model import Culprit, Report, Within, format_path

__all__ = ["Diagnosis", "check_parts"]

NOTE_CULPRITS = 10


@dataclass
class Diagnosis:
    """Why a job failed to serialize, in the user's terms.

    ``report`` is None when nothing could be checked; then ``reason`` says why. When the
    parts pickle now (``report.ok``), ``reason`` says the failure could not be reproduced.
    """

    framework: str
    call: str
    backend: str
    error: str = ""
    report: Report | None = None
    reason: str | None = None
    notes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    how: str = ""  # how the framework serializes, in words
    verb: str = "could not send what it was given"

    @property
    def culprits(self) -> list[Culprit]:
        return list(self.report.culprits) if self.report is not None else []

    def headline(self) -> str:
        if not self.culprits:
            if not self.call:
                return f"picklecheck: no diagnosis: {self.reason}"
            return f"picklecheck: {self.call} failed to serialize what it was given: {self.reason}"
        n = len(self.culprits)
        count = f"{n} culprit{'s' if n != 1 else ''}"
        if self.framework in ("pickle", "dill", "cloudpickle"):
            return f"picklecheck: {self.call} failed: {count}"
        what = f" ({self.how})" if self.how else ""
        return f"picklecheck: {self.call} {self.verb}{what}: {count}"

    def note(self) -> str:
        """The short version attached with ``add_note``: one entry path a line."""
        from picklecheck.report.render import entries_for, plural

        lines = [self.headline()]
        entries = entries_for(self.report) if self.report is not None else []
        for entry in entries[:NOTE_CULPRITS]:
            first = entry.first
            what = (f"{plural(len(entry.culprits), 'culprit')} inside" if entry.inside
                    else f"{first.exception}: {_one_line(first.reason, 100)}")
            lines.append(f"  {entry.path}  ({entry.type}): {what}")
        if len(entries) > NOTE_CULPRITS:
            lines.append(f"  ... and {len(entries) - NOTE_CULPRITS} more")
        lines += [f"  {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        from picklecheck.report.render import entries_for, entry_lines

        lines = [self.headline()]
        if self.error:
            lines.append(f"  error: {_one_line(self.error, 200)}")
        for entry in entries_for(self.report) if self.report is not None else []:
            lines += entry_lines(entry, backends=False)
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<Diagnosis {self.call!r}: {len(self.culprits)} culprit(s)>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display: the whole diagnosis, not the short repr."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        """A notebook's rendering: the headline, then a table of culprits."""
        rows = "".join(
            "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                html.escape(c.path), html.escape(c.type),
                html.escape(f"{c.exception}: {c.reason}"), html.escape(c.hint))
            for c in self.culprits)
        parts = [f"<p><b>{html.escape(self.headline())}</b></p>"]
        if rows:
            parts.append("<table><thead><tr><th>path</th><th>type</th><th>cause</th>"
                         f"<th>hint</th></tr></thead><tbody>{rows}</tbody></table>")
        parts += [f"<p>{html.escape(note)}</p>" for note in self.notes]
        return f'<div class="picklecheck-diagnosis">{"".join(parts)}</div>'

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "call": self.call, "backend": self.backend,
                "error": self.error, "reason": self.reason, "notes": list(self.notes),
                "culprits": [c.to_dict() for c in self.culprits]}


def _one_line(text: str, size: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= size else text[: size - 3] + "..."


def unique_labels(labels: list[str]) -> list[str]:
    """The labels, with ``#2``, ``#3`` ... added where two parts share one."""
    seen: dict[str, int] = {}
    out: list[str] = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label}#{seen[label]}")
    return out


def check_parts(parts: dict[str, Any], backend: str, max_culprits: int = 100) -> Report:
    """Check the parts together (one memo, as the framework pickles them) with ``backend``,
    and root each culprit's path at its part's label instead of the container's."""
    from picklecheck.engine.check import check
    from picklecheck.engine.group import entries

    if len(parts) == 1:
        # One part is checked as itself: what the framework judges by the whole of what
        # it sends (Ray's limit on a remote function's size) is judged on it
        [(label, value)] = parts.items()
        report = check(value, backends=(backend,), roundtrip=False, name=label,
                       max_culprits=max_culprits)
        for place in _places(report):
            place.evaluable = place.evaluable and label.isidentifier()
        return report
    report = check(parts, backends=(backend,), roundtrip=False, name="parts",
                   max_culprits=max_culprits)
    for place in _places(report):
        _reroot(place)
    report.entries = entries(report.culprits, report.expanded)
    return report


def _places(report: Report) -> list[Culprit | Within]:
    """The report's culprits, and each library object they are within, once."""
    withins = {id(c.within): c.within for c in report.culprits if c.within is not None}
    return [*report.culprits, *withins.values()]


def _reroot(culprit: Culprit | Within) -> None:
    steps = culprit.steps
    if not steps or steps[0].kind != "item":
        return
    label = str(steps[0].value)
    culprit.steps = steps[1:]
    culprit.path = format_path(label, culprit.steps)
    culprit.evaluable = culprit.evaluable and label.isidentifier()
