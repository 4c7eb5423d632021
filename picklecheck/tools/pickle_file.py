"""Why an existing pickle will not load, found by reading its opcodes, never loading it.

:func:`inspect_file` follows the file's opcodes the way the C loader would
(:mod:`.pickle_scan`), building nothing: nothing in it is executed or imported. It
reports the protocol, the size, how many pickles the file holds, every global the
pickle needs (``module.qualname``, including those built with ``STACK_GLOBAL`` from
strings pushed or memoized before it) and, for each, whether it can be found in this
environment (:mod:`.pickle_resolve`), plus a warning for globals that act on the
system when loaded, once their dotted names are followed
(:mod:`picklecheck.backends.hazards`).

A file ``pickle.load`` would reject whatever its globals are (corrupt, truncated,
not a pickle) raises :class:`PickleFileError` with the byte offset. So does one past
what ``inspect`` reads: :data:`~.pickle_stack.MAX_ITEMS` stack entries and memo
slots at once (8 bytes each, so about 128 MiB), or :data:`~.pickle_scan.MAX_GLOBALS`
distinct globals.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from picklecheck.tools.pickle_resolve import (
    FOUND,
    IMPORT_ERROR,
    MISSING_ATTRIBUTE,
    MISSING_MODULE,
    OK,
    Resolver,
    global_hazard,
)
from picklecheck.tools.pickle_scan import CorruptPickleError, Scan, TooLargeError, diagnose

__all__ = ["GlobalRef", "PickleFileError", "PickleFileReport", "inspect_file",
           "render_pickle_file"]

_FAILED = (MISSING_MODULE, MISSING_ATTRIBUTE, IMPORT_ERROR)

# Globals dill writes and only dill.Unpickler.find_class knows.
_DILL_SPECIALS = frozenset({("__builtin__", "__main__"), ("__builtin__", "NoneType")})


class PickleFileError(Exception):
    """A file that cannot be inspected: missing, empty, corrupt, truncated, not a
    pickle, or too large. ``offset`` is where reading stopped, when it started."""

    exit_code = 2

    def __init__(self, path: str, problem: str, offset: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.offset = offset
        super().__init__(f"{path}: {problem}")

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": False, "error": self.problem, "offset": self.offset}


@dataclass
class GlobalRef:
    """One global a pickle needs, and whether this environment has it."""

    module: str
    name: str
    status: str = FOUND
    detail: str = ""
    count: int = 1
    offset: int = 0
    written_as: str | None = None  # a Python 2 name that loading maps to this one
    hazard: str | None = None
    blocks: bool = False
    resolves_to: str | None = None  # what a dotted name reaches, when it is a hazard

    @property
    def qualified(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def failed(self) -> bool:
        return self.status in _FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module, "name": self.name, "qualified": self.qualified,
            "status": self.status, "ok": not self.failed, "verified": self.status == OK,
            "detail": self.detail, "count": self.count, "offset": self.offset,
            "written_as": self.written_as, "hazard": self.hazard, "blocks": self.blocks,
            "resolves_to": self.resolves_to,
        }


@dataclass
class PickleFileReport:
    """What :func:`inspect_file` found. ``ok`` is true when no needed global is known to
    be missing; ``verified`` when every one was also found attribute and all."""

    path: str
    size: int
    protocol: int
    pickles: int
    globals: list[GlobalRef] = field(default_factory=list)
    imported: bool = False
    dynamic_globals: int = 0
    extensions: list[int] = field(default_factory=list)
    persistent_ids: int = 0
    buffers: int = 0
    py2_bytes: int = 0
    trailing: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(g.failed for g in self.globals)

    @property
    def verified(self) -> bool:
        return all(g.status == OK for g in self.globals) and not self.dynamic_globals

    @property
    def missing(self) -> list[GlobalRef]:
        return [g for g in self.globals if g.failed]

    @property
    def hazards(self) -> list[GlobalRef]:
        return [g for g in self.globals if g.hazard]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "size": self.size, "protocol": self.protocol,
            "pickles": self.pickles, "ok": self.ok, "verified": self.verified,
            "imported": self.imported, "globals": [g.to_dict() for g in self.globals],
            "hazards": [g.qualified for g in self.hazards],
            "dynamic_globals": self.dynamic_globals, "extensions": list(self.extensions),
            "persistent_ids": self.persistent_ids, "out_of_band_buffers": self.buffers,
            "python2_byte_strings": self.py2_bytes, "trailing_bytes": self.trailing,
            "notes": list(self.notes),
        }


def inspect_file(path: str, import_modules: bool = False) -> PickleFileReport:
    """Read ``path``'s opcodes (never loading it) and say what loading it needs.

    Raises :class:`PickleFileError` for a file that is missing, empty, truncated,
    corrupt, not a pickle, or past what ``inspect`` reads.
    """
    with _contents(path) as data:
        scan = Scan(data)
        try:
            scan.run()
        except CorruptPickleError as exc:
            raise PickleFileError(path, diagnose(data, exc), exc.offset) from None
        except TooLargeError as exc:
            raise PickleFileError(path, f"too large to inspect: {exc} (inspect's limit; "
                                  "the file was not read further)", exc.offset) from None
        report = PickleFileReport(
            path=path, size=len(data), protocol=scan.protocol, pickles=scan.pickles,
            imported=import_modules, dynamic_globals=scan.dynamic,
            extensions=sorted(scan.extensions), persistent_ids=scan.persistent_ids,
            buffers=scan.buffers, py2_bytes=scan.py2_bytes, trailing=len(data) - scan.end,
        )
    resolver = Resolver(import_modules)
    dill_file = any(module.split(".")[0] == "dill" for module, _ in scan.globals)
    for needed in scan.globals.values():
        ref = GlobalRef(needed.module, needed.name, count=needed.count, offset=needed.offset,
                        written_as=needed.written_as)
        if dill_file and (ref.module, ref.name) in _DILL_SPECIALS:
            ref.status, ref.detail = OK, "provided by dill's own loader: load the file with dill"
        else:
            ref.status, ref.detail = resolver.resolve(ref.module, ref.name, needed.dotted)
        hazard = global_hazard(ref.module, ref.name, needed.dotted)
        if hazard is not None:
            ref.hazard, ref.blocks = hazard.category, hazard.blocks
            if hazard.qualified != ref.qualified:
                ref.resolves_to = hazard.qualified
        report.globals.append(ref)
    report.notes = _notes(report, scan)
    return report


@contextlib.contextmanager
def _contents(path: str) -> Iterator[Any]:
    """The file's bytes: mapped, not copied, where the system allows it."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below, after the mapping
    except OSError as exc:
        raise PickleFileError(path, f"cannot read it ({exc.strerror or exc})") from exc
    with f:
        mode = os.fstat(f.fileno()).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISDIR(mode):
            raise PickleFileError(path, "cannot read it (not a regular file: a device or folder)")
        try:
            size = os.fstat(f.fileno()).st_size
            data: Any = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
        except (OSError, ValueError):  # a pipe, a special file: read it
            data = None
        if data is None or not data:
            try:
                data = f.read()
            except OSError as exc:
                raise PickleFileError(path, f"cannot read it ({exc.strerror or exc})") from exc
        if not data:
            raise PickleFileError(path, "the file is empty (0 bytes), so it holds no pickle")
        try:
            yield data
        finally:
            if isinstance(data, mmap.mmap):
                data.close()


def _notes(report: PickleFileReport, scan: Scan) -> list[str]:
    notes = []
    if report.pickles > 1:
        notes.append(f"the file holds {report.pickles} pickles one after another "
                     "(pickle.load reads one per call)")
    if report.trailing:
        why = f" (pickle.load would fail {scan.error})" if scan.error else ""
        notes.append(f"{report.trailing:,} bytes after the last pickle are not a pickle{why}; "
                     "pickle.load stops before them")
    if report.dynamic_globals:
        notes.append(f"{report.dynamic_globals} global(s) are named by computed values and "
                     "could not be checked")
    if report.extensions:
        codes = ", ".join(str(c) for c in report.extensions)
        notes.append(f"uses copyreg extension codes {codes}: loading needs them registered")
    if report.buffers:
        notes.append(f"{report.buffers} out-of-band buffer(s) (protocol 5): loading needs "
                     "them passed as pickle.load(..., buffers=...)")
    if report.py2_bytes:
        notes.append(f"{report.py2_bytes} Python 2 byte string(s) with non-ASCII bytes: "
                     "pickle.load needs encoding='latin1' (or 'bytes') to read them")
    if report.persistent_ids:
        notes.append(f"{report.persistent_ids} persistent id(s): loading needs an Unpickler "
                     "with persistent_load (the program that wrote the file provides it)")
    return notes


# -- text ---------------------------------------------------------------------------

def render_pickle_file(report: PickleFileReport) -> str:
    """The report as plain text: summary, globals with verdicts, hazards, notes."""
    from picklecheck.report.render import format_bytes

    count = "1 pickle" if report.pickles == 1 else f"{report.pickles} pickles"
    lines = [f"{os.fspath(report.path)}: pickle protocol {report.protocol}, "
             f"{format_bytes(report.size)}, {count}"]
    if report.hazards:
        names = ", ".join(_shown(g) for g in report.hazards)
        lines.append(f"WARNING: loading it calls {names}")
    if report.missing:
        lines.append(f"FAIL: will not load here: {len(report.missing)} of "
                     f"{len(report.globals)} globals missing")
    elif report.verified:
        lines.append(f"ok: every global it needs is importable ({len(report.globals)})")
    else:
        lines.append(f"ok so far: nothing missing among {len(report.globals)} globals "
                     "(some only found on disk; --import to check them fully)")
    if report.globals:
        lines += ["", "globals:"]
        width = max(len(g.status) for g in report.globals)
        for ref in report.globals:
            status = ref.status.upper() if ref.failed else ref.status
            extra = f"  x{ref.count}" if ref.count > 1 else ""
            written = f"  (written as {ref.written_as})" if ref.written_as else ""
            lines.append(f"  {status.ljust(width)}  {_printable(ref.qualified)}{extra}{written}")
            if ref.detail:
                lines.append(f"  {' ' * width}    {ref.detail}")
    if report.hazards:
        lines += ["", "warning: loading this file calls globals that can act on your system:"]
        for ref in report.hazards:
            lines.append(f"  {_shown(ref)}: {ref.hazard}")
        lines.append("  load it only if you trust where it came from")
    if report.notes:
        lines.append("")
        lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)


def _printable(text: str) -> str:
    """A name as it can be shown: control characters and escapes spelled out, so that
    a crafted name cannot rewrite the terminal."""
    return text if text.isprintable() else repr(text)[1:-1]


def _shown(ref: GlobalRef) -> str:
    name = _printable(ref.qualified)
    return f"{name} (that is, {ref.resolves_to})" if ref.resolves_to else name
