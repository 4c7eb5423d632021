"""The real C loader with every global replaced by a harmless, permissive stand-in.

``inspect`` calls a stream corrupt when ``pickle.load`` rejects it *whatever its
globals are*. The strongest check of that is the C unpickler itself with each global
replaced by :class:`Stub`, which accepts every call, ``append``, ``__setitem__``,
``add`` and ``__setstate__``: a stream this loader reads is one no environment finds
corrupt. Nothing real is imported or called, so any bytes are safe to load here.

:class:`LoaderProcess` runs it in a child with a 1 GiB address-space limit (a crafted
memo index makes the C loader allocate without bound) and answers one case at a time.
"""

from __future__ import annotations

import io
import itertools
import pickle
import struct
import subprocess
import sys


def _accept(*args, **kwargs):
    return None


class _Accepts:
    """A method that takes anything, on the class and on its instances alike."""

    def __get__(self, obj, cls=None):
        return _accept


class _StubType(type):
    def __setitem__(cls, key, value):
        pass


class Stub(metaclass=_StubType):
    """Whatever a global, a call or a persistent id returns: accepts everything, as a
    class (NEWOBJ needs a type) and as an instance."""

    append = extend = add = __setstate__ = _Accepts()

    def __new__(cls, *args, **kwargs):
        return object.__new__(cls)

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return Stub()

    def __setitem__(self, key, value):
        pass


class PermissiveUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` (C) with every global a :class:`Stub`."""

    def find_class(self, module, name):
        return Stub

    def persistent_load(self, pid):
        return Stub()


def permissive_load(data: bytes) -> str:
    """``"ok"``, or ``"Type: message"`` of what the C loader raised."""
    buffers = (b"x" for _ in itertools.count())
    try:
        PermissiveUnpickler(io.BytesIO(data), buffers=buffers).load()
    except Exception as exc:  # noqa: BLE001 - every failure is an answer
        return f"{type(exc).__name__}: {exc}"
    return "ok"


def _serve() -> None:
    import resource

    limit = 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while header := stdin.read(4):
        (size,) = struct.unpack("<I", header)
        answer = permissive_load(stdin.read(size)).encode("utf-8", "replace")[:500]
        stdout.write(struct.pack("<I", len(answer)) + answer)
        stdout.flush()


class LoaderProcess:
    """A child running :func:`permissive_load` on each case it is sent."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import permissive_loader; permissive_loader._serve()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=__file__.rsplit("/", 1)[0])

    def load(self, data: bytes) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(struct.pack("<I", len(data)) + data)
        self.proc.stdin.flush()
        header = self.proc.stdout.read(4)
        if len(header) < 4:
            raise RuntimeError("the loader process died")
        (size,) = struct.unpack("<I", header)
        return self.proc.stdout.read(size).decode()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


if __name__ == "__main__":
    _serve()
