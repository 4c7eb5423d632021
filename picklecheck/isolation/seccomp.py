"""A tiny seccomp filter: the sandboxed child may not make processes or leave its group.

Landlock stops writes, connections and signals, but not ``fork``: a load could start
a process that outlives the child (as root, ``RLIMIT_NPROC`` binds nothing) or move
it out of the process group the parent kills. This filter makes the kernel answer
``EPERM`` to ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD`` (threads stay
possible), ``execve``, ``execveat``, ``setsid`` and ``setpgid``, and ``ENOSYS`` to
``clone3`` (whose flags a filter cannot read; the C library then falls back to
``clone`` for threads). System V shared memory, semaphores and message queues, POSIX
message queues, keyrings and ``ioprio_set`` are refused, and ``prlimit64`` on any
process but the child itself: each reaches a process outside the child, or leaves an
object behind it, by a key or an id that no path rule governs. Unix-domain, netlink
and packet sockets are refused too (``EPERM``): a unix socket reaches local daemons that
Landlock's TCP rules do not cover; so are UDP and raw sockets, so nothing the child read
can leave it. System calls of another architecture's ABI (x32, i386) are refused whole.

Built by hand as classic BPF (a few dozen bytes), installed with ``prctl``; x86_64
and arm64 only. ``PR_SET_NO_NEW_PRIVS`` must be set first.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

__all__ = ["install", "prepare", "refuses_socket", "supported"]

_AUDIT_ARCH = {"x86_64": 0xC000003E, "amd64": 0xC000003E, "aarch64": 0xC00000B7,
               "arm64": 0xC00000B7}
# fork, vfork, execve, execveat, setsid, setpgid; System V IPC (shmget, shmat, shmctl,
# shmdt, semget, semop, semctl, semtimedop, msgget, msgsnd, msgrcv, msgctl), POSIX
# message queues (mq_open, mq_unlink), the kernel's keyrings (add_key, request_key,
# keyctl) and ioprio_set: kernel objects that outlive the child or belong to other
# processes, found by key or id rather than by path, out of Landlock's reach
# / clone / clone3 / socket / prlimit64
_SYSCALLS = {
    0xC000003E: ((57, 58, 59, 322, 112, 109,
                  29, 30, 31, 67, 64, 65, 66, 220, 68, 69, 70, 71,
                  240, 241, 248, 249, 250, 251), 56, 435, 41, 302),
    0xC00000B7: ((221, 281, 157, 154,
                  194, 196, 195, 197, 190, 193, 191, 192, 186, 189, 188, 187,
                  180, 181, 217, 218, 219, 30), 220, 435, 198, 261),
}
_X32_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_REFUSED_SOCKETS = (1, 16, 17)  # AF_UNIX, AF_NETLINK, AF_PACKET
_AF_INET, _AF_INET6, _SOCK_STREAM = 2, 10, 1

_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K, _ALU_AND_K = 0x20, 0x15, 0x35, 0x45, 0x06, 0x54
_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_NR, _ARCH, _ARG0, _ARG1 = 0, 4, 16, 24  # offsets in struct seccomp_data (low words)
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


def supported() -> bool:
    """Whether this machine's architecture has a filter here."""
    return platform.machine().lower() in _AUDIT_ARCH


def refuses_socket(family: int, kind: int) -> bool:
    """Whether the filter refuses a socket of ``family`` and ``kind`` (what the filter's
    socket rule below says, for the watch to name what a load tried)."""
    if family in _REFUSED_SOCKETS:
        return True
    return family in (_AF_INET, _AF_INET6) and kind & 0xF != _SOCK_STREAM


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k)


def _program(arch: int) -> list[bytes]:
    refuse = _ERRNO | errno.EPERM
    denied, clone, clone3, socket, prlimit = _SYSCALLS[arch]
    prog = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, arch, 1, 0), _op(_RET_K, refuse),
            _op(_LD_W_ABS, _NR)]
    if arch == 0xC000003E:
        prog += [_op(_JGE_K, _X32_BIT, 0, 1), _op(_RET_K, refuse)]
    for nr in denied:
        prog += [_op(_JEQ_K, nr, 0, 1), _op(_RET_K, refuse)]
    prog += [_op(_JEQ_K, clone3, 0, 1), _op(_RET_K, _ERRNO | errno.ENOSYS)]
    # clone: allowed only with CLONE_THREAD (x86_64 and arm64 both pass flags first)
    prog += [_op(_JEQ_K, clone, 0, 4), _op(_LD_W_ABS, _ARG0),
             _op(_JSET_K, _CLONE_THREAD, 1, 0), _op(_RET_K, refuse), _op(_RET_K, _ALLOW)]
    # prlimit64: only on the child itself (pid 0, as setrlimit and getrlimit call it): a
    # load may not lower the limits of the process that checks, for good.
    prog += [_op(_JEQ_K, prlimit, 0, 4), _op(_LD_W_ABS, _ARG0),
             _op(_JEQ_K, 0, 1, 0), _op(_RET_K, refuse), _op(_RET_K, _ALLOW)]
    # socket: unix, netlink and packet refused; inet and inet6 only as TCP (which
    # Landlock governs), so no UDP or raw datagram leaves the child either.
    prog += [_op(_JEQ_K, socket, 0, 2 * len(_REFUSED_SOCKETS) + 8), _op(_LD_W_ABS, _ARG0)]
    for family in _REFUSED_SOCKETS:
        prog += [_op(_JEQ_K, family, 0, 1), _op(_RET_K, refuse)]
    prog += [_op(_JEQ_K, _AF_INET, 1, 0), _op(_JEQ_K, _AF_INET6, 0, 5),
             _op(_LD_W_ABS, _ARG1), _op(_ALU_AND_K, 0xF),
             _op(_JEQ_K, _SOCK_STREAM, 0, 1), _op(_RET_K, _ALLOW), _op(_RET_K, refuse)]
    prog += [_op(_RET_K, _ALLOW)]
    return prog


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_BUILT: list[tuple[ctypes.Array[ctypes.c_char], _SockFprog, ctypes.CDLL]] = []


def prepare() -> bool:
    """Build the filter (in the parent, once: the child only installs it)."""
    arch = _AUDIT_ARCH.get(platform.machine().lower())
    if arch is None:
        return False
    if not _BUILT:
        prog = _program(arch)
        code = ctypes.create_string_buffer(b"".join(prog))
        fprog = _SockFprog(len(prog), ctypes.cast(code, ctypes.c_void_p))
        _BUILT.append((code, fprog, ctypes.CDLL(None, use_errno=True)))
    return True


def install() -> bool:
    """Install the filter on the calling process for good; False where unsupported."""
    if not prepare():
        return False
    _, fprog, libc = _BUILT[0]
    if libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: installing the filter failed: {errno.errorcode.get(err)}")
    return True
