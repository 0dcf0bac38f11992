"""Start a command inside new namespaces on an overlay root: the `namespace` runtime's launcher.

Run as ``python -S nsinit.py CONFIG COMMAND...``, CONFIG being the hex of a `marshal`-ed dict
(marshal is built in: json would cost its import, ~10 ms, on every container start), or ``-``
for the same in ``KETCH_LAUNCH``, which the command does not inherit. It imports
nothing from ketch, only the standard library, so that it starts in a few milliseconds. A
zygote (`ketch.container.zygote`) imports it to take the same steps from a forked process.

1. join the container's cgroups (so everything it starts is accounted and limited);
2. unshare mount, pid, ipc and uts namespaces (and net, if asked);
3. fork: the child is pid 1 of the new pid namespace. It mounts the root filesystem (an
   overlay of the image layers over the host, with the container's scratch as upper layer),
   a fresh /proc, /dev, a private /dev/shm, a read-only /sys and the binds it was given,
   pivots into it, and forks the command. It then reaps orphans and forwards SIGTERM/SIGINT
   until the command exits, and exits with the command's status (128 + N for signal N);
4. the launcher mirrors that status: it exits with the same code, or kills itself with the
   same signal, so the worker sees what the command saw.

With ``zygote`` set in CONFIG it starts a zygote instead: only a mount namespace, the same
root mounted but entered with chroot rather than pivot_root, and the host's root kept open as
the descriptor named by ``KETCH_HOST_ROOT_FD``, from which each forked container builds its own
root exactly as step 3 does.

With ``sandbox`` set (a sandbox: code nobody vouched for) it also hardens the container:
it joins the network namespace ``netns`` (a file for setns(2)) or, with ``net``, a new one
whose loopback is up; sysfs is a fresh read-only one; /proc is hardened as Docker does it
(read-only /proc/sys, /proc/sysrq-trigger, /proc/irq, /proc/bus, /proc/fs; kcore, keys,
kallsyms, timer_list, sched_debug and the like masked); pid 1 becomes non-dumpable, so that
/proc/1/{mem,root,exe} cannot be used against it, and drops its capabilities once the command
is started. The command becomes the unprivileged ``user`` (uid and gid: sandbox code never
runs as root, so a host file only root may read stays unread even where it is in sight), drops
every capability (bounding, ambient, effective, permitted, inheritable; locked by securebits),
sets no_new_privs and runs under the seccomp filter of `seccomp.py`.

With ``gvisor`` set it launches runsc for the `gvisor` runtime instead (`start_gvisor`): the
cgroups, a mount namespace with the root mounted in it (no /proc, /dev or /sys: gVisor makes
its own), and then runsc itself, in place of the launcher.

CONFIG keys: ``cgroup_procs`` (files to write our pid to), ``net`` (bool), ``hostname``,
``overlays`` (list of ``[lowerdirs, upper, work, target]``, mounted in order; ``upper`` None
for a read-only one), ``root``
(the merged root), ``masks`` (host paths hidden under an empty tmpfs), ``binds`` (list of
``[source, target, read_only]``), ``devices`` (extra /dev nodes), ``workdir``, ``zygote``,
``sandbox`` (bool), ``netns`` (a network namespace to join, for a sandbox), ``user``
(``[uid, gid]`` a sandbox's command runs as), ``gvisor``.
"""

import ctypes
import marshal
import os
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine, 155)
SYS_CAPSET = {"x86_64": 126, "aarch64": 91}.get(os.uname().machine, 126)
PR_SET_DUMPABLE = 4
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
# NOROOT, NO_SETUID_FIXUP and NO_CAP_AMBIENT_RAISE, each locked; KEEP_CAPS locked off
SECURE_BITS = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
# What a sandbox may not change in /proc, and what it may not read at all (as Docker).
PROC_READ_ONLY = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
MASKED = ("/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
          "/proc/kallsyms", "/proc/kmsg", "/proc/latency_stats", "/proc/sched_debug",
          "/proc/scsi", "/proc/timer_list", "/proc/timer_stats", "/proc/vmallocinfo",
          "/sys/firmware", "/sys/devices/virtual/powercap")

libc = ctypes.CDLL(None, use_errno=True)


def check(result, what):
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source, target, fstype, flags=0, data=None):
    check(
        libc.mount(
            source.encode() if source else None, target.encode(),
            fstype.encode() if fstype else None, flags, data.encode() if data else None,
        ),
        f"mount {target}",
    )


def mount_root(config, system=True):
    """Mount the container's root filesystem under ``config["root"]``, without entering it;
    with ``system`` False, without /proc, /dev and /sys (gVisor makes its own)."""
    root = config["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for lower, upper, work, target in config["overlays"]:
        os.makedirs(target, exist_ok=True)
        options = f"lowerdir={':'.join(lower)}"
        if upper:
            options += f",upperdir={upper},workdir={work}"
        mount("overlay", target, "overlay", MS_RDONLY if not upper else 0, options)
    if system:
        proc = inside(root, "/proc", make=True)
        mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        build_dev(inside(root, "/dev", make=True), config.get("devices", []))
        sys_dir = inside(root, "/sys", make=True)
        if config.get("sandbox"):  # its own, read-only, without the host's cgroup mounts
            mount("sysfs", sys_dir, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
        else:
            mount("/sys", sys_dir, None, MS_BIND | MS_REC)
            mount(None, sys_dir, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    for path in config.get("masks", []):
        hidden = inside(root, path)
        if os.path.isdir(hidden):
            mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
    for source, target, read_only in config["binds"]:
        point = inside(root, target)
        if os.path.isdir(source):
            os.makedirs(point, exist_ok=True)
        elif not os.path.lexists(point):
            os.makedirs(os.path.dirname(point), exist_ok=True)
            open(point, "a").close()
        mount(source, point, None, MS_BIND | MS_REC)
        if read_only:
            mount(None, point, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def inside(root, path, make=False):
    """Where ``path`` of the container lies under ``root``, following the image's symbolic
    links as the container will, within ``root`` (an absolute link starts again at
    ``root``, ``..`` stops there): never through a link to somewhere on the host. With
    ``make``, a missing folder is made."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    current, links = root, 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current if current == root else os.path.dirname(current)
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            links += 1
            if links > 40:
                raise OSError(40, f"too many symbolic links in {path}")
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            current = root if target.startswith("/") else current
            continue
        current = candidate
    if make and not os.path.lexists(current):
        os.makedirs(current)
    return current


def pivot(root):
    """Make ``root`` the root of this mount namespace and drop every path to the old one."""
    old = os.path.join(root, ".ketch-old-root")
    os.makedirs(old, exist_ok=True)
    check(libc.syscall(SYS_PIVOT_ROOT, root.encode(), old.encode()), "pivot_root")
    os.chdir("/")
    check(libc.umount2(b"/.ketch-old-root", MNT_DETACH), "umount old root")
    os.rmdir("/.ketch-old-root")


def build_dev(dev, devices):
    """A minimal /dev: the standard character devices, a private /dev/shm and /dev/pts, and
    the extra device nodes the container was given (its GPUs), never the host's disks."""
    mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=64k")
    for name in ("null", "zero", "full", "random", "urandom", "tty", *devices):
        source = name if name.startswith("/") else "/dev/" + name
        if not os.path.exists(source):
            continue
        target = os.path.join(dev, os.path.relpath(source, "/dev"))
        open(target, "a").close()
        mount(source, target, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, os.path.join(dev, name))
    for name in ("shm", "pts"):
        os.mkdir(os.path.join(dev, name))
    mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
          "newinstance,ptmxmode=0666,mode=620")
    os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))


def wait_status(status):
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def join_cgroups(config):
    pid = str(os.getpid())
    for path in config["cgroup_procs"]:
        with open(path, "w") as f:
            f.write(pid)


def enter_namespaces(config, pid=True):
    """Join the cgroups and unshare; the next child forked is pid 1 of the container (without
    ``pid``: this process is pid 1 of a new pid namespace already, forked by a zygote)."""
    join_cgroups(config)
    flags = CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (CLONE_NEWPID if pid else 0)
    if config.get("netns"):
        join_netns(config["netns"])
    elif config.get("net"):
        flags |= CLONE_NEWNET
    check(libc.unshare(flags), "unshare")
    if config.get("net") and config.get("sandbox") and not config.get("netns"):
        loopback_up()


def join_netns(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        check(libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)


def loopback_up():
    """Bring up ``lo`` of a new network namespace (it starts down)."""
    fd = libc.socket(2, 2, 0)  # AF_INET, SOCK_DGRAM: any socket takes interface ioctls
    if fd < 0:
        check(fd, "socket")
    try:
        ifreq = ctypes.create_string_buffer(b"lo", 40)  # struct ifreq: name, then the flags
        check(libc.ioctl(fd, SIOCGIFFLAGS, ifreq), "SIOCGIFFLAGS lo")
        flags = int.from_bytes(ifreq.raw[16:18], sys.byteorder) | IFF_UP
        ifreq[16:18] = flags.to_bytes(2, sys.byteorder)
        check(libc.ioctl(fd, SIOCSIFFLAGS, ifreq), "SIOCSIFFLAGS lo")
    finally:
        os.close(fd)


def setup(config):
    """As pid 1: build and enter the root, name the host, go to the working directory. A
    failure is reported on stderr and ends the container with status 125."""
    try:
        mount_root(config)
        pivot(config["root"])
        name = config.get("hostname", "ketch").encode()
        check(libc.sethostname(name, len(name)), "sethostname")
        workdir = config.get("workdir") or "/"
        os.makedirs(workdir, exist_ok=True)
        os.chdir(workdir)
        if config.get("sandbox"):
            harden()
    except OSError as exc:
        sys.stderr.write(f"ketch: the container could not be set up: {exc}\n")
        os._exit(125)


def harden():
    """As a sandbox's pid 1, in its root: /proc and /sys as Docker leaves them, and itself
    out of reach of /proc/1 (non-dumpable)."""
    for path in PROC_READ_ONLY:
        if os.path.exists(path):
            mount(path, path, None, MS_BIND | MS_REC)
            mount(None, path, None,
                  MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in MASKED:
        if os.path.isdir(path):
            mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "size=4k,mode=555")
        elif os.path.exists(path):
            mount("/dev/null", path, None, MS_BIND)
    prctl(PR_SET_DUMPABLE, 0)


def prctl(option, *args):
    args = [ctypes.c_ulong(a) for a in args] + [ctypes.c_ulong(0)] * (4 - len(args))
    check(libc.prctl(option, *args), f"prctl({option})")


def drop_capabilities(user=None):
    """Every capability gone for good: the bounding and ambient sets emptied, the securebits
    that would give root its capabilities back locked, then (with ``user``, ``[uid, gid]``)
    that user and its group alone become ours, and the effective, permitted and inheritable
    sets are cleared (the change of user needs CAP_SETUID and CAP_SETGID, kept till then)."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_SET_SECUREBITS, SECURE_BITS)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    if user is not None:
        uid, gid = user
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    header = ctypes.create_string_buffer((0x20080522).to_bytes(4, sys.byteorder), 8)
    data = ctypes.create_string_buffer(24)  # two of {effective, permitted, inheritable}
    check(libc.syscall(SYS_CAPSET, header, data), "capset")


def confine(user):
    """In a sandbox's command, before its exec: ``user`` (``[uid, gid]``), no capabilities,
    no new privileges, and the seccomp filter. Nothing of the command runs if any of it
    fails."""
    try:
        drop_capabilities(user)
        load_seccomp().install()
    except OSError as exc:
        sys.stderr.write(f"ketch: the sandbox could not be confined: {exc}\n")
        os._exit(125)


def load_seccomp():
    """`seccomp.py`, beside this file, imported as ketch.backends.nsinit or run as a script
    (then this file's folder is first on sys.path)."""
    if __package__:
        from . import seccomp
    else:
        import seccomp
    return seccomp


def forward_signals(child):
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: os.kill(child, s))


def reap(child):
    """As pid 1: reap every orphan until ``child`` exits, then exit with its status."""
    forward_signals(child)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == child:
            os._exit(wait_status(status))


def mirror(child):
    """Wait for ``child`` (pid 1) and end the same way it did."""
    forward_signals(child)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = wait_status(status)
    if code > 128:
        if code - 128 not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(code - 128, signal.SIG_DFL)
        os.kill(os.getpid(), code - 128)
    os._exit(code)


def run(command, sandbox=False, user=None):
    child = os.fork()
    if child == 0:
        if sandbox:
            confine(user)
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"ketch: cannot run {command[0]}: {exc}\n")
            os._exit(127)
    if sandbox:  # pid 1 needs none of them to reap and to forward signals
        try:
            drop_capabilities()
        except OSError as exc:
            sys.stderr.write(f"ketch: the sandbox's init kept its capabilities: {exc}\n")
            os.kill(child, signal.SIGKILL)
    reap(child)


def start_zygote(config, command):
    """A zygote's own mounts: the container root, entered with chroot; the host root kept."""
    check(libc.unshare(CLONE_NEWNS), "unshare")
    mount_root(config)
    host = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    os.set_inheritable(host, True)
    os.environ["KETCH_HOST_ROOT_FD"] = str(host)
    os.chroot(config["root"])
    workdir = config.get("workdir") or "/"
    os.makedirs(workdir, exist_ok=True)
    os.chdir(workdir)
    os.execvp(command[0], command)


def load_config():
    """CONFIG from the command line, or with ``-`` from ``KETCH_LAUNCH``: a sandbox's, which
    its code would otherwise read in /proc/1/cmdline (host paths, its cgroup's names)."""
    if sys.argv[1] == "-":
        return marshal.loads(bytes.fromhex(os.environ.pop("KETCH_LAUNCH")))
    return marshal.loads(bytes.fromhex(sys.argv[1]))


def main():
    config = load_config()
    command = sys.argv[2:]
    if config.get("gvisor"):
        start_gvisor(config, command)
    if config.get("zygote"):
        start_zygote(config, command)
    if config.get("sandbox"):
        load_seccomp()  # now, while its file is in sight
    enter_namespaces(config)
    child = os.fork()
    if child == 0:
        setup(config)
        run(command, config.get("sandbox", False), config.get("user"))
    mirror(child)


def start_gvisor(config, command):
    """A gVisor sandbox's launcher: in the sandbox's cgroup (so its limits hold for gVisor's
    own processes too) and in a mount namespace of its own holding the sandbox's root
    (overlays, masks, binds; gVisor makes /proc, /dev and /sys itself), it becomes
    ``command`` (runsc), which serves that root. runsc stays in the host's network namespace,
    where ``runsc kill`` reaches it; its sentry joins ``netns``, named in the OCI spec."""
    try:
        join_cgroups(config)
        check(libc.unshare(CLONE_NEWNS), "unshare")
        mount_root(config, system=False)
        if config.get("netns"):
            unmark_root_netns(config["netns"])
        os.execvp(command[0], command)
    except OSError as exc:
        sys.stderr.write(f"ketch: the sandbox could not be set up: {exc}\n")
        os._exit(125)


def unmark_root_netns(path):
    """runsc before 2024 takes a network namespace with /proc/sys/net/core/rmem_default for
    the host's and refuses it (gVisor issue 10704); since Linux 6.7 every one has that file.
    Hide it in ``path``'s namespace, for runsc only: this mount namespace is runsc's own."""
    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        join_netns(path)
        mount("tmpfs", "/proc/sys/net/core", "tmpfs", MS_RDONLY, "size=4k,mode=555")
        check(libc.setns(host, CLONE_NEWNET), "setns back")
    finally:
        os.close(host)


if __name__ == "__main__":
    main()
