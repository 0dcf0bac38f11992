"""A zygote: a process that has done a container's start-up work once and forks containers.

``python -m ketch.container.zygote``, started by the namespace runtime through its launcher in
zygote mode (`ketch.backends.nsinit`). It has imported the container agent (the interpreter's
start, ``site`` and ketch's imports are most of a cold start); with a memory snapshot it has
also imported the user's module and run its ``@enter(snap=True)`` hooks. For each container
the worker asks for, it forks; the child enters the container's cgroup and new namespaces
exactly as the launcher would, builds the container's own root from the host's, and becomes
the agent with the container's environment.

The zygote never runs an input, so every container forked from it starts from the same fresh
state. It refuses to fork when something makes that unsafe (threads, an initialised CUDA).
"""

from __future__ import annotations

import atexit
import os
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

from ..backends import nsinit
from ..protocol import zygote as wire
from . import agent
from .loader import Service

PR_SET_PDEATHSIG = 1


def load(snapshot: dict[str, Any] | None) -> Service | None:
    """The user's function, imported and past its ``snap=True`` hooks (with a snapshot)."""
    if snapshot is None:
        return None
    from .. import modal_alias

    modal_alias.install()
    service = Service(snapshot["definition"], snapshot.get("params"))
    service.snap()
    return service


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
        if kind == wire.FORK:
            self.fork(body, fds)
        elif kind == wire.RETIRE:
            self.retiring = True
        return True

    def fork(self, body: dict[str, Any], fds: list[int]) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            wire.send(self.sock, wire.encode(wire.FORK_FAILED, {"id": body["id"], "reason": str(exc)}))
            return
        if pid == 0:
            self.become_container(body, fds)
        for fd in fds:
            os.close(fd)
        self.children[pid] = body["id"]
        wire.send(self.sock, wire.encode(wire.FORKED, {"id": body["id"], "pid": pid}))

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
                wire.send(self.sock, wire.encode(wire.EXITED, {"id": request_id, "status": status}))

    def become_container(self, body: dict[str, Any], fds: list[int]) -> None:
        """In the fork: the launcher's steps, then pid 1, then the agent. Never returns."""
        try:
            self.leave_zygote(fds)
            config = body["config"]
            nsinit.enter_namespaces(config)
            child = os.fork()
            if child == 0:
                nsinit.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
                nsinit.setup(config)
                agent_pid = os.fork()
                if agent_pid == 0:
                    run_agent(body["env"], self.service)
                nsinit.reap(agent_pid)
            nsinit.mirror(child)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(125)

    def leave_zygote(self, fds: list[int]) -> None:
        """Drop the zygote's signal handling and descriptors; take the container's stdio; go
        back to the host's root, from which the container's own root is built."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        nsinit.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        self.selector.close()
        self.sock.close()
        os.close(self.wake_r)
        os.close(self.wake_w)
        null = os.open("/dev/null", os.O_RDONLY)
        for target, fd in ((0, null), (1, fds[0]), (2, fds[1])):
            os.dup2(fd, target)
            os.close(fd)
        os.fchdir(self.host_root)
        os.chroot(".")
        os.close(self.host_root)


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
    _, body = wire.decode(sys.stdin.buffer.read())
    try:
        service = load(body["snapshot"])
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
