"""A zygote: a process that has done a container's start-up work once and forks containers.

``python -m ketch.container.zygote``, started by the namespace runtime through its launcher in
zygote mode (`ketch.backends.nsinit`). It has imported the container agent (the interpreter's
start, ``site`` and ketch's imports are most of a cold start); with a memory snapshot it has
also imported the user's module and run its ``@enter(snap=True)`` hooks. For each container
the worker asks for, it forks; the child enters the container's cgroup and new namespaces
exactly as the launcher would, builds the container's own root from the host's, and becomes
the agent with the container's environment.

A spare is such a child forked ahead of demand: it has already joined a cgroup made for it
(joining one costs a kernel grace period, ~10 ms) and unshared its namespaces, and its pid 1
waits for a container's root, environment and output pipes; the worker sets the cgroup's
limits before it hands the spare a container.

The zygote never runs an input, so every container forked from it starts from the same fresh
state. It refuses to fork when something makes that unsafe (threads, an initialised CUDA).
"""

from __future__ import annotations

import atexit
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
    from .. import modal_alias

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
        self.children: dict[int, int] = {}  # pid → request id
        self.spare: tuple[int, int, socket.socket] | None = None  # request id, pid, its socket
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
        message = wire.receive(self.sock)
        if message is None:
            return False
        kind, body, fds = message
        if kind == wire.FORK and body.get("spare") is not None:
            self.hand_over(body, fds)
        elif kind == wire.FORK:
            self.fork(body, lambda: self.become_container(body, fds), fds)
        elif kind == wire.PREFORK and self.spare is None:
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            fd = theirs.detach()  # the spare's alone after the fork
            pid = self.fork(body, lambda: self.become_spare(body, fd), [fd])
            if pid is None:
                ours.close()
            else:
                self.spare = (body["id"], pid, ours)
        elif kind == wire.RETIRE:
            self.retiring = True
            self.drop_spare()
        return True

    def fork(self, body: dict[str, Any], become: Callable[[], None],
             fds: list[int]) -> int | None:
        """Fork a child that runs ``become``; ``fds`` are the child's alone afterwards."""
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            self.tell(wire.FORK_FAILED, id=body["id"], reason=str(exc))
            return None
        if pid == 0:
            become()
        for fd in fds:
            os.close(fd)
        self.children[pid] = body["id"]
        self.tell(wire.FORKED, id=body["id"], pid=pid)
        return pid

    def hand_over(self, body: dict[str, Any], fds: list[int]) -> None:
        """Give the spare its container: the request goes to its pid 1, which waits for it."""
        spare, self.spare = self.spare, None
        try:
            if spare is None or spare[0] != body["spare"]:
                raise OSError("no such spare")
            wire.send(spare[2], wire.encode(wire.FORK, body), fds)
        except OSError as exc:
            self.tell(wire.FORK_FAILED, id=body["id"], reason=f"the spare is gone: {exc}")
            return
        finally:
            for fd in fds:
                os.close(fd)
            if spare is not None:
                spare[2].close()
        self.children[spare[1]] = body["id"]
        self.tell(wire.FORKED, id=body["id"], pid=spare[1])

    def drop_spare(self) -> None:
        """The spare's pid 1 sees its socket close and exits; its end is reported as usual."""
        if self.spare is not None:
            self.spare[2].close()
            self.spare = None

    def tell(self, kind: str, **body: Any) -> None:
        wire.send(self.sock, wire.encode(kind, body))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            request_id = self.children.pop(pid, None)
            if self.spare is not None and self.spare[1] == pid:
                self.drop_spare()
            if request_id is not None:
                self.tell(wire.EXITED, id=request_id, status=status)

    def become_container(self, body: dict[str, Any], fds: list[int]) -> None:
        """In the fork: the launcher's steps, then pid 1, then the agent. Never returns."""
        try:
            self.leave_zygote()
            take_stdio(fds)
            config = body["config"]
            nsinit.enter_namespaces(config)
            child = os.fork()
            if child == 0:
                nsinit.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                start_container(config, body["env"], self.service)
            nsinit.mirror(child)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(125)

    def become_spare(self, body: dict[str, Any], fd: int) -> None:
        """In the fork: join the cgroup and namespaces now; pid 1 then waits for a container
        (or for its socket to close: the spare was not needed). Never returns."""
        try:
            requests = socket.socket(fileno=fd)
            self.leave_zygote()
            take_stdio([])
            nsinit.enter_namespaces({"cgroup_procs": body["cgroup_procs"]})
            child = os.fork()
            if child == 0:
                nsinit.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                message = wire.receive(requests)
                if message is None:
                    os._exit(0)
                _, request, fds = message
                requests.close()
                take_stdio(fds)
                start_container(request["config"], request["env"], self.service)
            requests.close()
            nsinit.mirror(child)
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
        if self.spare is not None:
            self.spare[2].close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        os.fchdir(self.host_root)
        os.chroot(".")
        os.close(self.host_root)


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
        wire.send(sock, wire.encode(wire.FAILED, {"reason": reason}))
        traceback.print_exc()
        sys.exit(1)
    unsafe = why_unsafe()
    if unsafe:
        wire.send(sock, wire.encode(wire.FAILED, {"reason": unsafe}))
        sys.exit(1)
    wire.send(sock, wire.encode(wire.READY, {"pid": os.getpid()}))
    Zygote(sock, host_root, service).serve()


if __name__ == "__main__":
    main()
