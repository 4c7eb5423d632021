"""Every pickle in a file, read without loading it: which globals it names.

:class:`Scan` runs the pickles of a byte string one after another through
:class:`~.pickle_machine.Machine`, as successive ``pickle.load`` calls on one file
would read them, and collects the globals they name. Nothing is imported or
executed. :func:`diagnose` turns a stream the first pickle of which is corrupt into
one sentence (a gzip file, text, a truncated pickle, a corrupt one and where).
"""

from __future__ import annotations

import _compat_pickle
import pickle
from dataclasses import dataclass
from typing import Any

from picklecheck.tools.pickle_machine import Machine
from picklecheck.tools.pickle_stack import CorruptPickleError, TooLargeError

__all__ = ["MAX_GLOBALS", "CorruptPickleError", "Needed", "Scan", "TooLargeError", "diagnose"]

#: Distinct globals one file may name (a real pickle names at most a few hundred).
MAX_GLOBALS = 20_000

_MAGIC = (
    (b"\x1f\x8b", "a gzip file: decompress it first (gzip.open)"),
    (b"PK\x03\x04", "a zip archive (torch.save and some joblib files are zip archives)"),
    (b"\x93NUMPY", "a NumPy .npy file: load it with numpy.load"),
    (b"BZh", "a bzip2 file: decompress it first (bz2.open)"),
    (b"\xfd7zXZ\x00", "an xz file: decompress it first (lzma.open)"),
    (b"\x28\xb5\x2f\xfd", "a zstandard file: decompress it first"),
    (b"\x89HDF", "an HDF5 file"),
    *((b"\x78" + level, "a zlib stream (joblib.dump(..., compress=...) writes these): load it "
       "with joblib.load, or decompress it first (zlib.decompress)")
      for level in (b"\x01", b"\x5e", b"\x9c", b"\xda")),
)
#: What a file joblib.dump wrote holds: each NumPy array's raw bytes follow its wrapper
#: in the pickle stream, where pickle.load meets them.
_JOBLIB_ARRAY = b"NumpyArrayWrapper"
_PREVIEW = 40


@dataclass
class Needed:
    """A global named in the file: where first, how often, and its Python 2 spelling."""

    module: str
    name: str
    offset: int
    count: int = 1
    written_as: str | None = None
    dotted: bool = True  # protocol 4+ loaders follow a dotted name; older ones do not


class Scan:
    """Every pickle in a byte string, one after another, as successive
    ``pickle.load`` calls on one file would read them."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self.pickles = 0
        self.protocol = 0
        self.end = 0
        self.dynamic = 0
        self.persistent_ids = 0
        self.buffers = 0
        self.py2_bytes = 0
        self.extensions: set[int] = set()
        self.globals: dict[tuple[str, str], Needed] = {}
        self.error: CorruptPickleError | None = None  # what stopped the bytes after the last pickle
        self._pending: dict[tuple[str, str], Needed] = {}

    def run(self) -> None:
        """Raises :class:`CorruptPickleError` when the first pickle is; bytes after a good pickle
        that are not one are kept in ``error`` (``pickle.load`` never reads them)."""
        pos = 0
        while pos < len(self.data):
            machine = Machine(self, self.data)
            self._pending = {}
            try:
                end = machine.run(pos)
            except CorruptPickleError as exc:
                if self.pickles == 0:
                    raise
                self.error = exc
                return
            self._keep()
            self.pickles += 1
            declared = machine.declared
            self.protocol = max(self.protocol,
                                declared if declared is not None else machine.needed)
            self.end = pos = end

    def add(self, module: str, name: str, offset: int, proto: int) -> None:
        """A global the pickle being read names (kept if that pickle turns out whole)."""
        written = None
        if proto < 3:  # the loader maps Python 2 names (fix_imports), so the check must too
            mapped = _compat_pickle.NAME_MAPPING.get((module, name))
            if mapped is None and module in _compat_pickle.IMPORT_MAPPING:
                mapped = (_compat_pickle.IMPORT_MAPPING[module], name)
            if mapped is not None and mapped != (module, name):
                written = f"{module}.{name}"
                module, name = mapped
        ref = self._pending.get((module, name))
        if ref is not None:
            ref.count += 1
            return
        if len(self._pending) + len(self.globals) >= MAX_GLOBALS:
            raise TooLargeError(offset, f"more than {MAX_GLOBALS:,} distinct globals")
        self._pending[(module, name)] = Needed(module, name, offset, written_as=written,
                                               dotted=proto >= 4)

    def _keep(self) -> None:
        for key, ref in self._pending.items():
            kept = self.globals.get(key)
            if kept is None:
                self.globals[key] = ref
            else:
                kept.count += ref.count


def diagnose(data: Any, error: CorruptPickleError) -> str:
    """One sentence on a file whose first pickle ``pickle.load`` would reject."""
    head = bytes(data[:8])
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"not a pickle: it is {what}"
    where = f"pickle.load would fail {error}"
    if head[:1] == b"\x80" and len(head) > 1:
        proto = head[1]
        if proto > pickle.HIGHEST_PROTOCOL:
            return (f"a pickle of protocol {proto}, which this Python cannot read (it reads "
                    f"protocols 0 to {pickle.HIGHEST_PROTOCOL}); {where}")
        if error.truncated:
            return (f"a truncated pickle (protocol {proto}): the data ends before the pickle "
                    f"does ({len(data):,} bytes; {where})")
        if _JOBLIB_ARRAY in bytes(data[:error.offset + 1]):
            return ("a joblib file (joblib.dump): it writes each NumPy array's raw bytes "
                    "after its NumpyArrayWrapper, where pickle.load cannot read them; load it "
                    f"with joblib.load ({where})")
        return f"a corrupt pickle (protocol {proto}): {where}"
    if _looks_like_text(data):
        sample = bytes(data[:_PREVIEW]).decode("utf-8", "replace")
        preview = sample.splitlines()[0] if sample.strip() else ""
        return (f"not a pickle: it looks like text ({preview!r}...); read as a protocol 0 "
                f"pickle, {where}")
    if error.offset == 0 and error.opname.startswith("byte "):
        return f"not a pickle: its first byte 0x{head[0]:02x} is not a pickle opcode"
    if error.truncated:
        return f"not a pickle, or a truncated one of protocol 0 or 1: {where}"
    return f"not a pickle, or a corrupt one of protocol 0 or 1: {where}"


def _looks_like_text(data: Any) -> bool:
    sample = bytes(data[:4096])
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text)
