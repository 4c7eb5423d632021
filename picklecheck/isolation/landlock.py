"""Landlock, the Linux security module that lets a process confine itself: a small
ctypes binding of its three system calls.

Why our own binding and not the ``landlock`` package on PyPI: that package (alpha,
1.0.0.dev5) covers file-system rules only; its ruleset structure has no network or
scope fields, so it cannot refuse TCP connections (ABI 4) or signals and abstract
sockets aimed outside the sandbox (ABI 6), which are half of what a load must not
do. The three calls and four structures below are the kernel's stable ABI
(``include/uapi/linux/landlock.h``); each new ABI only adds bits, so this stays
small and needs no compiler either way.

What :func:`restrict` refuses for the calling process (and every thread and child it
makes afterwards), by ABI version:

* 1+: creating, writing, truncating (3+), renaming, linking or removing anything
  outside the writable folders, and executing any file;
* 4+: TCP bind and connect;
* 6+: signals and abstract unix sockets aimed at processes outside the sandbox.

Reading stays allowed everywhere: a load imports modules.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

__all__ = ["abi_version", "restrict"]

# Same numbers on every architecture with the unified syscall table (x86_64, arm64,
# arm, riscv, powerpc, s390x); alpha and mips differ and are left out.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_MACHINES = ("x86_64", "amd64", "aarch64", "arm64", "armv7l", "armv8l", "riscv64",
             "ppc64le", "ppc64", "s390x")
_CREATE_RULESET_VERSION = 1 << 0
_RULE_PATH_BENEATH = 1

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
# remove dir/file, make char/dir/reg/sock/fifo/block/sym: bits 4 to 12
_FS_CHANGE_TREE = sum(1 << bit for bit in range(4, 13))
_FS_REFER = 1 << 13  # ABI 2
_FS_TRUNCATE = 1 << 14  # ABI 3
_FS_IOCTL_DEV = 1 << 15  # ABI 5
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_SCOPE_ABSTRACT_UNIX, _SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # the kernel's struct is packed
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_libc: ctypes.CDLL | None = None
_abi: int | None = None


def _syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    fn = _libc.syscall
    fn.restype = ctypes.c_long
    return fn


def _long(value: int) -> ctypes.c_long:
    # syscall(2) is variadic and reads longs: pass every argument at full width.
    return ctypes.c_long(value)


def abi_version() -> int:
    """The Landlock ABI this kernel offers: 0 when there is none (not Linux, an old
    kernel, Landlock not enabled at boot)."""
    global _abi
    if _abi is None:
        _abi = 0
        if sys.platform.startswith("linux") and platform.machine().lower() in _MACHINES:
            try:
                version = _syscall()(_long(_SYS_CREATE_RULESET), None, _long(0),
                                     _long(_CREATE_RULESET_VERSION))
            except (OSError, AttributeError):
                version = -1
            _abi = max(int(version), 0)
    return _abi


def _fs_rights(abi: int) -> int:
    rights = _FS_EXECUTE | _FS_WRITE_FILE | _FS_CHANGE_TREE
    if abi >= 2:
        rights |= _FS_REFER
    if abi >= 3:
        rights |= _FS_TRUNCATE
    if abi >= 5:
        rights |= _FS_IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"landlock: {what} failed: {os.strerror(err)}")
    return result


def restrict(writable: list[str], abi: int | None = None) -> list[str]:
    """Confine the calling process for good (see the module docstring); ``writable``
    folders and files keep every right but execution. ``PR_SET_NO_NEW_PRIVS`` must
    already be set. Returns what is now refused, for the record."""
    abi = abi_version() if abi is None else abi
    if abi < 1:
        raise OSError("landlock is not available on this kernel")
    fs = _fs_rights(abi)
    net = (_NET_BIND_TCP | _NET_CONNECT_TCP) if abi >= 4 else 0
    scoped = (_SCOPE_ABSTRACT_UNIX | _SCOPE_SIGNAL) if abi >= 6 else 0
    attr = _RulesetAttr(fs, net, scoped)
    # Older kernels reject fields they do not know, so pass only the known prefix.
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    call = _syscall()
    ruleset = _check(call(_long(_SYS_CREATE_RULESET), ctypes.byref(attr), _long(size),
                          _long(0)), "create_ruleset")
    try:
        for path in writable:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            allowed = fs & ~_FS_EXECUTE
            if not os.path.isdir(path):  # a file takes file rights only
                allowed &= _FS_WRITE_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
            try:
                rule = _PathBeneathAttr(allowed, fd)
                _check(call(_long(_SYS_ADD_RULE), _long(ruleset), _long(_RULE_PATH_BENEATH),
                            ctypes.byref(rule), _long(0)), f"add_rule {path!r}")
            finally:
                os.close(fd)
        _check(call(_long(_SYS_RESTRICT_SELF), _long(ruleset), _long(0)), "restrict_self")
    finally:
        os.close(ruleset)
    refused = ["file writes, creation, removal and execution outside the scratch folder"]
    if net:
        refused.append("TCP connect and bind")
    if scoped:
        refused.append("signals and abstract sockets to processes outside the sandbox")
    return refused
