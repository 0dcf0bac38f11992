"""A zygote: a process that has done a container's start-up work once and forks containers.

``python -m ketch.container.zygote``, started by the namespace runtime through its launcher in
zygote mode (`ketch.backends.nsinit`). It has imported the container agent (the interpreter's
start, ``site`` and ketch's imports are most of a cold start); with a memory snapshot it has
also imported the user's module and run its ``@enter(snap=True)`` hooks. For each container
the worker asks for, it forks a child that is pid 1 of a new pid namespace (the zygote
unshares one for that fork alone, then goes back to its own); the child joins the container's
cgroup, unshares its mount, ipc and uts namespaces exactly as the launcher would, builds the
container's own root from the host's, and forks the agent with the container's environment,
which it reaps. The zygote reaps the child and reports its end.

A spare is such a child forked ahead of demand: it has already joined a cgroup made for it
(joining one costs a kernel grace period, ~10 ms) and entered its namespaces, and waits for a
container's root, environment and output pipes; the worker sets the cgroup's limits before it
hands the spare a container. The worker says how many spares to keep (`prefork`, `drop`).

The zygote never runs an input, so every container forked from it starts from the same fresh
state. It refuses to fork when something makes that unsafe (threads, an initialised CUDA).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .. import modal_alias  # every agent imports it first: once here instead
from ..backends import nsinit
from ..protocol import zygote as wire
from ..protocol.definition import MemorySnapshot
from . import agent
from .loader import Service

PR_SET_PDEATHSIG = 1


def load(snapshot: MemorySnapshot | None) -> Service | None:
    """The user's function, imported and past its ``snap=True`` hooks (with a snapshot)."""
    if snapshot is None:
        return None
    modal_alias.install()
    service = Service(snapshot.definition, snapshot.params)
    service.snap()
    return service


def preload(modules: list[str]) -> None:
    """Import ``modules`` ahead (a web container's server); one the image lacks is left to the
    container, which says what is missing if it needs it."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def why_unsafe() -> str | None:
    """Why forking this process now would give children a broken state, or None."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return ("CUDA was initialised before the snapshot (forking after CUDA is unsafe); "
                "move GPU work to @enter(snap=False)")
    if threading.active_count() > 1:
        names = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        return (f"threads were running before the snapshot ({names}); a forked child would get "
                "their locks but not the threads")
    return None


class Zygote:
    def __init__(self, sock: socket.socket, host_root: int, service: Service | None) -> None:
        self.sock = sock
        self.host_root = host_root
        self.service = service
        self.children: dict[int, int] = {}  # pid (a container's pid 1) → request id
        self.spares: dict[int, tuple[int, socket.socket]] = {}  # request id → pid, its socket
        self.own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.retiring = False
        self.wake_r, self.wake_w = os.pipe()
        self.selector = selectors.DefaultSelector()

    def serve(self) -> None:
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.sock, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        while not (self.retiring and not self.children):
            for key, _ in self.selector.select():
                if key.fileobj == self.wake_r:
                    os.read(self.wake_r, 4096)
                    self.reap()
                elif not self.on_message():
                    return  # the worker is gone; PDEATHSIG takes the containers with us

    def on_message(self) -> bool:
        message = wire.receive_request(self.sock)
        if message is None:
            return False
        frame, fds = message
        if isinstance(frame, wire.Fork) and frame.spare is not None:
            self.hand_over(frame, fds)
        elif isinstance(frame, wire.Fork):
            request = frame
            self.fork(request.id, lambda: self.become_container(request, fds), fds)
        elif isinstance(frame, wire.Prefork):
            prefork = frame
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            fd = theirs.detach()  # the spare's alone after the fork
            pid = self.fork(prefork.id, lambda: self.become_spare(prefork, fd, ours), [fd])
            if pid is None:
                ours.close()
            else:
                self.spares[prefork.id] = (pid, ours)
        elif isinstance(frame, wire.Drop):
            self.drop_spare(frame.id)
        elif isinstance(frame, wire.Retire):
            self.retiring = True
            for request_id in list(self.spares):
                self.drop_spare(request_id)
        return True

    def fork(self, request_id: int, become: Callable[[], None], fds: list[int]) -> int | None:
        """Fork a child, pid 1 of a new pid namespace, that runs ``become``; ``fds`` are the
        child's alone afterwards."""
        sys.stdout.flush()
        sys.stderr.flush()
        gc.freeze()  # the child's collections then skip the zygote's objects: no page copies
        try:
            pid = fork_init(self.own_pid_ns)
        except OSError as exc:
            self.tell(wire.ForkFailed(id=request_id, reason=str(exc)))
            return None
        if pid == 0:
            become()
        for fd in fds:
            os.close(fd)
        self.children[pid] = request_id
        self.tell(wire.Forked(id=request_id, pid=pid))
        return pid

    def hand_over(self, request: wire.Fork, fds: list[int]) -> None:
        """Give the spare its container: the request goes to its pid 1, which waits for it."""
        spare = self.spares.pop(request.spare, None) if request.spare is not None else None
        try:
            if spare is None:
                raise OSError("no such spare")
            wire.send(spare[1], request, fds)
        except OSError as exc:
            self.tell(wire.ForkFailed(id=request.id, reason=f"the spare is gone: {exc}"))
            return
        finally:
            for fd in fds:
                os.close(fd)
            if spare is not None:
                spare[1].close()
        self.children[spare[0]] = request.id
        self.tell(wire.Forked(id=request.id, pid=spare[0]))

    def drop_spare(self, request_id: int) -> None:
        """The spare sees its socket close and exits; its end is reported as usual."""
        spare = self.spares.pop(request_id, None)
        if spare is not None:
            spare[1].close()

    def tell(self, frame: wire.FromZygote) -> None:
        wire.send(self.sock, frame)

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            request_id = self.children.pop(pid, None)
            if request_id is not None:
                self.drop_spare(request_id)  # a spare that died waiting
                self.tell(wire.Exited(id=request_id, status=init_status(status)))

    def become_container(self, request: wire.Fork, fds: list[int]) -> None:
        """In the fork, pid 1 already: the launcher's steps, then the agent. Never returns."""
        try:
            self.leave_zygote()
            take_stdio(fds)
            nsinit.enter_namespaces(request.config, pid=False)
            start_container(request.config, request.env, self.service)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(125)

    def become_spare(self, prefork: wire.Prefork, fd: int, zygote_end: socket.socket) -> None:
        """In the fork, pid 1 already: join the cgroup and namespaces now, then wait for a
        container (or for the socket to close: the spare was not needed). Never returns."""
        try:
            requests = socket.socket(fileno=fd)
            zygote_end.close()  # else the zygote closing its end would never end the wait
            self.leave_zygote()
            take_stdio([])
            nsinit.enter_namespaces({"cgroup_procs": prefork.cgroup_procs}, pid=False)
            message = wire.receive_request(requests)
            if message is None or not isinstance(request := message[0], wire.Fork):
                os._exit(0)
            requests.close()
            fds = message[1]
            take_stdio(fds)
            start_container(request.config, request.env, self.service)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(125)

    def leave_zygote(self) -> None:
        """Drop the zygote's signal handling and descriptors, and go back to the host's root,
        from which the container's own root is built."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        nsinit.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        self.selector.close()
        self.sock.close()
        for _, theirs in self.spares.values():
            theirs.close()
        os.close(self.own_pid_ns)
        os.close(self.wake_r)
        os.close(self.wake_w)
        os.fchdir(self.host_root)
        os.chroot(".")
        os.close(self.host_root)


def fork_init(own_pid_ns: int) -> int:
    """``os.fork``, the child being pid 1 of a new pid namespace; the caller's later children
    are born in its own namespace again (``own_pid_ns``: a descriptor of it)."""
    nsinit.check(nsinit.libc.unshare(nsinit.CLONE_NEWPID), "unshare")
    try:
        pid = os.fork()
    except OSError:
        nsinit.check(nsinit.libc.setns(own_pid_ns, nsinit.CLONE_NEWPID), "setns")
        raise
    if pid != 0:
        nsinit.check(nsinit.libc.setns(own_pid_ns, nsinit.CLONE_NEWPID), "setns")
    return pid


def init_status(status: int) -> int:
    """A container's end as its pid 1's wait status tells it, with an agent killed by signal N
    reported as that signal: pid 1 cannot die of a signal it sends itself, so it exits with
    128 + N (`nsinit.reap`), which the launcher's parent turns back into the signal."""
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) > 128:
        return os.WEXITSTATUS(status) - 128
    return status


def take_stdio(fds: list[int]) -> None:
    """stdin from /dev/null; stdout and stderr to the container's pipes, when given."""
    null = os.open("/dev/null", os.O_RDONLY)
    for target, fd in ((0, null), *zip((1, 2), fds)):
        os.dup2(fd, target)
        os.close(fd)


def start_container(config: dict[str, Any], env: dict[str, str], service: Service | None) -> None:
    """As pid 1 of the container: its root, then the agent in a child, reaped. Never returns."""
    nsinit.setup(config)
    agent_pid = os.fork()
    if agent_pid == 0:
        run_agent(env, service)
    nsinit.reap(agent_pid)


def run_agent(env: dict[str, str], service: Service | None) -> None:
    """The agent, in the container's environment. Never returns."""
    os.environ.clear()
    os.environ.update(env)
    code = 0
    try:
        agent.main(service)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main() -> None:
    sock = socket.socket(fileno=int(os.environ.pop("KETCH_ZYGOTE_FD")))
    host_root = int(os.environ.pop("KETCH_HOST_ROOT_FD"))
    prepared = wire.read_prepare(sys.stdin.buffer.read())
    try:
        preload(prepared.preload)
        service = load(prepared.snapshot)
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        wire.send(sock, wire.Failed(reason=reason))
        traceback.print_exc()
        sys.exit(1)
    unsafe = why_unsafe()
    if unsafe:
        wire.send(sock, wire.Failed(reason=unsafe))
        sys.exit(1)
    gc.collect()  # what the preparation left behind, collected before the first fork
    wire.send(sock, wire.Ready(pid=os.getpid()))
    Zygote(sock, host_root, service).serve()


if __name__ == "__main__":
    main()
