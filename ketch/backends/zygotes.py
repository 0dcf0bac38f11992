"""The worker's side of one zygote: start it, have it fork containers and spares, retire it.

A zygote (`ketch.container.zygote`) is kept per `Recipe` by `ketch.backends.zygote_pool`. It
keeps spares (`ketch.backends.zygote_spares`): children already in a cgroup of their own and
in new namespaces, so that a container skips the slowest steps of its start; one is made as
each container forks, more when the pool asks (`keep`).

Example::

    zygote = Zygote(recipe)
    await zygote.start()
    forked = await zygote.fork(config, env, "ct-1a2b", Limits(memory_mib=512))
    status = await forked.process.wait()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..protocol import zygote as wire
from ..worker.cgroups import Cgroup, Limits
from .zygote_spares import Spare, SpareDemand

START_TIMEOUT_S = 120.0


class ZygoteError(Exception):
    """No container can be forked from this zygote; start one the usual way."""


@dataclass(frozen=True)
class Recipe:
    """How to start the zygote for ``key``: its launcher command, environment, the `prepare`
    message for its stdin, and a scratch directory removed when it exits."""

    key: str
    command: list[str]
    env: dict[str, str]
    prepare: bytes
    scratch: Path


class ForkedProcess:
    """A container forked by a zygote, with the part of `asyncio.subprocess.Process` drivers use:
    ``pid``, ``returncode`` and ``wait()``. The zygote, its parent, reports its end."""

    def __init__(self, pid: int, ended: asyncio.Future[int]) -> None:
        self.pid = pid
        self._ended = ended

    @property
    def returncode(self) -> int | None:
        if not self._ended.done():
            return None
        return os.waitstatus_to_exitcode(self._ended.result())

    async def wait(self) -> int:
        await asyncio.shield(self._ended)
        return self.returncode  # type: ignore[return-value]


@dataclass
class Forked:
    """A container forked from a zygote, and the cgroup it runs in (the caller's to remove)."""

    process: ForkedProcess
    stdout: asyncio.StreamReader
    stderr: asyncio.StreamReader
    cgroup: Cgroup


class Zygote:
    def __init__(self, recipe: Recipe) -> None:
        self.recipe = recipe
        self._containers: set[int] = set()  # request ids of containers still running
        self.spares: list[Spare] = []  # oldest first; at most one not ready (in the making)
        self.demand = SpareDemand()
        self._keep = 1
        self.last_used = time.monotonic()
        self.alive = False
        self._proc: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._ready: asyncio.Future[None] | None = None
        self._forks: dict[int, asyncio.Future[int]] = {}
        self._ends: dict[int, asyncio.Future[int]] = {}
        self._next_id = 0
        self._output: list[str] = []
        self._collector: asyncio.Future[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for part in ("upper", "work", "root"):
            (self.recipe.scratch / part).mkdir(parents=True, exist_ok=True)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**self.recipe.env, "KETCH_ZYGOTE_FD": str(theirs.fileno())}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.recipe.command, env=env, pass_fds=[theirs.fileno()],
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            )
        finally:
            theirs.close()
        self._sock = ours
        ours.setblocking(False)
        self._ready = loop.create_future()
        loop.add_reader(ours.fileno(), self._on_readable)
        self._collector = asyncio.ensure_future(self._collect_output())
        assert self._proc.stdin is not None
        self._proc.stdin.write(self.recipe.prepare)
        await self._proc.stdin.drain()
        self._proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), START_TIMEOUT_S)
        except TimeoutError:
            self.kill()
            raise ZygoteError(f"the zygote was not ready after {START_TIMEOUT_S:.0f} s") from None
        self.alive = True
        self._prefork()

    @property
    def children(self) -> int:
        return len(self._containers)

    async def fork(self, config: dict[str, Any], env: dict[str, str], name: str,
                   limits: Limits) -> Forked:
        """Fork a container named ``name`` (its cgroup's name) with ``limits``; the spare if
        one is ready."""
        if not self.alive or self._sock is None:
            raise ZygoteError("the zygote has exited")
        self.demand.forked(time.monotonic())
        spare = self._take_spare(bool(config.get("net")))
        try:
            cgroup = spare.cgroup if spare else Cgroup.create(name, limits)
            if spare:
                cgroup.limit(limits)
        except OSError as exc:
            if spare:
                spare.cgroup.remove()
            raise ZygoteError(f"the container's cgroup: {exc}") from None
        config = {**config, "cgroup_procs": cgroup.procs_files}
        try:
            process, stdout, stderr = await self._request(
                lambda request_id: wire.Fork(id=request_id, config=config, env=env,
                                             spare=spare.request_id if spare else None))
        except ZygoteError:
            cgroup.remove()
            raise
        self._prefork()
        return Forked(process, stdout, stderr, cgroup)

    async def _request(self, message: Callable[[int], wire.Fork]) -> tuple[
            ForkedProcess, asyncio.StreamReader, asyncio.StreamReader]:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self._next_id += 1
        request_id = self._next_id
        forked = self._forks[request_id] = loop.create_future()
        self._ends[request_id] = loop.create_future()
        try:
            wire.send(self._sock, message(request_id), [out_w, err_w])
        except OSError as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            raise ZygoteError(f"the zygote cannot be reached: {exc}") from None
        finally:
            os.close(out_w)
            os.close(err_w)
        self._containers.add(request_id)
        self.last_used = time.monotonic()
        try:
            pid = await forked
        except ZygoteError:
            self._containers.discard(request_id)
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        return (ForkedProcess(pid, self._ends[request_id]),
                await _reader(out_r), await _reader(err_r))

    def _take_spare(self, net: bool) -> Spare | None:
        if net:  # spares have the host's network
            return None
        spare = next((s for s in self.spares if s.ready), None)
        if spare is not None:
            self.spares.remove(spare)
            self._ends.pop(spare.request_id, None)  # its end is now the container's
        return spare

    def keep(self, count: int) -> None:
        """Keep ``count`` spares (at least one): make the missing ones one at a time, while no
        container is asked for, or drop the newest beyond it."""
        self._keep = max(1, count)
        for spare in [s for s in self.spares if s.ready][self._keep:]:
            self.spares.remove(spare)
            with contextlib.suppress(OSError):  # its end removes its cgroup
                wire.send(self._sock, wire.Drop(id=spare.request_id))  # type: ignore[arg-type]
        self._top_up()

    def _top_up(self) -> None:
        if len(self.spares) < self._keep and self.demand.quiet(time.monotonic()):
            self._prefork()

    def _prefork(self) -> None:
        """Have a spare made, in the background, unless one is in the making already: the next
        container's cgroup, joined."""
        if (not self.alive or self._sock is None
                or any(not spare.ready for spare in self.spares)):
            return
        try:
            cgroup = Cgroup.create(f"spare-{secrets.token_hex(4)}", Limits())
        except OSError:
            return  # no spare: containers fork the usual way
        loop = asyncio.get_running_loop()
        self._next_id += 1
        spare = Spare(self._next_id, cgroup)
        forked = self._forks[spare.request_id] = loop.create_future()
        ended = self._ends[spare.request_id] = loop.create_future()
        try:
            wire.send(self._sock, wire.Prefork(id=spare.request_id,
                                               cgroup_procs=cgroup.procs_files))
        except OSError:
            cgroup.remove()
            return
        self.spares.append(spare)
        forked.add_done_callback(lambda f: self._spare_forked(spare, f))
        ended.add_done_callback(lambda _: self._spare_ended(spare))

    def _spare_forked(self, spare: Spare, forked: asyncio.Future[int]) -> None:
        if forked.exception() is None:
            spare.ready = True
            self._top_up()
        else:
            self._spare_ended(spare)

    def _spare_ended(self, spare: Spare) -> None:
        if spare in self.spares:
            self.spares.remove(spare)
        spare.cgroup.remove()

    def retire(self) -> None:
        """Fork no more; the zygote exits once its last container has ended."""
        self.alive = False
        if self._sock is not None:
            with contextlib.suppress(OSError):
                wire.send(self._sock, wire.Retire())

    def kill(self) -> None:
        self.alive = False
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)

    async def ended(self) -> None:
        """Wait until the zygote has exited and its scratch is gone."""
        if self._collector is not None:
            await self._collector

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                message = wire.receive_report(self._sock)
            except BlockingIOError:
                return
            except OSError:
                message = None
            if message is None:
                self._lost()
                return
            self._dispatch(message)

    def _dispatch(self, frame: wire.FromZygote) -> None:
        assert self._ready is not None
        if isinstance(frame, wire.Ready):
            self._ready.set_result(None)
        elif isinstance(frame, wire.Failed):
            self._ready.set_exception(ZygoteError(frame.reason))
        elif isinstance(frame, wire.Forked):
            _settle(self._forks.pop(frame.id), frame.pid)
        elif isinstance(frame, wire.ForkFailed):
            self._forks.pop(frame.id).set_exception(ZygoteError(frame.reason))
            self._ends.pop(frame.id, None)
        elif isinstance(frame, wire.Exited):
            ended = self._ends.pop(frame.id, None)
            if ended is not None:
                _settle(ended, frame.status)
            self._containers.discard(frame.id)
            self.last_used = time.monotonic()

    def _lost(self) -> None:
        """The zygote exited: fail what waits on it; its containers died with it (their
        launchers have SIGKILL as parent-death signal)."""
        self.alive = False
        assert self._sock is not None and self._ready is not None
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        tail = " / ".join(self._output[-5:])
        reason = "the zygote exited" + (f": {tail}" if tail else "")
        if not self._ready.done():
            self._ready.set_exception(ZygoteError(reason))
        for future in self._forks.values():
            future.set_exception(ZygoteError(reason))
        for future in self._ends.values():
            _settle(future, signal.SIGKILL)  # the wait status of a SIGKILL
        self._forks.clear()
        self._ends.clear()
        self._containers.clear()

    async def _collect_output(self) -> None:
        """Keep the zygote's last lines (a failure's reason), and clean up after it."""
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            self._output = [*self._output[-19:], line.decode(errors="replace").rstrip()]
        await self._proc.wait()
        shutil.rmtree(self.recipe.scratch, ignore_errors=True)  # its mounts went with it


def _settle(future: asyncio.Future[int], value: int) -> None:
    if not future.done():
        future.set_result(value)


async def _reader(fd: int) -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 22)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                 os.fdopen(fd, "rb", buffering=0))
    return reader
