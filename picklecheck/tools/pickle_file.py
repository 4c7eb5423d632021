"""Why an existing pickle will not load, found by reading its opcodes, never loading it.

:func:`inspect_file` reads a file with :func:`pickletools.genops` only: nothing in it
is executed or imported. It reports the protocol, the size, how many pickles the file
holds, every global the pickle needs (``module.qualname``, including those built with
``STACK_GLOBAL`` from strings pushed or memoized before it) and, for each, whether it
can be found in this environment, plus a warning for globals that run code on load
(see :mod:`picklecheck.hazards`).

By default no module is imported: a module already in ``sys.modules`` is checked for
the attribute; any other module is only looked for on disk (package by package, without
running any ``__init__``), so its attribute stays unchecked. ``import_modules=True``
imports each module (which runs its code) and checks every attribute.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from picklecheck.backends.hazards import find_hazard
from picklecheck.tools.pickle_scan import Scan, UnreadableError, diagnose

__all__ = ["GlobalRef", "PickleFileError", "PickleFileReport", "inspect_file",
           "render_pickle_file"]

# Resolution of one global.
OK, FOUND, MISSING_MODULE, MISSING_ATTRIBUTE, IMPORT_ERROR = (
    "ok", "found", "missing module", "missing attribute", "import error")
_FAILED = (MISSING_MODULE, MISSING_ATTRIBUTE, IMPORT_ERROR)

# Globals dill writes and only dill.Unpickler.find_class knows.
_DILL_SPECIALS = frozenset({("__builtin__", "__main__"), ("__builtin__", "NoneType")})


class PickleFileError(Exception):
    """A file that cannot be inspected: missing, empty, corrupt, truncated, not a pickle."""

    exit_code = 2

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


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
            "persistent_ids": self.persistent_ids, "trailing_bytes": self.trailing,
            "notes": list(self.notes),
        }


def inspect_file(path: str, import_modules: bool = False) -> PickleFileReport:
    """Read ``path``'s opcodes (never loading it) and say what loading it needs.

    Raises :class:`PickleFileError` for a file that is missing, empty, truncated,
    corrupt or not a pickle.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise PickleFileError(path, f"cannot read it ({exc.strerror or exc})") from exc
    if not data:
        raise PickleFileError(path, "the file is empty (0 bytes), so it holds no pickle")
    scan = Scan(data)
    try:
        scan.run()
    except UnreadableError as exc:
        raise PickleFileError(path, diagnose(data, scan, str(exc))) from None
    report = PickleFileReport(
        path=path, size=len(data), protocol=scan.protocol, pickles=scan.pickles,
        imported=import_modules, dynamic_globals=scan.dynamic,
        extensions=sorted(scan.extensions), persistent_ids=scan.persistent_ids,
        trailing=len(data) - scan.end,
    )
    dill_file = any(module.split(".")[0] == "dill" for module, _ in scan.globals)
    for needed in scan.globals.values():
        ref = GlobalRef(needed.module, needed.name, count=needed.count, offset=needed.offset,
                        written_as=needed.written_as)
        if dill_file and (ref.module, ref.name) in _DILL_SPECIALS:
            ref.status, ref.detail = OK, "provided by dill's own loader: load the file with dill"
        else:
            _resolve(ref, import_modules)
        hazard = find_hazard(ref.module, ref.name)
        if hazard is not None:
            ref.hazard, ref.blocks = hazard.category, hazard.blocks
        report.globals.append(ref)
    report.notes = _notes(report, scan)
    return report


# -- can this environment provide each global? --------------------------------------

def _resolve(ref: GlobalRef, import_modules: bool) -> None:
    module = sys.modules.get(ref.module)
    if module is None and import_modules:
        try:
            module = importlib.import_module(ref.module)
        except ModuleNotFoundError as exc:
            ref.status, ref.detail = MISSING_MODULE, _missing_module(ref.module, exc.name)
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - the user's module failed to import
            ref.status = IMPORT_ERROR
            ref.detail = f"importing {ref.module} raised {type(exc).__name__}: {exc}"
            return
    if module is None:
        _find_on_disk(ref)
        return
    _check_attribute(ref, module)


def _find_on_disk(ref: GlobalRef) -> None:
    """Look for the module file without running any package's ``__init__``."""
    parts = ref.module.split(".")
    spec = None
    for i in range(len(parts)):
        prefix = ".".join(parts[: i + 1])
        if prefix in sys.modules:
            spec = getattr(sys.modules[prefix], "__spec__", None)
            continue
        try:
            if spec is None:
                spec = importlib.util.find_spec(prefix)
            else:
                locations = spec.submodule_search_locations
                spec = (importlib.machinery.PathFinder.find_spec(prefix, list(locations))
                        if locations else None)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            ref.status = MISSING_MODULE
            ref.detail = _missing_module(ref.module, prefix)
            if i:  # a package can create submodules in its __init__, which was not run
                ref.detail += f" (not on disk under {'.'.join(parts[:i])}; --import to be sure)"
            return
    ref.status = FOUND
    ref.detail = f"module {ref.module} found, not imported; attribute not checked (--import)"


def _check_attribute(ref: GlobalRef, module: Any) -> None:
    import inspect

    value: Any = module
    for part in ref.name.split("."):
        try:
            value = inspect.getattr_static(value, part)
        except AttributeError:
            ref.status = MISSING_ATTRIBUTE
            ref.detail = _missing_attribute(ref, module, part)
            return
    ref.status = OK
    ref.detail = ""


def _missing_module(module: str, missing: str | None) -> str:
    missing = missing or module
    text = f"No module named {missing!r}"
    if "." not in missing:
        names = _top_level_names()
        close = difflib.get_close_matches(missing, names, n=3, cutoff=0.75)
        if close:
            text += f" (did you mean {', '.join(close)}?)"
    if module != missing:
        text += f", needed for {module}"
    return text + "; install it, or add the directory that holds it to sys.path"


def _top_level_names() -> list[str]:
    import pkgutil

    return sorted({m.name for m in pkgutil.iter_modules()} | set(sys.builtin_module_names))


def _missing_attribute(ref: GlobalRef, module: Any, part: str) -> str:
    where = f"<module {ref.module!r}>"
    text = f"Can't get attribute {ref.name!r} on {where}"
    try:
        names = [n for n in vars(module) if not n.startswith("__")]
    except TypeError:
        names = []
    close = difflib.get_close_matches(part, names, n=3, cutoff=0.75)
    if close:
        text += f" (did you mean {', '.join(close)}?)"
    if ref.module == "__main__":
        text += ("; it was defined in the script that wrote the file: load it from that "
                 "script, or move the class into a module both sides import")
    else:
        text += "; it was renamed or removed since the file was written"
    return text


def _notes(report: PickleFileReport, scan: Scan) -> list[str]:
    notes = []
    if report.pickles > 1:
        notes.append(f"the file holds {report.pickles} pickles one after another "
                     "(pickle.load reads one per call)")
    if report.trailing:
        notes.append(f"{report.trailing} bytes after the last pickle are not a pickle "
                     f"({scan.error}); pickle.load ignores them")
    if report.dynamic_globals:
        notes.append(f"{report.dynamic_globals} global(s) are named by computed values and "
                     "could not be checked")
    if report.extensions:
        codes = ", ".join(str(c) for c in report.extensions)
        notes.append(f"uses copyreg extension codes {codes}: loading needs them registered")
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
        names = ", ".join(g.qualified for g in report.hazards)
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
            lines.append(f"  {status.ljust(width)}  {ref.qualified}{extra}{written}")
            if ref.detail:
                lines.append(f"  {' ' * width}    {ref.detail}")
    if report.hazards:
        lines += ["", "warning: loading this file calls globals that can act on your system:"]
        for ref in report.hazards:
            lines.append(f"  {ref.qualified}: {ref.hazard}")
        lines.append("  load it only if you trust where it came from")
    if report.notes:
        lines.append("")
        lines += [f"note: {note}" for note in report.notes]
    return "\n".join(lines)
