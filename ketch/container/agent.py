"""The container agent: ``python -m ketch.container``.

It connects to the control plane named by ``KETCH_SERVER`` with its container id and token,
receives its function's definition, imports the user's code, runs ``@enter``, then runs the
inputs pushed to it until told to shut down, when it runs ``@exit``. A watchdog enforces the
function's ``timeout``: an input past it is reported as timed out and the container exits,
since a running Python thread cannot be stopped safely.
"""

from __future__ import annotations

import inspect
import os
import queue
import sys
import threading
import time
from typing import Any

from ..protocol import container as wire
from ..protocol.blocking_peer import BlockingPeer, connect
from ..protocol.board import Board
from ..protocol.message import decode
from ..serialization import pack_exception
from .execution import Execution
from .loader import Service
from .outbox import Outbox
from .runners import STOP, AsyncRunner, Beside, Runner, SyncRunner


class Agent:
    def __init__(self, peer: BlockingPeer, hello: wire.Welcome,
                 service: Service | None = None) -> None:
        self.peer = peer
        self.hello = hello
        self.service = service  # already loaded, in a container forked from a snapshot
        self.definition = hello.definition
        self.options = self.definition.options
        self.inbox: queue.SimpleQueue[wire.Input] = queue.SimpleQueue()
        # the watcher sleeps until its next deadline, and this brings a new one nearer
        self.wake = threading.Event()
        self.outbox = Outbox(peer, self.wake)
        self.execution: Execution | None = None

    def serve(self) -> None:
        threading.Thread(target=self._read, daemon=True).start()
        try:
            service = self.service or Service(self.definition, self.hello.params)
            service.hydrate(self.hello.app_id, self.hello.app_functions)
        except BaseException as exc:  # report why the container could not start, then exit
            self._exit_with_failure(exc)
        board = Board(os.environ.get("KETCH_BOARD"))
        self.execution = Execution(service, self.peer, self.outbox, board, self.wake)
        self.execution.on_finished = self._maybe_retire
        threading.Thread(target=self._watch, daemon=True).start()
        runner: Any
        if self.options.web:
            from .web import WebRunner

            # an @app.server() or http_server class: its @enter hooks start the server
            start = (lambda: None) if service.instance is not None else service.callable_for(None)
            runner = WebRunner(self.peer, self.options.web, start, self.inbox.get)
        elif self.options.web_methods:
            runner = self._class_web_runner(service)
        else:
            runner = self._input_runner(service)
        try:
            runner.run(service.enter_hooks(), service.exit_hooks())
        except BaseException as exc:  # an @enter or @exit hook failed
            self._exit_with_failure(exc)
        self.outbox.flush()
        self.peer.close()

    def _input_runner(self, service: Service) -> Runner:
        runner_cls = AsyncRunner if self._is_async(service) else SyncRunner
        assert self.execution is not None
        return runner_cls(self.execution, self.inbox, self.options.max_inputs or 1)

    def _class_web_runner(self, service: Service) -> Any:
        """A class's web endpoints, and its ``@method``s' inputs beside them if it has any."""
        from .web import WebRunner

        web = {"kind": "class", "methods": self.options.web_methods}
        if not self.definition.methods:
            return WebRunner(self.peer, web, service.callable_for, self.inbox.get)
        stopped = threading.Event()
        return Beside(WebRunner(self.peer, web, service.callable_for, stopped.wait),
                      self._input_runner(service), stopped)

    def _is_async(self, service: Service) -> bool:
        if service.instance is None:
            f = service.function
            return inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f)
        return any(m.is_async for m in self.definition.methods.values())

    def _read(self) -> None:
        while True:
            frame = self.peer.receive()
            if frame is None:
                self.inbox.put(STOP)
                return
            kind, _, body = frame
            if kind == wire.INPUTS:
                for record in decode(body, list[wire.Input], kind):
                    self.inbox.put(record)
            elif kind == wire.SHUTDOWN:
                self.inbox.put(STOP)
            elif kind == wire.CANCEL and self.execution is not None:
                self.execution.cancelled.update(decode(body, list[wire.Key], kind))

    def _maybe_retire(self, finished: int) -> None:
        """With max_inputs, a container retires once it has run that many inputs."""
        limit = self.options.inputs_per_container
        if limit and finished == limit:
            self.outbox.flush()
            self.peer.send(wire.EXITING, wire.Exiting(
                reason=f"the container ran its {limit} inputs", requeue_others=True))
            self.inbox.put(STOP)

    def _watch(self) -> None:
        """Send waiting outputs, heartbeats, and time inputs out, each when due: between them
        the thread sleeps, so that an idle container costs no CPU."""
        assert self.execution is not None
        timeout = self.options.timeout
        next_beat = 0.0
        while True:
            self.wake.clear()  # before the deadlines are read: a later one wakes the wait
            now = time.monotonic()
            self.outbox.flush(stale_only=True)
            if now >= next_beat:
                next_beat = now + wire.HEARTBEAT_INTERVAL_S
                self.peer.send(wire.HEARTBEAT,
                               wire.Heartbeat(running=len(self.execution.running)))
            due = [next_beat, self.outbox.stale_at()]
            if timeout:
                for key, (started, _) in list(self.execution.running.items()):
                    if now - started > timeout:
                        self._time_out(key, timeout)
                    due.append(started + timeout)
            self.wake.wait(max(0.0, min(due) - time.monotonic()))

    def _time_out(self, key: tuple[str, int], timeout: float) -> None:
        message = f"the input ran past the function's timeout of {timeout:g} s and was stopped"
        self.outbox.add(wire.Output(call_id=key[0], index=key[1], status=wire.Status.TIMEOUT,
                                    data=message.encode()), flush=True)
        self.peer.send(wire.EXITING, wire.Exiting(
            reason=f"an input exceeded the {timeout:g} s timeout", requeue_others=True))
        os._exit(1)

    def _exit_with_failure(self, exc: BaseException) -> None:
        reason = f"the container failed while starting: {type(exc).__name__}: {exc}"
        self.peer.send(wire.EXITING, wire.Exiting(reason=reason, requeue_others=False,
                                                  failure=pack_exception(exc)))
        sys.stderr.write(reason + "\n")
        os._exit(1)


def main(service: Service | None = None) -> None:
    """Run the container; ``service`` is the user's code when a zygote loaded it already."""
    from .. import modal_alias

    modal_alias.install()
    container_id = os.environ["KETCH_CONTAINER_ID"]
    peer = connect(os.environ["KETCH_SERVER"])
    hello = wire.Hello(container_id=container_id, token=os.environ["KETCH_CONTAINER_TOKEN"])
    answer = peer.request(wire.HELLO, hello, wire.Welcome, read_here=True)
    Agent(peer, answer, service).serve()
