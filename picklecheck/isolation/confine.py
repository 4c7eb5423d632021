"""Confining a child process before it loads anything: what the kernel lets it do.

:func:`confine` runs in the child, right after ``fork`` (or at the start of the
fresh interpreter), and cannot be undone by the code it confines:

* its own process group, so the parent kills every process of the load at once;
* standard input and output on ``/dev/null``, standard error into the scratch
  folder (the parent reads its tail when the child crashes);
* every other inherited descriptor (the caller's open files, sockets, database
  connections) replaced by a read-only ``/dev/null``, and the caller's shared
  writable memory mappings (an ``mmap`` of a file, shared memory, a
  ``multiprocessing`` semaphore) replaced by private copies: Landlock does not look
  at descriptors or mappings that are already open, so without this a load could
  write through them. A copy behaves as the original does (a copied semaphore can be
  acquired: making the mapping read-only instead crashed every load that used a
  lock of ``multiprocessing``, as a ``tqdm`` bar's does); what a load left changed
  in one is named (:func:`shared_changes`) and undone before the next load. Mappings
  larger than :data:`PRIVATE_MAX` are made read-only instead (a write crashes the
  child, which is reported as such);
* resource limits: CPU seconds, address space, file size, no core files;
* ``PR_SET_NO_NEW_PRIVS``, no capabilities (we may be root), the seccomp filter of
  :mod:`~picklecheck.isolation.seccomp` (no new processes), and Landlock
  (:mod:`~picklecheck.isolation.landlock`: no writes outside the scratch folder, no
  TCP, no signals out).

:func:`available` says which isolation this machine offers: ``"sandbox"`` (all of
the above), ``"process"`` (a child without Landlock: an old kernel, or an
architecture without our seccomp filter) or ``"guarded"`` (no ``fork``: Windows).
``PICKLECHECK_ISOLATION`` lowers it (to test a fallback, or to opt out).
"""

from __future__ import annotations

import ctypes
import math
import os
import resource
import signal
import sys
from dataclasses import dataclass

from picklecheck.isolation import landlock, seccomp

__all__ = ["ENV", "PRIVATE_MAX", "Limits", "Plan", "available", "confine", "plan",
           "shared_changes"]

ENV = "PICKLECHECK_ISOLATION"
_ORDER = ("guarded", "process", "sandbox")
_PR_SET_NO_NEW_PRIVS = 38
_PROT_READ, _PROT_WRITE = 1, 2
_MAP_PRIVATE, _MAP_FIXED, _MAP_ANONYMOUS = 0x02, 0x10, 0x20
#: Shared mappings up to this size (bytes, all of them together) get private copies.
PRIVATE_MAX = 64 << 20


@dataclass(frozen=True)
class Limits:
    """What one child may use: ``seconds`` of CPU, ``memory`` bytes of address space
    beyond what it starts with (the parent's, shared copy-on-write), ``file_size``
    bytes per file it writes in its scratch folder."""

    seconds: float
    memory: int
    file_size: int = 64 << 20


def available() -> str:
    """The strongest isolation this machine offers (see the module docstring)."""
    if not hasattr(os, "fork") or not sys.platform.startswith("linux"):
        best = "process" if hasattr(os, "fork") and sys.platform != "darwin" else "guarded"
    elif landlock.abi_version() >= 1 and seccomp.supported():
        best = "sandbox"
    else:
        best = "process"
    wanted = os.environ.get(ENV, "").strip().lower()
    if wanted in _ORDER and _ORDER.index(wanted) < _ORDER.index(best):
        return wanted
    return best


@dataclass(frozen=True)
class Plan:
    """What the parent works out before ``fork``, so that the child (where every
    touched page is a copy) does little more than system calls (it reads its own
    shared mappings: the parent's could change before the fork)."""

    limits: Limits
    address_space: int  # the child's RLIMIT_AS: what it inherits plus limits.memory
    libc: ctypes.CDLL | None


def plan(limits: Limits) -> Plan:
    """Prepare :func:`confine` for the next child (in the parent)."""
    libc = None
    if sys.platform.startswith("linux"):
        libc = _libc()
        seccomp.prepare()
        landlock.abi_version()
    size = 0
    try:
        with open("/proc/self/statm") as statm:
            size = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        pass
    return Plan(limits, size + limits.memory if size else 0, libc)


_LIBC: list[ctypes.CDLL] = []


def _libc() -> ctypes.CDLL:
    if not _LIBC:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
        libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long)
        libc.mmap.restype = ctypes.c_void_p
        _LIBC.append(libc)
    return _LIBC[0]


def confine(scratch: str, prepared: Plan, keep: tuple[int, ...], sandbox: bool) -> list[str]:
    """Confine the calling (child) process for good; returns what is refused to it.

    ``keep`` are descriptors the child still needs (its pipe to the parent).
    """
    if os.getpgid(0) != os.getpid():  # a session leader (the fresh interpreter) already is
        os.setpgid(0, 0)
    stderr_fd = _quiet_stdio(scratch)
    _neutralise_descriptors(set(keep) | {0, 1, 2, stderr_fd})
    libc = prepared.libc
    if libc is not None:
        # Read here, not planned in the parent: another thread of the parent may unmap
        # one between the plan and the fork, and copying an unmapped range would crash.
        _privatise(libc, _shared_mappings())
    limits = prepared.limits
    _set_limits(limits, prepared.address_space)
    refused = [f"more than {limits.seconds:g} s of CPU and "
               f"{limits.memory >> 20} MiB of new memory"]
    if libc is None:
        return refused
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
    _drop_capabilities(libc)
    refused.append("privileges (no capabilities, no new privileges)")
    if seccomp.supported() and seccomp.install():
        refused.append("new processes, leaving its process group, unix sockets")
    if sandbox:
        refused += landlock.restrict([scratch, os.devnull])
    return refused


def _quiet_stdio(scratch: str) -> int:
    """Stdin and stdout to /dev/null, stderr to ``scratch/stderr``; returns that fd."""
    null = os.open(os.devnull, os.O_RDWR)
    log = os.open(os.path.join(scratch, "stderr"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    return 2


def _neutralise_descriptors(keep: set[int]) -> None:
    """Every inherited descriptor but ``keep`` becomes a read-only /dev/null: the numbers
    stay valid (objects of the caller that wrap them close their own copy), and
    nothing written through them reaches the caller's files or connections."""
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        names = [str(fd) for fd in range(3, 1024)]
    for name in names:
        fd = int(name)
        if fd in keep or fd == null:
            continue
        try:
            os.dup2(null, fd)
        except OSError:
            continue  # closed meanwhile (the listing's own descriptor)
    os.close(null)


def _shared_mappings() -> tuple[tuple[int, int, str], ...]:
    """Shared writable mappings (``mmap`` of the caller's files, shared memory) write
    straight through to their owner: the child replaces them (see :func:`_privatise`)."""
    try:
        with open("/proc/self/maps") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return ()
    found = []
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) < 2 or not fields[1].startswith("rw") or fields[1][3:4] != "s":
            continue
        start, end = (int(part, 16) for part in fields[0].split("-"))
        found.append((start, end, fields[5].strip() if len(fields) > 5 else ""))
    return tuple(found)


#: In the child: each privatised mapping's start, name and content when it was copied.
_COPIES: list[tuple[int, str, bytes]] = []


def _privatise(libc: ctypes.CDLL, shared: tuple[tuple[int, int, str], ...]) -> None:
    """Replace the shared writable mappings by private copies at the same addresses
    (read-only instead beyond :data:`PRIVATE_MAX` in all)."""
    budget = PRIVATE_MAX
    for start, end, name in shared:
        size = end - start
        if size <= budget:
            content = ctypes.string_at(start, size)
            placed = libc.mmap(start, size, _PROT_READ | _PROT_WRITE,
                               _MAP_PRIVATE | _MAP_FIXED | _MAP_ANONYMOUS, -1, 0)
            if placed == start:
                ctypes.memmove(start, content, size)
                _COPIES.append((start, name, content))
                budget -= size
                continue
        libc.mprotect(start, size, _PROT_READ)


def shared_changes() -> list[str]:
    """In the child, after a load: the shared mappings the load changed (each named by
    its file), restored to what they held before."""
    changed = []
    for start, name, content in _COPIES:
        if ctypes.string_at(start, len(content)) != content:
            ctypes.memmove(start, content, len(content))
            changed.append(name or f"anonymous shared memory at {start:#x}")
    return changed


def _set_limits(limits: Limits, address_space: int) -> None:
    cpu = max(1, math.ceil(limits.seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size, limits.file_size))
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-large write fails, not kills
    except (ValueError, OSError):
        pass
    if address_space:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_capabilities(libc: ctypes.CDLL) -> None:
    """No capabilities at all: as root, a load could otherwise reboot, load kernel
    modules, set the clock or open raw sockets."""
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")
