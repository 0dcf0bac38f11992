"""Sandboxes on the control plane: create, exec, stdio, files, lifetime, listing.

A sandbox is a container with no function: the worker starts its supervisor
(`ketch.container.supervisor`) under a sandbox runtime, and this service relays requests to it
as `ketch.protocol.supervisor` frames and keeps what comes back (`sandbox_state`) until the
SDK reads it. Its lifetime is bounded by ``timeout`` and ``idle_timeout``; when ketch ends a
sandbox it says why, in `describe`'s ``reason``.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .. import exception
from ..backends.base import no_checkpoints
from ..protocol import client as protocol
from ..protocol import supervisor as wire
from ..protocol.worker import ContainerExit, ContainerSpec, SandboxPolicy
from . import bucket_mounts
from .auth import Identity
from .sandbox_options import DEFAULT_TIMEOUT_S, check_argv, check_definition, check_size
from .sandbox_state import Process, SandboxState
from .tunnels import Tunnel

if TYPE_CHECKING:
    from .control_plane import ControlPlane

log = logging.getLogger("ketch")

KEEP_ENDED = 1000  # ended sandboxes remembered for from_id and wait
ROOM_WAIT_S = 60.0
# Without memory=, a sandbox reserves Modal's 128 MiB and may use up to 4 GiB: code nobody
# reviewed gets a ceiling, not the whole machine.
DEFAULT_MEMORY: list[int | float] = [128, 4096]


class SandboxService:
    def __init__(self, cp: ControlPlane) -> None:
        self.cp = cp
        self.sandboxes: dict[str, SandboxState] = {}

    # -- life ------------------------------------------------------------------------------

    async def sandbox_create(self, req: protocol.SandboxCreate, caller: Identity
                             ) -> protocol.SandboxId:
        app = self.cp.state.app(req.app_id) if req.app_id else \
            self.cp.app_service.lookup("sandboxes", req.environment, create_if_missing=True)
        app_id = app.id
        options = check_definition(req.definition)
        name = options.name
        if name and any(s.name == name and s.app_id == app_id and not s.done.is_set()
                        for s in self.sandboxes.values()):
            raise exception.AlreadyExistsError(
                f"app {app.name!r} already has a running sandbox named {name!r}; terminate it "
                "or choose another name")
        sb = SandboxState(f"sb-{secrets.token_hex(6)}", app_id, name, options)
        sb.runtime = self.cp.worker.sandbox_runtime(options.runtime)
        if options.enable_snapshot and sb.runtime != "gvisor":
            raise no_checkpoints(sb.runtime)
        self.cp.secrets.check(options.secrets, "the sandbox", app.environment)
        for volume_id in options.volumes.values():
            self.cp.objects.kind_of(volume_id, "volume", app.environment)
        await bucket_mounts.check(self.cp.secrets, options.cloud_bucket_mounts,
                                  "the sandbox", app.environment, probe=True)
        if options.image:
            sb.image = await self.cp.build_image(
                options.image, sb.runtime, lambda text: self.log(sb, "stderr", text),
                app.environment)
        await self.launch(sb)
        return protocol.SandboxId(sandbox_id=sb.id)

    async def launch(self, sb: SandboxState, checkpoint: str | None = None) -> None:
        """Start ``sb``, its options checked; restored from the snapshot folder
        ``checkpoint``, its processes go on where the snapshot left them rather than start."""
        options = sb.options
        spec = self._spec(sb)
        problem = self.cp.worker.never_fits(spec)
        if problem is not None:
            raise exception.ResourceExhaustedError(f"the sandbox can never run here: {problem}")
        await self._wait_for_room(spec)
        if options.command:
            sb.procs[0] = Process(0, options.command)  # number 0: its exec is below
        self.sandboxes[sb.id] = sb
        timeout = options.timeout or DEFAULT_TIMEOUT_S
        sb.deadline = asyncio.get_running_loop().call_later(
            timeout, self._end, sb,
            f"the sandbox reached its timeout of {timeout:g} s and was stopped; pass "
            "a larger timeout= to Sandbox.create (at most 24 h)", "timeout")
        if options.idle_timeout:
            asyncio.ensure_future(self._watch_idle(sb, options.idle_timeout))
        sb.env = self.cp.secrets.environment(options.secrets,
                                             lambda text: self.log(sb, "stderr", text))
        sb.env.update(options.env)
        buckets = bucket_mounts.opened(self.cp.secrets, options.cloud_bucket_mounts,
                                       lambda text: self.log(sb, "stderr", text))
        await self.cp.worker.start_container(replace(spec, buckets=buckets,
                                                     checkpoint=checkpoint))
        if options.command and checkpoint is None:
            self._exec(sb, 0, options.command, {}, None, {})
        await self._open_tunnels(sb, options.ports)
        if options.readiness_probe:
            asyncio.ensure_future(self._probe(sb, options.readiness_probe))
        self._forget_old()
        self.cp.changes.note("sandboxes", sb.app_id)

    async def _open_tunnels(self, sb: SandboxState, ports: list[int]) -> None:
        address = self.cp.worker.sandbox_address(sb.id) if ports else None
        if address is None:
            return
        bind = "127.0.0.1" if self.cp.address.startswith("unix:") \
            else self.cp.address.rsplit(":", 1)[0]
        for port in ports:
            sb.tunnels[port] = await Tunnel.open(bind, address, port, sb.touch)

    async def _probe(self, sb: SandboxState, probe: dict[str, Any]) -> None:
        """Try the readiness probe every interval until it passes or the sandbox ends."""
        while not sb.done.is_set():
            try:
                if probe["kind"] == "tcp":
                    meta, _ = await self.file(sb, {"op": "connect", "port": probe["target"]})
                    ready = "error" not in meta
                else:
                    number = self.exec(sb, probe["target"], {}, None,
                                       {"stdout": "devnull", "stderr": "devnull"})
                    await sb.procs[number].done.wait()
                    ready = sb.procs.pop(number).returncode == 0
            except exception.Error:
                ready = False
            if ready:
                sb.ready.set()
                return
            await asyncio.sleep(probe["interval_ms"] / 1000)

    def _spec(self, sb: SandboxState) -> ContainerSpec:
        options = sb.options
        return ContainerSpec(
            container_id=sb.id, function_id="", function_name="sandbox", app_id=sb.app_id,
            server_address="", token="", runtime=sb.runtime,
            cpu=options.cpu, memory_mb=options.memory or DEFAULT_MEMORY, gpu=options.gpu,
            image=sb.image, workdir=options.workdir,
            volumes=self.cp.volumes.prepare(sb.id, options.volumes),
            sandbox=SandboxPolicy(block_network=options.block_network,
                                  cidr_allowlist=options.cidr_allowlist,
                                  disk_mib=int(options.ephemeral_disk or SandboxPolicy.disk_mib)),
        )

    async def _wait_for_room(self, spec: ContainerSpec) -> None:
        deadline = time.monotonic() + ROOM_WAIT_S
        while not self.cp.worker.fits(spec):
            if time.monotonic() > deadline:
                raise exception.ResourceExhaustedError(
                    f"no room for the sandbox after {ROOM_WAIT_S:g} s "
                    f"({self.cp.worker.describe_free()}); ask for less, or end other sandboxes")
            await asyncio.sleep(0.05)

    async def _watch_idle(self, sb: SandboxState, idle_s: float) -> None:
        while not sb.done.is_set():
            if sb.running_execs():
                sb.touch()
            idle = time.monotonic() - sb.last_active
            if idle >= idle_s:
                self._end(sb, f"the sandbox was idle for {idle_s:g} s (its idle_timeout) and "
                              "was stopped")
                return
            await asyncio.sleep(min(1.0, idle_s - idle))

    def _end(self, sb: SandboxState, reason: str, status: str = "terminated") -> None:
        """Stop the sandbox for ``reason`` (a no-op once it has ended); ``status`` is how
        it will be said to have ended ("terminated" or "timeout")."""
        if sb.done.is_set() or sb.ending_reason is not None:
            return
        sb.ending_reason = reason
        sb.status = status
        asyncio.ensure_future(self.cp.worker.stop_container(sb.id, 0.5))

    def on_exit(self, sandbox_id: str, exit: ContainerExit) -> None:
        sb = self.sandboxes.get(sandbox_id)
        if sb is None or sb.done.is_set():
            return
        command = sb.procs.get(0)
        if sb.ending_reason is not None:  # as Modal reports them
            sb.returncode = 124 if sb.status == "timeout" else 137
        elif command is not None and command.returncode is not None:
            sb.returncode, sb.status = command.returncode, "completed"
        else:
            sb.returncode = exit.exit_code if exit.exit_code is not None \
                else 128 + (exit.signal or 9)
            sb.status = "failed"
        sb.reason = sb.ending_reason or exit.reason
        for proc in sb.procs.values():
            proc.finish(-9)
        for tunnel in sb.tunnels.values():
            tunnel.close()
        if sb.deadline is not None:
            sb.deadline.cancel()
        for future in sb.files.values():
            if not future.done():
                future.set_exception(exception.ExecutionError(f"the sandbox ended: {sb.reason}"))
        sb.done.set()
        self.cp.changes.note("sandboxes", sb.app_id)

    def stop_app(self, app_id: str) -> list[asyncio.Event]:
        """End the app's sandboxes; the events are set when each has."""
        ending = [sb for sb in self.sandboxes.values()
                  if sb.app_id == app_id and not sb.done.is_set()]
        for sb in ending:
            self._end(sb, "its app stopped")
        return [sb.done for sb in ending]

    def _forget_old(self) -> None:
        ended = [sb for sb in self.sandboxes.values() if sb.done.is_set()]
        for sb in ended[:max(0, len(ended) - KEEP_ENDED)]:
            del self.sandboxes[sb.id]

    def log(self, sb: SandboxState, stream: str, text: str) -> None:
        app = self.cp.state.apps.get(sb.app_id)
        if app is not None:
            app.logs.append(protocol.LogLine(function="sandbox", container_id=sb.id,
                                             stream=stream, text=text))
        self.cp.logbook.add(sb.app_id, "sandbox", sb.id, None, stream, text)

    # -- requests about a sandbox --------------------------------------------------------------

    def get(self, sandbox_id: str) -> SandboxState:
        try:
            return self.sandboxes[sandbox_id]
        except KeyError:
            raise exception.NotFoundError(f"no sandbox {sandbox_id}") from None

    def _live(self, sandbox_id: str) -> SandboxState:
        sb = self.get(sandbox_id)
        if sb.done.is_set():
            raise exception.NotFoundError(f"sandbox {sandbox_id} has ended: {sb.reason}")
        sb.touch()
        return sb

    async def sandbox_get(self, req: protocol.SandboxGet, caller: Identity
                          ) -> protocol.SandboxInfo:
        return self.get(req.sandbox_id).describe()

    async def sandbox_wait(self, req: protocol.SandboxWait, caller: Identity
                           ) -> protocol.SandboxInfo:
        sb = self.get(req.sandbox_id)
        try:
            await asyncio.wait_for(sb.done.wait(), req.timeout)
        except TimeoutError:
            pass
        return sb.describe()

    async def sandbox_terminate(self, req: protocol.SandboxTerminate, caller: Identity
                                ) -> protocol.SandboxInfo:
        return await self.terminate(self.get(req.sandbox_id))

    async def terminate(self, sb: SandboxState) -> protocol.SandboxInfo:
        self._end(sb, "terminated")
        try:
            await asyncio.wait_for(sb.done.wait(), 10.0)
        except TimeoutError:
            pass
        return sb.describe()

    async def sandbox_list(self, req: protocol.SandboxList, caller: Identity
                           ) -> protocol.Sandboxes:
        tags = req.tags or {}
        return protocol.Sandboxes(sandboxes=[
            sb.describe() for sb in self.sandboxes.values()
            if not sb.done.is_set() and self.cp.state.apps[sb.app_id].environment == req.environment
            and (req.app_id is None or sb.app_id == req.app_id)
            and all(sb.tags.get(k) == v for k, v in tags.items())
        ])

    async def sandbox_tags_set(self, req: protocol.SandboxTagsSet, caller: Identity
                               ) -> protocol.Empty:
        sb = self.get(req.sandbox_id)
        sb.tags = dict(req.tags)
        self.cp.changes.note("sandboxes", sb.app_id)
        return protocol.Empty()

    async def sandbox_from_name(self, req: protocol.SandboxFromName, caller: Identity
                                ) -> protocol.SandboxInfo:
        for sb in self.sandboxes.values():
            app = self.cp.state.apps.get(sb.app_id)
            if sb.name == req.name and app is not None and app.name == req.app_name \
                    and app.environment == req.environment and not sb.done.is_set():
                return sb.describe()
        raise exception.NotFoundError(f"no running sandbox named {req.name!r} in app "
                                      f"{req.app_name!r}")

    # -- processes -------------------------------------------------------------------------

    async def sandbox_exec(self, req: protocol.SandboxExec, caller: Identity
                           ) -> protocol.ProcessNumber:
        check_argv(req.argv)
        extra: dict[str, Any] = dict(req.piping)
        if req.pty is not None:
            extra["pty"] = check_size({"rows": req.pty.rows, "cols": req.pty.cols})
        sb = self._live(req.sandbox_id)
        app = self.cp.state.apps[sb.app_id]
        self.cp.secrets.check(req.secrets, "the exec", app.environment)
        environment = self.cp.secrets.environment(req.secrets,
                                                  lambda text: self.log(sb, "stderr", text))
        environment.update(req.env or {})
        number = self.exec(sb, req.argv, environment, req.workdir, extra)
        if req.timeout:
            sb.procs[number].timer = asyncio.get_running_loop().call_later(
                req.timeout, self._signal, sb, sb.procs[number], 9)
        return protocol.ProcessNumber(process=number)

    def exec(self, sb: SandboxState, argv: list[str], env: dict[str, str],
             workdir: str | None, extra: dict[str, Any]) -> int:
        """Start a process in the sandbox; its number."""
        number = sb.next_proc
        sb.next_proc += 1
        sb.procs[number] = Process(number, argv)
        self._exec(sb, number, argv, env, workdir, extra)
        self.cp.changes.note("sandboxes", sb.app_id)
        return number

    def _exec(self, sb: SandboxState, number: int, argv: list[str], env: dict[str, str],
              workdir: str | None, extra: dict[str, Any]) -> None:
        """Start a process in the sandbox, with the sandbox's environment under ``env`` (it is
        not the supervisor's: a spare sandbox was started before anyone asked for it)."""
        self.cp.worker.sandbox_send(sb.id, wire.frame(wire.EXEC, number, wire.request(
            {"argv": argv, "workdir": workdir, "env": {**sb.env, **env}, **extra})))

    def _proc(self, sandbox_id: str, process: int) -> tuple[SandboxState, Process]:
        sb = self.get(sandbox_id)
        sb.touch()
        try:
            return sb, sb.procs[process]
        except KeyError:
            raise exception.NotFoundError(f"no process {process} in sandbox {sandbox_id}") from None

    def _signal(self, sb: SandboxState, proc: Process, signum: int) -> None:
        self.cp.worker.sandbox_send(sb.id, wire.frame(wire.SIGNAL, proc.number,
                                                      wire.request({"signal": signum})))

    async def process_stdin(self, req: protocol.ProcessStdin, caller: Identity
                            ) -> protocol.Empty:
        sb, proc = self._proc(req.sandbox_id, req.process)
        if proc.returncode is None:
            data = req.data
            for start in range(0, len(data), wire.MAX_PAYLOAD):
                chunk = data[start:start + wire.MAX_PAYLOAD]
                self.cp.worker.sandbox_send(sb.id, wire.frame(wire.STDIN, req.process, chunk))
            if req.eof:
                self.cp.worker.sandbox_send(sb.id, wire.frame(wire.STDIN, req.process, b""))
        return protocol.Empty()

    async def process_output(self, req: protocol.ProcessOutput, caller: Identity
                             ) -> protocol.StreamChunk:
        _, proc = self._proc(req.sandbox_id, req.process)
        data, cursor, eof = await proc.stream(req.stream).read(req.cursor, req.timeout)
        return protocol.StreamChunk(data=data, cursor=cursor, eof=eof)

    async def process_wait(self, req: protocol.ProcessWait, caller: Identity
                           ) -> protocol.ReturnCode:
        _, proc = self._proc(req.sandbox_id, req.process)
        try:
            await asyncio.wait_for(proc.done.wait(), req.timeout)
        except TimeoutError:
            pass
        return protocol.ReturnCode(returncode=proc.returncode)

    async def process_signal(self, req: protocol.ProcessSignal, caller: Identity
                             ) -> protocol.Empty:
        sb, proc = self._proc(req.sandbox_id, req.process)
        self._signal(sb, proc, req.signal)
        return protocol.Empty()

    async def process_resize(self, req: protocol.ProcessResize, caller: Identity
                             ) -> protocol.Empty:
        """A new size for the terminal of a process started with ``pty``."""
        size = check_size({"rows": req.rows, "cols": req.cols})
        sb, proc = self._proc(req.sandbox_id, req.process)
        if proc.returncode is None:
            self.cp.worker.sandbox_send(sb.id, wire.frame(wire.RESIZE, req.process,
                                                          wire.request(size)))
        return protocol.Empty()

    async def sandbox_file(self, req: protocol.SandboxFile, caller: Identity
                           ) -> protocol.FileAnswer:
        meta, data = await self.file(self._live(req.sandbox_id), req.meta, req.data)
        return protocol.FileAnswer(meta=meta, data=data)

    async def file(self, sb: SandboxState, meta: dict[str, Any], data: bytes = b""
                   ) -> tuple[dict[str, Any], bytes]:
        """A file operation inside the sandbox: the report and the bytes it answers with."""
        number = sb.next_request
        sb.next_request += 1
        future: asyncio.Future[tuple[dict[str, Any], bytes]] = \
            asyncio.get_running_loop().create_future()
        sb.files[number] = future
        self.cp.worker.sandbox_send(sb.id, wire.frame(
            wire.FILE, number, wire.file_request(wire.request(meta), data)))
        try:
            return await asyncio.wait_for(future, 60.0)
        finally:
            sb.files.pop(number, None)

    async def sandbox_tunnels(self, req: protocol.SandboxTunnels, caller: Identity
                              ) -> protocol.Tunnels:
        """Where on this machine each exposed port is."""
        sb = self._live(req.sandbox_id)
        return protocol.Tunnels(tunnels={port: (t.host, t.port) for port, t in sb.tunnels.items()})

    async def sandbox_ready(self, req: protocol.SandboxReady, caller: Identity
                            ) -> protocol.Readiness:
        """Wait up to ``timeout`` for the readiness probe to pass."""
        sb = self.get(req.sandbox_id)
        if not sb.options.readiness_probe:
            raise exception.InvalidError("the sandbox has no readiness_probe; pass "
                                         "readiness_probe=ketch.Probe.with_tcp(port) to create")
        waits = [asyncio.ensure_future(event.wait()) for event in (sb.ready, sb.done)]
        await asyncio.wait(waits, timeout=req.timeout, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        return protocol.Readiness(ready=sb.ready.is_set(), done=sb.done.is_set(),
                                  reason=sb.reason)

    async def sandbox_snapshot(self, req: protocol.SandboxSnapshot, caller: Identity
                               ) -> protocol.Steps:
        """The sandbox's image with its files as they are now on top."""
        sb = self._live(req.sandbox_id)
        layer = await self.cp.worker.sandbox_snapshot(sb.id)
        return protocol.Steps(steps=[*(sb.options.image or []),
                                     {"kind": "snapshot", "layer": layer}])

    # -- frames from the supervisor ----------------------------------------------------------

    async def on_frame(self, sandbox_id: str, kind: int, number: int, payload: bytes) -> None:
        sb = self.sandboxes.get(sandbox_id)
        if sb is None:
            return
        if kind == wire.FILE_DONE:
            future = sb.files.get(number)
            if future is not None and not future.done():
                meta, data = wire.split_file_request(payload)
                future.set_result((wire.load_report(meta), data))
            return
        proc = sb.procs.get(number)
        if proc is None:
            return
        if kind in (wire.STDOUT, wire.STDERR):
            name = "stdout" if kind == wire.STDOUT else "stderr"
            stream = proc.stream(name)
            if not payload:
                stream.close()
            else:
                dropped = stream.append(payload)
                if dropped and stream.dropped == dropped:  # the first time: say it once
                    self.log(sb, "stderr", (
                        f"ketch: process {number} of sandbox {sb.id} wrote more than "
                        f"{stream.LIMIT >> 20} MiB to its {name} that nobody read: its oldest "
                        f"output is dropped from now on; read it as it comes, or pass "
                        f"{name}=StreamType.DEVNULL to exec"))
        elif kind == wire.EXITED:
            proc.finish(int(wire.load_report(payload).get("returncode", -1)))
            self.cp.changes.note("sandboxes", sb.app_id)
        elif kind == wire.STARTED:
            started = wire.load_report(payload)
            if "error" in started:
                proc.stderr.append(f"{started['error']}\n".encode())
                proc.finish(127)
                if number == 0:
                    self._end(sb, f"the sandbox's command could not start: {started['error']}")
