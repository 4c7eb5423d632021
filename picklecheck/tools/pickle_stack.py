"""What the C loader's stack, marks and memo hold while a pickle is read, as kinds.

A stack entry or memo slot is one 8-byte integer: the *kind* of object (``LIST``,
``STR``, ``ANY`` for whatever a global or a reduce returned, ...) in the low bits and,
for a string, the offset of the opcode that holds its literal above them. So memory
stays proportional to the file and small (8 bytes per entry, never an object), and a
string is decoded again only when ``STACK_GLOBAL`` needs its text. Past
:data:`MAX_ITEMS` entries at once reading stops with :class:`TooLargeError`.
"""

from __future__ import annotations

from array import array
from typing import Any

__all__ = ["MAX_ITEMS", "CorruptPickleError", "Stack", "TooLargeError"]

#: Stack entries plus memo slots one pickle may hold while it is read (8 bytes each).
MAX_ITEMS = 16_000_000

# What an object on the stack is known to be.  ANY: whatever a global, a reduce or a
# persistent id returned; GLOBAL: what find_class returned.
(ANY, GLOBAL, NONE, BOOL, INT, FLOAT, STR, BYTES, LIST, DICT, TUPLE, SET, FROZENSET,
 BYTEARRAY) = range(1, 15)
KIND_NAMES = {NONE: "None", BOOL: "bool", INT: "int", FLOAT: "float", STR: "str",
               BYTES: "bytes", LIST: "list", DICT: "dict", TUPLE: "tuple", SET: "set",
               FROZENSET: "frozenset", BYTEARRAY: "bytearray"}
BUILTIN = frozenset(KIND_NAMES)
NOT_CALLABLE = BUILTIN
NO_APPEND = BUILTIN - {LIST, BYTEARRAY}  # no extend() and no append()
NO_SETITEM = BUILTIN - {LIST, DICT, BYTEARRAY}
NO_ADD = BUILTIN - {SET}
UNHASHABLE = frozenset({LIST, DICT, SET, BYTEARRAY})
NO_BUFFER = BUILTIN - {BYTES, BYTEARRAY}
SHIFT = 5  # a stack entry is kind | (offset of the string literal's opcode << SHIFT)
class CorruptPickleError(Exception):
    """``pickle.load`` would reject the stream here, whatever its globals are."""

    def __init__(self, offset: int, opname: str, reason: str, truncated: bool = False) -> None:
        self.offset = offset
        self.opname = opname
        self.reason = reason
        self.truncated = truncated
        super().__init__(f"at byte {offset:,} ({opname}): {reason}")


class TooLargeError(Exception):
    """The file is past what ``inspect`` reads (:data:`MAX_ITEMS`, :data:`MAX_GLOBALS`)."""

    def __init__(self, offset: int, what: str) -> None:
        self.offset = offset
        self.what = what
        super().__init__(f"stopped at byte {offset:,}: {what}")


class Stack:
    """One pickle's object stack, marks and memo, holding kinds instead of objects,
    with the C loader's checks (the fence of the last mark, filled memo slots)."""

    data: Any  # the bytes being read (for the name of a failing opcode)

    def __init__(self) -> None:
        self.stack = array("Q")
        self.marks = array("q")
        self.memo = array("Q")  # slot -> entry, 0 = empty
        self.sparse: dict[int, int] = {}  # far-away slots a crafted file may name
        self.filled = 0  # memo slots in use (MEMOIZE writes the next one)
        self.proto = 0  # as set by PROTO: decides Python 2 name mapping
        self.declared: int | None = None  # the PROTO opcode's protocol
        self.needed = 0  # the newest protocol among the opcodes used
        self.pos = 0  # offset of the opcode being run

    # -- the stack ------------------------------------------------------------

    def fail(self, reason: str) -> CorruptPickleError:
        """The error for the opcode being run (its name is read back from the data)."""
        from picklecheck.tools.pickle_ops import OPS

        return CorruptPickleError(self.pos, OPS[self.data[self.pos]].name, reason)

    @property
    def fence(self) -> int:
        """The stack below the last MARK is out of reach until that mark is popped."""
        marks = self.marks
        return marks[-1] if marks else 0

    def push(self, entry: int) -> None:
        self.stack.append(entry)
        if len(self.stack) & 0xFFFF == 0:
            self.check_size()

    def pop(self) -> int:
        if len(self.stack) <= self.fence:
            raise self.fail("unpickling stack underflow")
        return self.stack.pop()

    def top(self) -> int:
        if len(self.stack) <= self.fence:
            raise self.fail("unpickling stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> int:
        """Where the last MARK was; the items above it stay on the stack."""
        if not self.marks:
            raise self.fail("could not find MARK")
        return self.marks.pop()

    def below(self, start: int) -> int:
        """The object the items from ``start`` on are added to (APPENDS, SETITEMS)."""
        if start > len(self.stack) or start <= self.fence:
            raise self.fail("unpickling stack underflow")
        return self.stack[start - 1] & 31

    def cut(self, start: int) -> list[int]:
        kinds = [entry & 31 for entry in self.stack[start:]]
        del self.stack[start:]
        return kinds

    # -- the memo -------------------------------------------------------------

    def memo_put(self, index: int, entry: int) -> None:
        """Fill a slot. Slots grow densely (8 bytes each) up to twice the slots in use;
        a crafted far-away index goes to a small dict instead of a huge array."""
        memo = self.memo
        if index == len(memo) and not self.sparse:  # what every pickler writes
            memo.append(entry)
            self.filled += 1
            if not self.filled & 0xFFFF:
                self.check_size()
            return
        if index < 0:
            raise self.fail("negative memo index")
        if index < len(memo):
            if not memo[index] and self.sparse.pop(index, None) is None:
                self.filled += 1
            memo[index] = entry
            return
        if index < 2 * self.filled + 1024:
            memo.frombytes(bytes(8 * (index - len(memo))))
            memo.append(entry)
            self.filled += self.sparse.pop(index, None) is None
        else:
            self.filled += index not in self.sparse
            self.sparse[index] = entry
        self.check_size()

    def check_size(self) -> None:
        used = len(self.stack) + len(self.marks) + len(self.memo) + 12 * len(self.sparse)
        if used > MAX_ITEMS:
            raise TooLargeError(self.pos, f"more than {MAX_ITEMS:,} stack entries, marks and "
                                     "memo slots at once")

    def memo_get(self, index: int) -> int:
        entry = self.memo[index] if 0 <= index < len(self.memo) else 0
        if not entry:
            entry = self.sparse.get(index, 0)
        if not entry:
            raise self.fail(f"memo slot {index} is read before anything was stored in it")
        return entry
