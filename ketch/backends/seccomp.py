"""The seccomp filter a sandbox's command runs under: the system calls a sandbox never needs
fail with EPERM, everything else is allowed (a deny list, as Docker's default profile is in
effect, so that ordinary programs, pip and compilers run unchanged).

Denied: mounting and pivoting (mount, umount2, pivot_root, chroot, the new mount API),
namespaces (unshare, setns, clone with a CLONE_NEW* flag; clone3 answers ENOSYS so that libc
falls back to clone, whose flags the filter can read), other processes' memory (ptrace,
process_vm_readv/writev, kcmp, pidfd_getfd), the kernel itself (modules, kexec, bpf, keyrings,
perf_event_open, userfaultfd, io_uring, syslog, reboot, swap, quotas, acct, clock and host
names, file handles, I/O ports), personality other than PER_LINUX, packet sockets and raw
IPv4/IPv6 sockets, x32 system calls. A system call of another architecture (i386 from x86_64,
AArch32 from aarch64) kills the process.

It imports only the standard library: the launcher (`nsinit.py`) runs under ``python -S``.
"""

import ctypes
import os
import struct

AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000

# Denied outright, by name, then each architecture's numbers.
DENIED = (
    "mount", "umount2", "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick",
    "move_mount", "open_tree", "open_tree_attr", "mount_setattr", "unshare", "setns",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "create_module", "get_kernel_syms", "query_module", "uselib", "bpf", "keyctl", "add_key",
    "request_key", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
    "io_uring_register", "syslog", "reboot", "swapon", "swapoff", "quotactl", "quotactl_fd",
    "acct", "sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm",
    "nfsservctl", "_sysctl", "sysfs", "ustat", "fanotify_init",
)
SYSCALLS = {
    "x86_64": {
        "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "open_tree_attr": 467, "mount_setattr": 442, "unshare": 272, "setns": 308,
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
        "pidfd_getfd": 438, "kexec_load": 246, "kexec_file_load": 320, "init_module": 175,
        "finit_module": 313, "delete_module": 176, "create_module": 174,
        "get_kernel_syms": 177, "query_module": 178, "uselib": 134, "bpf": 321, "keyctl": 250,
        "add_key": 248, "request_key": 249, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "syslog": 103,
        "reboot": 169, "swapon": 167, "swapoff": 168, "quotactl": 179, "quotactl_fd": 443,
        "acct": 163, "sethostname": 170, "setdomainname": 171, "settimeofday": 164,
        "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159,
        "open_by_handle_at": 304, "name_to_handle_at": 303, "lookup_dcookie": 212,
        "iopl": 172, "ioperm": 173, "nfsservctl": 180, "_sysctl": 156, "sysfs": 139,
        "ustat": 136, "fanotify_init": 300,
        "clone": 56, "clone3": 435, "personality": 135, "socket": 41,
    },
    "aarch64": {  # the generic table (asm-generic/unistd.h): no iopl, _sysctl & co
        "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "move_mount": 429, "open_tree": 428,
        "open_tree_attr": 467, "mount_setattr": 442, "unshare": 97, "setns": 268,
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "kcmp": 272,
        "pidfd_getfd": 438, "kexec_load": 104, "kexec_file_load": 294, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "bpf": 280, "keyctl": 219, "add_key": 217,
        "request_key": 218, "perf_event_open": 241, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "syslog": 116,
        "reboot": 142, "swapon": 224, "swapoff": 225, "quotactl": 60, "quotactl_fd": 443,
        "acct": 89, "sethostname": 161, "setdomainname": 162, "settimeofday": 170,
        "clock_settime": 112, "clock_adjtime": 266, "adjtimex": 171,
        "open_by_handle_at": 265, "name_to_handle_at": 264, "lookup_dcookie": 18,
        "nfsservctl": 42, "fanotify_init": 262,
        "clone": 220, "clone3": 435, "personality": 92, "socket": 198,
    },
}
CLONE_NEW_FLAGS = 0x7E020000  # NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
PER_LINUX, PER_QUERY = 0, 0xFFFFFFFF
AF_INET, AF_INET6, AF_PACKET, SOCK_RAW, SOCK_TYPE_MASK = 2, 10, 17, 3, 0xF
EPERM, ENOSYS = 1, 38

# Classic BPF, as seccomp reads it: struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6]}
LD_ABS, JEQ, JGE, JSET, AND, RET = 0x20, 0x15, 0x35, 0x45, 0x54, 0x06
OFFSET_NR, OFFSET_ARCH = 0, 4
RET_KILL_PROCESS, RET_ALLOW = 0x80000000, 0x7FFF0000
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def arg(index):
    """Where the low 32 bits of system-call argument ``index`` are (little-endian)."""
    return 16 + 8 * index


def errno(code):
    return 0x00050000 | code


def program(machine=None):
    """The filter for ``machine`` (this one by default) as a list of (code, jt, jf, k)."""
    machine = machine or os.uname().machine
    if machine not in SYSCALLS:
        raise OSError(f"no seccomp filter for {machine}: sandboxes run on x86_64 and aarch64")
    numbers = SYSCALLS[machine]
    allow, deny = (RET, 0, 0, RET_ALLOW), (RET, 0, 0, errno(EPERM))
    insns = [(LD_ABS, 0, 0, OFFSET_ARCH), (JEQ, 1, 0, AUDIT_ARCH[machine]),
             (RET, 0, 0, RET_KILL_PROCESS), (LD_ABS, 0, 0, OFFSET_NR)]
    if machine == "x86_64":  # x32 system calls: the same numbers with bit 30 set
        insns += [(JGE, 0, 1, X32_SYSCALL_BIT), deny]
    for name in DENIED:
        if name in numbers:
            insns += [(JEQ, 0, 1, numbers[name]), deny]
    insns += [(JEQ, 0, 1, numbers["clone3"]), (RET, 0, 0, errno(ENOSYS))]
    checks = {  # each block starts with the number in A and ends in a return
        "clone": [(LD_ABS, 0, 0, arg(0)), (JSET, 0, 1, CLONE_NEW_FLAGS), deny, allow],
        "personality": [(LD_ABS, 0, 0, arg(0)), (JEQ, 2, 0, PER_LINUX),
                        (JEQ, 1, 0, PER_QUERY), deny, allow],
        "socket": [(LD_ABS, 0, 0, arg(0)), (JEQ, 5, 0, AF_PACKET), (JEQ, 1, 0, AF_INET),
                   (JEQ, 0, 4, AF_INET6), (LD_ABS, 0, 0, arg(1)), (AND, 0, 0, SOCK_TYPE_MASK),
                   (JEQ, 0, 1, SOCK_RAW), deny, allow],
    }
    for name, block in checks.items():
        insns += [(JEQ, 0, len(block), numbers[name]), *block]
    insns.append(allow)
    return insns


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install(machine=None):
    """Set no_new_privs and load the filter on this thread (the launcher has no other)."""
    libc = ctypes.CDLL(None, use_errno=True)
    insns = program(machine)
    code = b"".join(struct.pack("=HBBI", *insn) for insn in insns)
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = SockFprog(len(insns), ctypes.cast(buffer, ctypes.c_void_p))
    zero = ctypes.c_ulong(0)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), zero, zero, zero) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(PR_SET_SECCOMP, ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                  zero, zero) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp filter: {os.strerror(err)}")
