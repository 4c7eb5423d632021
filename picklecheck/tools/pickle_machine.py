"""One pickle's opcodes, run as the C loader runs them, on kinds instead of objects.

:class:`Machine` keeps the C unpickler's stack discipline (an object stack split by
marks, a memo, the protocol) with each object replaced by its *kind* (a list, a str,
"something a global returned", ...). That is enough to know every global the pickle
names, ``STACK_GLOBAL`` included (its strings are the literals pushed or memoized
before it), and to reject, with the byte offset, what ``pickle.load`` rejects
whatever the globals turn out to be: an unknown opcode or protocol, a memo slot read
before it was filled, a missing MARK, a stack underflow, ``STACK_GLOBAL`` on a
non-string, items appended to an ``int``, arguments that are a list, ... Where the
answer depends on what a global returns, it accepts: a stream it calls corrupt is
one no loader can read.

Memory stays proportional to the file and small: a stack entry, mark or memo slot is
one 8-byte integer (a kind, and for a string where its literal lies), never an
object. Past :data:`MAX_ITEMS` of them at once the machine stops with
:class:`TooLargeError`.
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol

from picklecheck.tools.pickle_ops import OPS, MalformedError, TruncatedError, read_text
from picklecheck.tools.pickle_stack import (
    ANY,
    BOOL,
    BUILTIN,
    BYTEARRAY,
    BYTES,
    DICT,
    FLOAT,
    FROZENSET,
    GLOBAL,
    INT,
    KIND_NAMES,
    LIST,
    NO_ADD,
    NO_APPEND,
    NO_BUFFER,
    NO_SETITEM,
    NONE,
    NOT_CALLABLE,
    SET,
    SHIFT,
    STR,
    TUPLE,
    UNHASHABLE,
    CorruptPickleError,
    Stack,
)

__all__ = ["Collector", "Machine"]

_PUSHES = {
    "NONE": NONE, "NEWTRUE": BOOL, "NEWFALSE": BOOL, "INT": INT, "BININT": INT,
    "BININT1": INT, "BININT2": INT, "LONG": INT, "LONG1": INT, "LONG4": INT,
    "FLOAT": FLOAT, "BINFLOAT": FLOAT, "BINBYTES": BYTES, "SHORT_BINBYTES": BYTES,
    "BINBYTES8": BYTES, "BYTEARRAY8": BYTEARRAY, "EMPTY_LIST": LIST, "EMPTY_TUPLE": TUPLE,
    "EMPTY_DICT": DICT, "EMPTY_SET": SET,
}
_STRINGS = frozenset({"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE",
                      "SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8"})


_PUSH_CODES = {op.code: _PUSHES[op.name] for op in OPS.values() if op.name in _PUSHES}
_STRING_CODES = frozenset(op.code for op in OPS.values() if op.name in _STRINGS)
_PY2_CODES = frozenset(op.code for op in OPS.values()
                       if op.name in ("STRING", "BINSTRING", "SHORT_BINSTRING"))
_STOP = 0x2E
#: Longer names are kept shortened: no real module or attribute name comes close.
MAX_NAME = 1000


def _a(kind: int) -> str:
    name = KIND_NAMES[kind]
    return f"an {name}" if name[0] in "aeiou" else f"a {name}"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_NAME else f"{text[:60]}...({len(text):,} characters)"


class Collector(Protocol):
    """Where a machine reports what it found besides the verdict (:class:`.Scan`)."""

    dynamic: int
    persistent_ids: int
    buffers: int
    py2_bytes: int
    extensions: set[int]

    def add(self, module: str, name: str, offset: int, proto: int) -> None: ...


class Machine(Stack):
    """One pickle, opcode by opcode, as the C loader runs it (see the module doc)."""

    def __init__(self, scan: Collector, data: Any) -> None:
        super().__init__()
        self.scan = scan
        self.data = data

    # -- globals ----------------------------------------------------------------

    def name_of(self, entry: int, role: str) -> str | None:
        """The text of a string entry for STACK_GLOBAL; None when it is computed."""
        kind = entry & 31
        if kind in (ANY, GLOBAL):
            return None
        if kind != STR:
            raise self.fail(f"STACK_GLOBAL needs two str, and the {role} is {_a(kind)}")
        at = entry >> SHIFT
        op = OPS[self.data[at]]
        assert op.read is not None
        where, _ = op.read(self.data, at + 1)
        if where[1] > MAX_NAME:  # no module or attribute is named by kilobytes of text
            preview = bytes(self.data[where[0]:where[0] + 60]).decode("utf-8", "replace")
            return f"{preview}...({where[1]:,} bytes)"
        return read_text(self.data, op.code, where)

    def add_global(self, module: str, name: str) -> None:
        module, name = _shorten(module), _shorten(name)
        for part in (module, name):
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                raise self.fail(f"the global name {module!r} {name!r} holds a lone surrogate, "
                                "which no module or attribute can be named") from None
        self.scan.add(module, name, self.pos, self.proto)

    # -- running ----------------------------------------------------------------

    def run(self, pos: int) -> int:
        """Follow one pickle from ``pos``; the offset after its STOP."""
        data, stack, ops = self.data, self.stack, OPS
        handlers = _HANDLERS
        while True:
            self.pos = pos
            if pos >= len(data):
                raise CorruptPickleError(pos, "end of data", "the data ends before the "
                                         "pickle's STOP opcode", truncated=True)
            code = data[pos]
            op = ops.get(code)
            if op is None:
                raise CorruptPickleError(pos, f"byte 0x{code:02x}",
                                         "not an opcode (pickle.load: invalid load key)")
            if op.proto > self.needed:
                self.needed = op.proto
            end = pos + 1
            arg = None
            if op.read is not None:
                try:
                    arg, end = op.read(data, end)
                except TruncatedError as exc:
                    raise CorruptPickleError(pos, op.name, str(exc), truncated=True) from None
                except MalformedError as exc:
                    raise CorruptPickleError(pos, op.name, str(exc)) from None
            kind = _PUSH_CODES.get(code)
            if kind is not None:
                stack.append(kind)
                if not len(stack) & 0xFFFF:
                    self.check_size()
            elif code in _STRING_CODES:
                self.push(STR | (pos << SHIFT))
                if code in _PY2_CODES:
                    self._py2_string(code, arg)
            elif code == _STOP:  # the loader returns the top of the stack
                self.pop()
                return end
            else:
                handlers[code](self, arg, end)
            pos = end

    def _py2_string(self, code: int, where: Any) -> None:
        if not read_text(self.data, code, where).isascii():
            self.scan.py2_bytes += 1

    # -- opcodes that do more than push one object ------------------------------

    def load_proto(self, proto: int, end: int) -> None:
        if proto > pickle.HIGHEST_PROTOCOL:
            raise self.fail(f"unsupported pickle protocol {proto} (this Python reads "
                            f"protocols 0 to {pickle.HIGHEST_PROTOCOL})")
        self.proto = proto
        self.declared = proto

    def load_frame(self, length: int, end: int) -> None:
        if end + length > len(self.data):
            raise CorruptPickleError(self.pos, "FRAME", f"a frame of {length:,} bytes, "
                          f"{len(self.data) - end:,} left", truncated=True)

    def load_mark(self, arg: None, end: int) -> None:
        self.marks.append(len(self.stack))
        if len(self.marks) & 0xFFFF == 0:
            self.check_size()

    def load_pop(self, arg: None, end: int) -> None:
        if self.marks and self.marks[-1] == len(self.stack):
            self.marks.pop()  # the C loader pops an empty mark first
        else:
            self.pop()

    def load_pop_mark(self, arg: None, end: int) -> None:
        del self.stack[self.pop_mark():]

    def load_dup(self, arg: None, end: int) -> None:
        self.push(self.top())

    def _items_to(self, start: int, blocked: frozenset[int], verb: str) -> list[int]:
        """The items from ``start`` up, checked against the object they are added to."""
        target = self.below(start)
        items = self.cut(start)
        if items and target in blocked:
            raise self.fail(f"{verb} items to {_a(target)}, which has no "
                            f"{'add' if verb == 'adds' else 'append or __setitem__'}")
        return items

    def load_append(self, arg: None, end: int) -> None:
        self._items_to(len(self.stack) - 1, NO_APPEND, "appends")

    def load_appends(self, arg: None, end: int) -> None:
        self._items_to(self.pop_mark(), NO_APPEND, "appends")

    def _setitems(self, start: int) -> None:
        if (len(self.stack) - start) % 2:
            raise self.fail("odd number of items for SETITEMS")
        target = self.below(start)
        items = self._items_to(start, NO_SETITEM, "sets")
        if target == DICT:
            self._hashable(items[::2], "a dict key")

    def load_setitem(self, arg: None, end: int) -> None:
        self._setitems(len(self.stack) - 2)

    def load_setitems(self, arg: None, end: int) -> None:
        self._setitems(self.pop_mark())

    def load_additems(self, arg: None, end: int) -> None:
        start = self.pop_mark()
        target = self.below(start)
        items = self._items_to(start, NO_ADD, "adds")
        if target == SET:
            self._hashable(items, "a set member")

    def _hashable(self, kinds: list[int], role: str) -> None:
        for kind in kinds:
            if kind in UNHASHABLE:
                raise self.fail(f"{role} is {_a(kind)}, which is unhashable")

    def load_list(self, arg: None, end: int) -> None:
        self.cut(self.pop_mark())
        self.push(LIST)

    def load_tuple(self, arg: None, end: int) -> None:
        self.cut(self.pop_mark())
        self.push(TUPLE)

    def _tuple_of(self, n: int) -> None:
        if len(self.stack) - n < self.fence:
            raise self.fail("unpickling stack underflow")
        self.cut(len(self.stack) - n)
        self.push(TUPLE)

    def load_tuple1(self, arg: None, end: int) -> None:
        self._tuple_of(1)

    def load_tuple2(self, arg: None, end: int) -> None:
        self._tuple_of(2)

    def load_tuple3(self, arg: None, end: int) -> None:
        self._tuple_of(3)

    def load_dict(self, arg: None, end: int) -> None:
        start = self.pop_mark()
        if (len(self.stack) - start) % 2:
            raise self.fail("odd number of items for DICT")
        self._hashable(self.cut(start)[::2], "a dict key")
        self.push(DICT)

    def load_frozenset(self, arg: None, end: int) -> None:
        self._hashable(self.cut(self.pop_mark()), "a frozenset member")
        self.push(FROZENSET)

    def _callable(self, entry: int, what: str) -> None:
        if entry & 31 in NOT_CALLABLE:
            raise self.fail(f"{what} is {_a(entry & 31)}, which cannot be called")

    def load_obj(self, arg: None, end: int) -> None:
        start = self.pop_mark()
        if len(self.stack) - start < 1:
            raise self.fail("unpickling stack underflow")
        self.cut(start + 1)
        self._callable(self.stack.pop(), "the class OBJ calls")
        self.push(ANY)

    def load_inst(self, names: tuple[str, str], end: int) -> None:
        start = self.pop_mark()
        self.add_global(*names)
        self.cut(start)
        self.push(ANY)

    def load_global(self, names: tuple[str, str], end: int) -> None:
        self.add_global(*names)
        self.push(GLOBAL)

    def load_stack_global(self, arg: None, end: int) -> None:
        name = self.name_of(self.pop(), "name")
        module = self.name_of(self.pop(), "module")
        if module is None or name is None:
            self.scan.dynamic += 1
        else:
            self.add_global(module, name)
        self.push(GLOBAL)

    def _args(self, entry: int, allowed: int, what: str) -> None:
        kind = entry & 31
        if kind in BUILTIN and kind != allowed:
            raise self.fail(f"{what} must be {_a(allowed)}, not "
                            f"{_a(kind)}")

    def load_reduce(self, arg: None, end: int) -> None:
        self._args(self.pop(), TUPLE, "the arguments of REDUCE")
        self._callable(self.pop(), "what REDUCE calls")
        self.push(ANY)

    def load_newobj(self, arg: None, end: int) -> None:
        self._args(self.pop(), TUPLE, "the arguments of NEWOBJ")
        self._class(self.pop())

    def load_newobj_ex(self, arg: None, end: int) -> None:
        self._args(self.pop(), DICT, "the keyword arguments of NEWOBJ_EX")
        self._args(self.pop(), TUPLE, "the arguments of NEWOBJ_EX")
        self._class(self.pop())

    def _class(self, entry: int) -> None:
        if entry & 31 in BUILTIN:
            raise self.fail(f"the class argument must be a type, not "
                            f"{_a(entry & 31)}")
        self.push(ANY)

    def load_build(self, arg: None, end: int) -> None:
        if len(self.stack) - 2 < self.fence:
            raise self.fail("unpickling stack underflow")
        state = self.stack.pop() & 31
        inst = self.stack[-1] & 31
        if inst in BUILTIN and state in BUILTIN - {NONE, TUPLE}:
            raise self.fail(f"sets the state of {_a(inst)}, which has no "
                            "__setstate__ or __dict__")

    def load_get(self, index: int, end: int) -> None:
        self.push(self.memo_get(index))

    load_binget = load_long_binget = load_get

    def load_put(self, index: int, end: int) -> None:
        self.memo_put(index, self.top())

    load_binput = load_long_binput = load_put

    def load_memoize(self, arg: None, end: int) -> None:
        stack, memo, marks = self.stack, self.memo, self.marks
        if len(stack) > (marks[-1] if marks else 0) and len(memo) == self.filled \
                and not self.sparse:
            memo.append(stack[-1])  # the common case, inlined: the next slot of a dense memo
            self.filled += 1
            if not self.filled & 0xFFFF:
                self.check_size()
        else:
            self.memo_put(self.filled, self.top())

    def load_ext1(self, code: int, end: int) -> None:
        if code <= 0:
            raise self.fail("EXT specifies code <= 0")
        self.scan.extensions.add(code)
        self.push(ANY)

    load_ext2 = load_ext4 = load_ext1

    def load_persid(self, arg: Any, end: int) -> None:
        self.scan.persistent_ids += 1
        self.push(ANY)

    def load_binpersid(self, arg: None, end: int) -> None:
        self.pop()
        self.scan.persistent_ids += 1
        self.push(ANY)

    def load_next_buffer(self, arg: None, end: int) -> None:
        self.scan.buffers += 1
        self.push(ANY)

    def load_readonly_buffer(self, arg: None, end: int) -> None:
        kind = self.top() & 31
        if kind in NO_BUFFER:
            raise self.fail(f"READONLY_BUFFER needs a bytes-like object, not "
                            f"{_a(kind)}")


#: What each opcode that does more than push one object runs (looked up once).
_HANDLERS = {code: getattr(Machine, f"load_{op.name.lower()}") for code, op in OPS.items()
             if code not in _PUSH_CODES and code not in _STRING_CODES and code != _STOP}
