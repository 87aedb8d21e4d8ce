"""The seccomp filter of the local executor's sandboxes (bubblewrap's `--seccomp FD`).

A classic-BPF program, built here (no libseccomp needed), that makes the calls a job has no use
for fail with EPERM: creating or entering namespaces (unshare, setns, clone with a CLONE_NEW*
flag), mounting (mount, umount2, pivot_root, the new mount API), tracing other processes
(ptrace, process_vm_readv/writev), kernel keyrings, bpf, perf events, kernel modules and kexec,
open_by_handle_at, userfaultfd, swap, quotas, reboot and the clock. clone3 answers ENOSYS, since
its flags cannot be inspected, so the C library falls back to clone (as Docker's default
profile does). Other architectures than the one the filter is built for, and x32 calls, are
killed. Built for x86_64 and arm64; on another architecture no sandbox starts (fail closed). The
docker and kubernetes executors use the runtime's default profile (RuntimeDefault).
"""

import errno
import platform
import struct
from dataclasses import dataclass

# classic BPF
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JSET_K = 0x45
_JGE_K = 0x35
_RET_K = 0x06

_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000

_NR, _ARCH, _ARG0 = 0, 4, 16  # offsets in struct seccomp_data (little endian: low word of args[0])

_CLONE_NEW = (
    0x00020000  # NEWNS
    | 0x02000000  # NEWCGROUP
    | 0x04000000  # NEWUTS
    | 0x08000000  # NEWIPC
    | 0x10000000  # NEWUSER
    | 0x20000000  # NEWPID
    | 0x40000000  # NEWNET
)


@dataclass(frozen=True)
class _Table:
    arch: int  # AUDIT_ARCH_*
    clone: int
    clone3: int
    denied: dict[str, int]


_X86_64 = _Table(
    arch=0xC000003E,  # AUDIT_ARCH_X86_64
    clone=56,
    clone3=435,
    denied={
        "ptrace": 101,
        "syslog": 103,
        "acct": 163,
        "settimeofday": 164,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "pivot_root": 155,
        "clock_settime": 227,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "unshare": 272,
        "perf_event_open": 298,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "finit_module": 313,
        "kexec_file_load": 320,
        "bpf": 321,
        "userfaultfd": 323,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
        "io_uring_setup": 425,  # a second way into most calls, past this filter
        "io_uring_enter": 426,
        "io_uring_register": 427,
    },
)
# arm64 (the generic table): not exercised here, kept to the kernel's asm-generic/unistd.h
_AARCH64 = _Table(
    arch=0xC00000B7,  # AUDIT_ARCH_AARCH64
    clone=220,
    clone3=435,
    denied={
        "quotactl": 60,
        "umount2": 39,
        "mount": 40,
        "pivot_root": 41,
        "acct": 89,
        "unshare": 97,
        "kexec_load": 104,
        "init_module": 105,
        "delete_module": 106,
        "clock_settime": 112,
        "syslog": 116,
        "ptrace": 117,
        "reboot": 142,
        "settimeofday": 170,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "swapon": 224,
        "swapoff": 225,
        "perf_event_open": 241,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "finit_module": 273,
        "bpf": 280,
        "userfaultfd": 282,
        "kexec_file_load": 294,
        "io_uring_setup": 425,
        "io_uring_enter": 426,
        "io_uring_register": 427,
        "open_tree": 428,
        "move_mount": 429,
        "fsopen": 430,
        "fsconfig": 431,
        "fsmount": 432,
        "fspick": 433,
        "mount_setattr": 442,
    },
)
_TABLES = {"x86_64": _X86_64, "aarch64": _AARCH64}
X32_BIT = 0x40000000


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def supported() -> bool:
    return platform.machine() in _TABLES


def denied_calls() -> list[str]:
    table = _TABLES.get(platform.machine())
    return sorted([*table.denied, "clone (new namespaces)", "clone3"]) if table else []


def program() -> bytes:
    """The compiled filter for this machine's architecture."""
    table = _TABLES[platform.machine()]
    eperm, enosys = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    code = [
        _insn(_LD_W_ABS, _ARCH),
        _insn(_JEQ_K, table.arch, 1, 0),
        _insn(_RET_K, _KILL_PROCESS),
        _insn(_LD_W_ABS, _NR),
        _insn(_JGE_K, X32_BIT, 0, 1),
        _insn(_RET_K, _KILL_PROCESS),
    ]
    for number in sorted(table.denied.values()):
        code += [_insn(_JEQ_K, number, 0, 1), _insn(_RET_K, eperm)]
    code += [_insn(_JEQ_K, table.clone3, 0, 1), _insn(_RET_K, enosys)]
    code += [
        _insn(_JEQ_K, table.clone, 0, 4),
        _insn(_LD_W_ABS, _ARG0),
        _insn(_JSET_K, _CLONE_NEW, 0, 1),
        _insn(_RET_K, eperm),
        _insn(_RET_K, _ALLOW),
        _insn(_RET_K, _ALLOW),
    ]
    return b"".join(code)
