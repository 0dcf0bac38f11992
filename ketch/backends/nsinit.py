"""Start a command inside new namespaces on an overlay root: the `namespace` runtime's launcher.

Run as ``python -S nsinit.py CONFIG COMMAND...``, CONFIG being the hex of a `marshal`-ed dict
(marshal is built in: json would cost its import, ~10 ms, on every container start). It imports
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

CONFIG keys: ``cgroup_procs`` (files to write our pid to), ``net`` (bool), ``hostname``,
``overlays`` (list of ``[lowerdirs, upper, work, target]``, mounted in order; ``upper`` None
for a read-only one), ``root``
(the merged root), ``masks`` (host paths hidden under an empty tmpfs), ``binds`` (list of
``[source, target, read_only]``), ``devices`` (extra /dev nodes), ``workdir``, ``zygote``.
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


def mount_root(config):
    """Mount the container's root filesystem under ``config["root"]``, without entering it."""
    root = config["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for lower, upper, work, target in config["overlays"]:
        os.makedirs(target, exist_ok=True)
        options = f"lowerdir={':'.join(lower)}"
        if upper:
            options += f",upperdir={upper},workdir={work}"
        mount("overlay", target, "overlay", MS_RDONLY if not upper else 0, options)
    proc = os.path.join(root, "proc")
    mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    build_dev(os.path.join(root, "dev"), config.get("devices", []))
    sys_dir = os.path.join(root, "sys")
    mount("/sys", sys_dir, None, MS_BIND | MS_REC)
    mount(None, sys_dir, None, MS_BIND | MS_REMOUNT | MS_RDONLY)
    for path in config.get("masks", []):
        inside = os.path.join(root, path.lstrip("/"))
        if os.path.isdir(inside):
            mount("tmpfs", inside, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64k")
    for source, target, read_only in config["binds"]:
        inside = os.path.join(root, target.lstrip("/"))
        if os.path.isdir(source):
            os.makedirs(inside, exist_ok=True)
        elif not os.path.exists(inside):
            os.makedirs(os.path.dirname(inside), exist_ok=True)
            open(inside, "a").close()
        mount(source, inside, None, MS_BIND | MS_REC)
        if read_only:
            mount(None, inside, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


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


def enter_namespaces(config):
    """Join the cgroups and unshare; the next child forked is pid 1 of the container."""
    join_cgroups(config)
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if config.get("net"):
        flags |= CLONE_NEWNET
    check(libc.unshare(flags), "unshare")


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
    except OSError as exc:
        sys.stderr.write(f"ketch: the container could not be set up: {exc}\n")
        os._exit(125)


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


def run(command):
    child = os.fork()
    if child == 0:
        try:
            os.execvp(command[0], command)
        except OSError as exc:
            sys.stderr.write(f"ketch: cannot run {command[0]}: {exc}\n")
            os._exit(127)
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


def main():
    config = marshal.loads(bytes.fromhex(sys.argv[1]))
    command = sys.argv[2:]
    if config.get("zygote"):
        start_zygote(config, command)
    enter_namespaces(config)
    child = os.fork()
    if child == 0:
        setup(config)
        run(command)
    mirror(child)


if __name__ == "__main__":
    main()
