"""The opcodes of a pickle file, read without loading it: which globals it names.

:class:`Scan` walks every pickle in a byte string with :func:`pickletools.genops` and a
simulated stack that keeps only strings, so that ``STACK_GLOBAL`` (protocol 4 and
later) is resolved from the strings pushed or memoized before it, as the unpickler
would. Nothing is imported or executed.
"""

from __future__ import annotations

import _compat_pickle
import io
import pickle
import pickletools
from dataclasses import dataclass
from typing import Any

__all__ = ["Needed", "Scan", "UnreadableError", "diagnose"]

_STRING_OPS = frozenset({
    "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
    "STRING", "BINSTRING", "SHORT_BINSTRING",
})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_MAGIC = (
    (b"\x1f\x8b", "a gzip file: decompress it first (gzip.open)"),
    (b"PK\x03\x04", "a zip archive (torch.save and some joblib files are zip archives)"),
    (b"\x93NUMPY", "a NumPy .npy file: load it with numpy.load"),
    (b"BZh", "a bzip2 file: decompress it first (bz2.open)"),
    (b"\xfd7zXZ\x00", "an xz file: decompress it first (lzma.open)"),
    (b"\x28\xb5\x2f\xfd", "a zstandard file: decompress it first"),
    (b"\x89HDF", "an HDF5 file"),
)
_PREVIEW = 40


@dataclass
class Needed:
    """A global named in the file: where first, how often, and its Python 2 spelling."""

    module: str
    name: str
    offset: int
    count: int = 1
    written_as: str | None = None


class UnreadableError(Exception):
    """The opcodes stop making sense (pickletools' message)."""


class _Mark:
    """The MARK opcode's place on the simulated stack."""


_MARK = _Mark()


class Scan:
    """A simulated unpickler stack that keeps only strings (for STACK_GLOBAL)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pickles = 0
        self.protocol = 0
        self.end = 0
        self.dynamic = 0
        self.persistent_ids = 0
        self.extensions: set[int] = set()
        self.globals: dict[tuple[str, str], Needed] = {}
        self.error: str | None = None

    def run(self) -> None:
        stream = io.BytesIO(self.data)
        while stream.tell() < len(self.data):
            start = stream.tell()
            try:
                self._one(stream)
            except (ValueError, IndexError, KeyError) as exc:
                if self.pickles == 0:
                    raise UnreadableError(str(exc)) from None
                self.error = str(exc)  # trailing bytes after good pickles
                stream.seek(start)
                return
            self.pickles += 1
            self.end = stream.tell()

    def _one(self, stream: io.BytesIO) -> None:
        stack: list[Any] = []
        memo: dict[int, Any] = {}
        declared: int | None = None
        needed = 0
        stopped = False
        for op, arg, maybe_pos in pickletools.genops(stream):
            pos = maybe_pos or 0
            value: Any = arg
            needed = max(needed, op.proto)
            name = op.name
            if name == "PROTO":
                declared = int(value)
            elif name == "STOP":
                stopped = True
            elif name in ("GLOBAL", "INST"):
                module, _, qualname = str(arg).partition(" ")
                self._add(module, qualname, pos, declared or needed)
            elif name == "STACK_GLOBAL":
                top = stack.pop() if stack else None
                below = stack.pop() if stack else None
                if isinstance(below, str) and isinstance(top, str):
                    self._add(below, top, pos, declared or needed)
                else:
                    self.dynamic += 1
                stack.append(None)
                continue
            elif name in ("EXT1", "EXT2", "EXT4"):
                self.extensions.add(int(value))
            elif name in ("PERSID", "BINPERSID"):
                self.persistent_ids += 1
            self._effect(op, arg, stack, memo)
        if not stopped:
            raise ValueError("the pickle ends before its STOP opcode")
        proto = declared if declared is not None else needed
        self.protocol = max(self.protocol, proto)

    def _effect(self, op: Any, arg: Any, stack: list[Any], memo: dict[int, Any]) -> None:
        name = op.name
        if name in _PUT_OPS:
            memo[arg] = stack[-1] if stack else None
            return
        if name == "MEMOIZE":
            memo[len(memo)] = stack[-1] if stack else None
            return
        for item in reversed(op.stack_before):
            if item is pickletools.stackslice:
                while stack and stack[-1] is not _MARK:
                    stack.pop()
            elif stack:
                stack.pop()
        if name == "MARK":
            stack.append(_MARK)
        elif name in _STRING_OPS:
            stack.append(arg if isinstance(arg, str) else None)
        elif name in _GET_OPS:
            stack.append(memo.get(arg))
        else:
            stack.extend(None for _ in op.stack_after)

    def _add(self, module: str, qualname: str, pos: int, proto: int) -> None:
        written = None
        if proto < 3:  # loading maps Python 2 names (fix_imports), so the check must too
            mapped = _compat_pickle.NAME_MAPPING.get((module, qualname))
            if mapped is None and module in _compat_pickle.IMPORT_MAPPING:
                mapped = (_compat_pickle.IMPORT_MAPPING[module], qualname)
            if mapped is not None and mapped != (module, qualname):
                written = f"{module}.{qualname}"
                module, qualname = mapped
        ref = self.globals.get((module, qualname))
        if ref is None:
            self.globals[(module, qualname)] = Needed(module, qualname, pos, written_as=written)
        else:
            ref.count += 1


def diagnose(data: bytes, scan: Scan, error: str) -> str:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return f"not a pickle: it is {what}"
    if data[0] == 0x80 and len(data) > 1 and 2 <= data[1] <= pickle.HIGHEST_PROTOCOL:
        if "STOP" in error or "not enough data" in error or "truncated" in error:
            return (f"a truncated pickle (protocol {data[1]}): the data ends before the pickle "
                    f"does ({len(data)} bytes; {error})")
        return f"a corrupt pickle (protocol {data[1]}): {error}"
    if _looks_like_text(data):
        preview = data[:_PREVIEW].decode("utf-8", "replace").splitlines()[0] if data.strip() else ""
        return f"not a pickle: it looks like text ({preview!r}...)"
    return f"not a pickle: {error}"


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return sum(ch.isprintable() or ch in "\r\n\t" for ch in text) >= 0.95 * len(text)
