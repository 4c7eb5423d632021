"""Reading one opcode's argument the way the C unpickler (``pickle.load``) reads it.

:mod:`pickletools` is a disassembler, not the loader: it reads ``GLOBAL`` names as
escaped ASCII (the loader reads UTF-8), a ``BINSTRING`` length as signed (the loader:
unsigned), and says nothing about memo slots or marks. These readers follow
``Modules/_pickle.c`` instead, so that what :mod:`.pickle_scan` calls corrupt is what
``pickle.load`` rejects. Each reader takes the data and the position after the
opcode byte and returns ``(argument, next position)``; a stream that ends early
raises :class:`TruncatedError`, a malformed argument :class:`MalformedError`.

Nothing here builds the objects a pickle describes: strings are decoded only to
validate them (and to name globals), everything else is skipped over.
"""

from __future__ import annotations

import codecs
import re
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["OPS", "MalformedError", "Op", "TruncatedError", "read_text"]

Data = Any  # bytes or mmap: anything with len(), slicing and find()
Reader = Callable[[Data, int], "tuple[Any, int]"]


class TruncatedError(Exception):
    """The data ends inside an opcode's argument ("pickle data was truncated")."""


class MalformedError(Exception):
    """An argument ``pickle.load`` refuses (a bad number, an unquoted STRING, ...)."""


def _take(data: Data, pos: int, n: int) -> tuple[bytes, int]:
    end = pos + n
    if end > len(data):
        raise TruncatedError(f"needs {n:,} bytes, {max(len(data) - pos, 0):,} left")
    return bytes(data[pos:end]), end


def _uint(n: int) -> Reader:
    def read(data: Data, pos: int) -> tuple[int, int]:
        raw, end = _take(data, pos, n)
        return int.from_bytes(raw, "little"), end
    return read


def _int4(data: Data, pos: int) -> tuple[int, int]:
    raw, end = _take(data, pos, 4)
    return int.from_bytes(raw, "little", signed=True), end


def _line(data: Data, pos: int) -> tuple[bytes, int]:
    """Up to the newline, which the loader requires (the line excludes it)."""
    end = data.find(b"\n", pos)
    if end < 0:
        raise TruncatedError("a text argument has no closing newline")
    return bytes(data[pos:end]), end + 1


def _nonempty_line(data: Data, pos: int) -> tuple[bytes, int]:
    line, end = _line(data, pos)
    if not line:
        raise TruncatedError("an empty text argument (the loader reads it as truncated data)")
    return line, end


def _counted(size_reader: Reader, signed_error: str | None = None) -> Reader:
    """A length, then that many bytes: returned as ``(start, length)``, not copied."""
    def read(data: Data, pos: int) -> tuple[tuple[int, int], int]:
        length, start = size_reader(data, pos)
        if length < 0:
            raise MalformedError(signed_error or "negative length")
        if start + length > len(data):
            raise TruncatedError(f"needs {length:,} bytes, {max(len(data) - start, 0):,} left")
        return (start, length), start + length
    return read


def _c_text(line: bytes) -> str:
    """A text argument as C's string functions see it: up to the first NUL."""
    return line.split(b"\0", 1)[0].decode("latin-1")


_STRTOL = re.compile(r"\s*[+-]?(0[xX][0-9a-fA-F]+|[0-9]+)\Z")


def _int_line(data: Data, pos: int) -> tuple[int, int]:
    """INT: C's strtol (base 0, so "010" is 8), then a Python int literal."""
    line, end = _nonempty_line(data, pos)
    text = _c_text(line)
    if _STRTOL.match(text):
        return 0, end
    try:
        return int(text, 0), end
    except ValueError:
        raise MalformedError(f"INT argument {text[:40]!r} is not a number") from None


def _long_line(data: Data, pos: int) -> tuple[int, int]:
    line, end = _nonempty_line(data, pos)
    text = _c_text(line[:-1] if line.endswith(b"L") else line)
    try:
        return int(text, 0), end
    except ValueError:
        raise MalformedError(f"LONG argument {text[:40]!r} is not a number") from None


def _float_line(data: Data, pos: int) -> tuple[float, int]:
    line, end = _nonempty_line(data, pos)
    text = _c_text(line)
    try:
        return float(text), end
    except ValueError:
        raise MalformedError(f"FLOAT argument {text[:40]!r} is not a number") from None


def _memo_line(data: Data, pos: int) -> tuple[int, int]:
    """GET and PUT: a decimal memo index."""
    line, end = _nonempty_line(data, pos)
    text = _c_text(line)
    try:
        return int(text, 10), end
    except ValueError:
        raise MalformedError(f"memo index {text[:40]!r} is not a number") from None


def _quoted_line(data: Data, pos: int) -> tuple[tuple[int, int], int]:
    """STRING: a quoted, escaped literal; returned as where its text lies."""
    line, end = _line(data, pos)
    if len(line) < 2 or line[0] != line[-1] or line[:1] not in (b"'", b'"'):
        raise MalformedError("the STRING opcode argument must be quoted")
    try:
        _unescape(line[1:-1])
    except ValueError as exc:
        raise MalformedError(f"STRING argument: {exc}") from None
    return (pos, len(line)), end


def _unescape(text: bytes) -> bytes:
    """A Python 2 ``repr`` string's bytes (newer Pythons warn about odd escapes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return codecs.escape_decode(text)[0]


def _unicode_line(data: Data, pos: int) -> tuple[tuple[int, int], int]:
    line, end = _line(data, pos)
    try:
        line.decode("raw-unicode-escape")
    except UnicodeDecodeError as exc:
        raise MalformedError(f"UNICODE argument: {exc.reason}") from None
    return (pos, len(line)), end


def _utf8(size_reader: Reader) -> Reader:
    counted = _counted(size_reader)

    def read(data: Data, pos: int) -> tuple[tuple[int, int], int]:
        (start, length), end = counted(data, pos)
        try:
            bytes(data[start:end]).decode("utf-8", "surrogatepass")
        except UnicodeDecodeError as exc:
            raise MalformedError(f"a string that is not UTF-8 ({exc.reason} at byte "
                            f"{start + exc.start:,})") from None
        return (start, length), end
    return read


def _name_pair(encoding: str) -> Reader:
    """GLOBAL (UTF-8) and INST (ASCII): two lines, module and name."""
    def read(data: Data, pos: int) -> tuple[tuple[str, str], int]:
        module, mid = _nonempty_line(data, pos)
        name, end = _nonempty_line(data, mid)
        try:
            return (module.decode(encoding), name.decode(encoding)), end
        except UnicodeDecodeError:
            shown = (module + b" " + name)[:60]
            raise MalformedError(f"the global name {shown!r} is not {encoding.upper()} text "
                            "(no module can have this name)") from None
    return read


def read_text(data: Data, code: int, where: tuple[int, int]) -> str:
    """The value of a string literal that ``where`` locates (validated when read)."""
    start, length = where
    raw = bytes(data[start:start + length])
    if code in _UTF8_STRINGS:
        return raw.decode("utf-8", "surrogatepass")
    if code == 0x56:  # UNICODE
        return raw.decode("raw-unicode-escape")
    if code == 0x53:  # STRING: quoted and escaped
        raw = _unescape(raw[1:-1])
    return raw.decode("latin-1")  # Python 2 str: ASCII by default when loading


class Op:
    """One opcode: its name, how to read its argument, the protocol that added it."""

    __slots__ = ("code", "name", "read", "proto")

    def __init__(self, code: int, name: str, read: Reader | None, proto: int) -> None:
        self.code = code
        self.name = name
        self.read = read
        self.proto = proto


_u1, _u2, _u4, _u8 = _uint(1), _uint(2), _uint(4), _uint(8)
_UTF8_STRINGS = frozenset({0x8C, 0x58, 0x8D})  # SHORT_BINUNICODE, BINUNICODE, BINUNICODE8

_TABLE: list[tuple[str, str, Reader | None, int]] = [
    ("I", "INT", _int_line, 0), ("J", "BININT", _int4, 1), ("K", "BININT1", _u1, 1),
    ("M", "BININT2", _u2, 1), ("L", "LONG", _long_line, 0),
    ("\x8a", "LONG1", _counted(_u1), 2),
    ("\x8b", "LONG4", _counted(_int4, "LONG pickle has negative byte count"), 2),
    ("S", "STRING", _quoted_line, 0), ("T", "BINSTRING", _counted(_u4), 1),
    ("U", "SHORT_BINSTRING", _counted(_u1), 1), ("B", "BINBYTES", _counted(_u4), 3),
    ("C", "SHORT_BINBYTES", _counted(_u1), 3), ("\x8e", "BINBYTES8", _counted(_u8), 4),
    ("\x96", "BYTEARRAY8", _counted(_u8), 5), ("\x97", "NEXT_BUFFER", None, 5),
    ("\x98", "READONLY_BUFFER", None, 5), ("N", "NONE", None, 0),
    ("\x88", "NEWTRUE", None, 2), ("\x89", "NEWFALSE", None, 2),
    ("V", "UNICODE", _unicode_line, 0), ("\x8c", "SHORT_BINUNICODE", _utf8(_u1), 4),
    ("X", "BINUNICODE", _utf8(_u4), 1), ("\x8d", "BINUNICODE8", _utf8(_u8), 4),
    ("F", "FLOAT", _float_line, 0), ("G", "BINFLOAT", _uint(8), 1),
    ("]", "EMPTY_LIST", None, 1), ("a", "APPEND", None, 0), ("e", "APPENDS", None, 1),
    ("l", "LIST", None, 0), (")", "EMPTY_TUPLE", None, 1), ("t", "TUPLE", None, 0),
    ("\x85", "TUPLE1", None, 2), ("\x86", "TUPLE2", None, 2), ("\x87", "TUPLE3", None, 2),
    ("}", "EMPTY_DICT", None, 1), ("d", "DICT", None, 0), ("s", "SETITEM", None, 0),
    ("u", "SETITEMS", None, 1), ("\x8f", "EMPTY_SET", None, 4),
    ("\x90", "ADDITEMS", None, 4), ("\x91", "FROZENSET", None, 4), ("0", "POP", None, 0),
    ("2", "DUP", None, 0), ("(", "MARK", None, 0), ("1", "POP_MARK", None, 1),
    ("g", "GET", _memo_line, 0), ("h", "BINGET", _u1, 1), ("j", "LONG_BINGET", _u4, 1),
    ("p", "PUT", _memo_line, 0), ("q", "BINPUT", _u1, 1), ("r", "LONG_BINPUT", _u4, 1),
    ("\x94", "MEMOIZE", None, 4), ("\x82", "EXT1", _u1, 2), ("\x83", "EXT2", _u2, 2),
    ("\x84", "EXT4", _int4, 2), ("c", "GLOBAL", _name_pair("utf-8"), 0),
    ("\x93", "STACK_GLOBAL", None, 4), ("R", "REDUCE", None, 0), ("b", "BUILD", None, 0),
    ("i", "INST", _name_pair("ascii"), 0), ("o", "OBJ", None, 1),
    ("\x81", "NEWOBJ", None, 2), ("\x92", "NEWOBJ_EX", None, 4), ("\x80", "PROTO", _u1, 2),
    (".", "STOP", None, 0), ("\x95", "FRAME", _u8, 4), ("P", "PERSID", _line, 0),
    ("Q", "BINPERSID", None, 1),
]

#: Every opcode the loader knows, by its byte.
OPS: dict[int, Op] = {ord(c): Op(ord(c), name, read, proto) for c, name, read, proto in _TABLE}
