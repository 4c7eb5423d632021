"""Objects whose *load* tries to harm whoever loads them: every route of issue 9.

Each payload is built from :class:`Call`, whose ``__reduce__`` makes the unpickler
call ``func(*args)``; arguments may be calls themselves (run first, at load time),
which is how a pickle reaches a module (``import_module('os')``), an attribute
(``getattr``) or a method (``methodcaller``). ``build(victim, marker, pid)`` returns ``{id: payload}``:
``victim`` is a file that must keep its content, ``marker`` a path that must never
be created, ``pid`` the process that must receive no signal.
"""

from __future__ import annotations

import atexit
import importlib
import io
import operator
import os
import pathlib
import pickle
import signal
import socket
import subprocess
import sys
import threading


class Call:
    """Loads as ``func(*args)``."""

    def __init__(self, func, *args):
        self.func = func
        self.args = args

    def __reduce__(self):
        return (self.func, self.args)


def module(name):
    return Call(importlib.import_module, name)


def attr(owner, name):
    return Call(getattr, owner, name)


def build(victim: str, marker: str, pid: int, port: int = 9) -> dict[str, object]:
    """Every hostile route, by name."""
    touch = f"touch {marker}"
    os_module = module("os")
    popen = Call(object.__new__, subprocess.Popen)
    timer = Call(threading.Timer, 0.2, os.unlink, (victim,))
    return {
        "Path.write_text": Call(pathlib.Path(victim).write_text, "pwned"),
        "Path.unlink": Call(pathlib.Path(victim).unlink),
        "os.open O_TRUNC": Call(os.open, victim, os.O_WRONLY | os.O_TRUNC),
        "io.FileIO w": Call(io.FileIO, victim, "w"),
        "os.remove": Call(os.remove, victim),
        "os.rename": Call(os.rename, victim, marker),
        "os.system": Call(os.system, touch),
        "methodcaller system": Call(operator.methodcaller("system", touch), os_module),
        "object.__getattribute__": Call(operator.methodcaller("__call__", touch),
                                        Call(object.__getattribute__, os_module, "system")),
        "dotted Popen.__init__": Call(subprocess.Popen.__init__, popen, ["touch", marker]),
        "subprocess.run": Call(subprocess.run, ["touch", marker]),
        "nested pickle.loads": Call(pickle.loads, pickle.dumps(Call(os.remove, victim))),
        "atexit.register": Call(atexit.register, os.remove, victim),
        "threading.Timer": Call(operator.methodcaller("start"), timer),
        "signal.alarm": Call(signal.alarm, 1),
        "signal.raise_signal": Call(signal.raise_signal, signal.SIGTERM),
        "signal handler": Call(signal.signal, signal.SIGINT, signal.SIG_IGN),
        "kill the caller": Call(os.kill, pid, signal.SIGUSR1),
        "kill every process": Call(os.kill, -1, signal.SIGUSR1),
        "fork an orphan": Call(operator.methodcaller("fork"), os_module),
        "start a process": Call(subprocess.Popen, ["sleep", "30"]),
        "os._exit": Call(os._exit, 0),
        "sys.exit": Call(sys.exit, 0),
        "os.chdir": Call(os.chdir, "/"),
        "os.putenv": Call(os.putenv, "PICKLECHECK_HOSTILE", "1"),
        "clear sys.modules": Call(dict.clear, attr(module("sys"), "modules")),
        "clear the guard": [Call(dict.clear, attr(module("picklecheck.backends.hazards"),
                                                  "_BY_ID")),
                            Call(os.remove, victim)],
        "tcp connect": Call(socket.create_connection, ("127.0.0.1", port), 2),
    }
