"""The control plane: the requests clients make, and the life of containers.

One `ControlPlane` serves one state directory. It runs embedded in a ``ketch run`` process (the
SDK then calls `handle` directly) or standalone under ``ketch server``; both listen on a socket
for containers and remote clients. Its answers to client requests are described in
`ketch.protocol.client`; its messages to containers in `ketch.protocol.container`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from .. import config, exception
from ..protocol import client as protocol
from ..protocol import container as wire
from ..protocol.definition import MemorySnapshot
from ..protocol.message import Answer, Request, decode, request_type
from ..protocol.peer import Peer
from ..protocol.wire import MAX_FRAME, MAX_UNAUTHENTICATED_FRAME
from ..protocol.worker import ContainerExit, ContainerSpec, UsageSample, Worker, WorkerEvents
from ..worker import LocalWorker
from . import access, bucket_mounts, proxies, targets
from .accepted import AcceptedInputs
from .apps import AppService
from .auth import LOCAL, Identity, Tokens
from .blobs import BlobStore
from .call_history import CallHistory
from .call_service import SPAWN_TTL_S, CallService
from .changes import Changes
from .containers import ContainerSessions
from .dashboard import Dashboard
from .deployments import Deployments
from .dicts import DictService
from .dispatch import FunctionState
from .environments import Environments
from .forwards import Forwards
from .gateway import Gateway
from .log_queries import LogQueries
from .logbook import Logbook
from .metering import Meter
from .metrics import Metrics
from .network_file_systems import NetworkFileSystems
from .objects import NamedObjects
from .outputs import Outputs
from .queues import QueueService
from .routes import BY_KIND
from .sandbox_snapshots import SandboxSnapshots
from .sandboxes import SandboxService
from .scheduler import Scheduler
from .state import State
from .store import Store
from .tick_guard import TickGuard
from .vault import SecretService
from .volumes import VolumeService

log = logging.getLogger("ketch")

TICK_S = 0.2


class ControlPlane:
    """Example::

        cp = ControlPlane(Path("/tmp/state"))
        await cp.start()
        answer = await cp.handle(protocol.AppCreate(name="hello"))
        await cp.close()
    """

    def __init__(
        self, state_dir: Path, *, listen: str | None = None, max_containers: int | None = None,
        worker: Callable[[WorkerEvents], Worker] | None = None, tls: ssl.SSLContext | None = None,
    ) -> None:
        """``worker`` makes the worker that runs containers, given the control plane to report
        to (`ketch.worker.ray.RayWorker` places them on a Ray cluster); this machine's
        `LocalWorker` by default. With ``tls``, ``listen`` serves TLS (`ketch.server.tls`)."""
        self.state_dir = state_dir
        self.store = Store(state_dir / "ketch.db")
        self.blobs = BlobStore(state_dir / "blobs")
        self.state = State()
        self._listen = listen
        self._tls = tls
        self._socket_dir: Path | None = None
        self.address = ""
        self.container_address = ""  # where this machine's containers connect
        self._local_server: asyncio.AbstractServer | None = None
        self.worker: Worker = worker(self) if worker else LocalWorker(self, max_containers)
        self._server: asyncio.AbstractServer | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._peers: set[Peer] = set()
        self._connections = itertools.count(1)  # numbers the clients' connections
        self._releases: set[asyncio.Future[None]] = set()
        self.meter = Meter(self.store)
        self.changes = Changes()  # for live pages: what changed, noted where it changes
        self.history = CallHistory(self.changes)  # for the dashboard and /metrics
        self.metrics = Metrics(self)
        self.logbook = Logbook(self.store)
        self.environments = Environments(self.store)
        self.environments.on_delete = self._delete_environment
        self.environments.on_rename = self._rename_environment
        self.tokens = Tokens(self.store, self.environments)
        self.gateway = Gateway(self)
        self.environments.on_web_suffix = self.gateway.routes.check_suffix
        self.dashboard = Dashboard(self)  # started by `ketch server` and `ketch run`
        self.objects = NamedObjects(self.store)
        self.dicts = DictService(self.store, self.objects)
        self.queues = QueueService(self.store, self.objects)
        self.secrets = SecretService(self.store, self.objects, state_dir / "secret.key")
        self.volumes = VolumeService(self.store, self.objects, config.volumes_path(),
                                     config.volumes_url())
        self.nfs = NetworkFileSystems((config.volumes_path() or state_dir) / "nfs", self.objects)
        self.objects.drop_ephemeral()
        self.accepted = AcceptedInputs(self.store, self.state)
        self.outputs = Outputs(self.state, self.store, self.history, self.accepted)
        self.sessions = ContainerSessions(
            self.state, self.worker, self.outputs, self.accepted, self.metrics, self.blobs,
            self.history, self.changes, spec=self.container_spec, log=self.log,
            web_ready=self.gateway.attach, web_failed=self.gateway.capacity.wake)
        self.call_service = CallService(self.state, self.store, self.blobs, self.history,
                                        self.accepted, self.outputs, self.sessions)
        self.scheduler = Scheduler(self.state, self.call_service, self.log)
        self.app_service = AppService(self)
        self.deployments = Deployments(self)
        self.sandboxes = SandboxService(self)
        self.forwards = Forwards(self.state, self.worker, lambda: self.address)
        self.log_queries = LogQueries(self.state, self.store, self.logbook)
        self.sandbox_snapshots = SandboxSnapshots(self)
        self.services: dict[type, object] = {type(s): s for s in (
            self.app_service, self.call_service, self.deployments, self.sandboxes, self.forwards,
            self.objects, self.dicts, self.queues, self.secrets, self.volumes, self.nfs,
            self.tokens, self.environments, self.meter, self.log_queries,
            self.sandbox_snapshots)}

    async def start(self) -> None:
        await self.deployments.restore()
        self.accepted.recover(  # after the deployed apps, whose functions they may run on
            self.outputs.deliver, lambda parent, params: self.app_service.bind(parent, params,
                                                                               stored=True))
        if self._listen:
            from ..protocol.wire import parse_address

            _, host, port = parse_address(self._listen)
            self._server = await asyncio.start_server(self._accept, host, port, limit=1 << 22,
                                                      ssl=self._tls)
            bound = self._server.sockets[0].getsockname()
            self.address = self.container_address = f"{bound[0]}:{bound[1]}"
        if not self._listen or self._tls is not None:
            # containers on this machine: a socket only it reaches, so no TLS (the fast path)
            self._socket_dir = Path(tempfile.mkdtemp(prefix="ketch-"))
            path = self._socket_dir / "cp.sock"
            self._local_server = await asyncio.start_unix_server(self._accept, str(path),
                                                                 limit=1 << 22)
            self.container_address = f"unix:{path}"
            self.address = self.address or self.container_address
        self._ticker = asyncio.ensure_future(self._tick_forever())

    async def close(self) -> None:
        for app in list(self.state.apps.values()):
            # deployed apps stay deployed: the next control plane brings them back
            await self.app_service.stop(app.id, ending=app.id not in self.deployments.versions)
        await self.worker.close()
        await self.gateway.close()
        await self.dashboard.close()
        if self._ticker:
            self._ticker.cancel()
        for server in (self._server, self._local_server):
            if server is not None:
                server.close()
        for peer in list(self._peers):
            peer.close()
        self.meter.flush()
        self.logbook.flush()
        self.accepted.flush()
        self.store.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)

    async def handle(self, request: Request, caller: Identity = LOCAL) -> Answer:
        """Answer one client request (see `ketch.protocol.client`) made by ``caller``: the
        process itself, for an embedded control plane."""
        route = BY_KIND.get(request.KIND)
        if route is None or type(request) is not route.request:
            raise exception.InvalidError(f"unknown request {request.KIND!r}")
        where = targets.locate(self, route.on, request, caller)
        access.check(route.scope, route.writes, where, caller, request.KIND)
        return await route.handler(self.services[route.service], request, caller)  # type: ignore[no-any-return]

    def _rename_environment(self, name: str, new_name: str) -> None:
        """Carry an environment's apps, calls, objects, deployments, blobs, snapshots and
        token grants over to its new name."""
        for table in ("apps", "calls", "objects", "deployments"):
            self.store.execute(f"UPDATE {table} SET environment=? WHERE environment=?",
                               (new_name, name))
        for app in self.state.apps.values():
            if app.environment == name:
                app.environment = new_name
        self.tokens.rename_environment(name, new_name)
        self.blobs.rename_environment(name, new_name)
        self.sandbox_snapshots.rename_environment(name, new_name)

    async def _delete_environment(self, name: str) -> None:
        """End an environment's apps, forget its deployments and drop its objects."""
        for app in [a for a in self.state.apps.values() if a.environment == name]:
            await self.app_service.stop(app.id)
        self.store.execute("DELETE FROM deployments WHERE environment=?", (name,))
        self.objects.delete_environment(name)

    # -- lookups -------------------------------------------------------------------------------

    async def build_image(self, steps: list[dict[str, Any]], runtime: str,
                          log: Callable[[str], None], environment: str) -> dict[str, Any]:
        """Build an image on the worker. The values of the secret a registry step names (one
        of ``environment``'s) go to the worker with the steps, for the pull alone: they are in
        no layer and no store."""
        opened = []
        for step in steps:
            if step.get("secret"):
                self.secrets.check([step["secret"]], f"image {step.get('ref')}", environment)
                step = {**step, "secret_env": self.secrets.environment([step["secret"]], log)}
            opened.append(step)
        return await self.worker.build_image(opened, runtime, log)

    # -- lookups -------------------------------------------------------------------------------

    # -- connections and time ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, lambda kind, body: self.on_frame(peer, kind, body))
        peer._on_close = self.on_peer_closed
        peer.max_frame = MAX_UNAUTHENTICATED_FRAME  # lifted once it has authenticated
        self._peers.add(peer)
        peer.start()

    async def on_frame(self, peer: Peer, kind: str, body: msgspec.Raw) -> Any:
        if "container" in peer.info or kind == wire.HELLO:
            answer = await self.sessions.on_container_frame(peer, kind, body)
            peer.max_frame = MAX_FRAME
            return answer
        if kind == protocol.Auth.KIND:
            who = self._authenticate(decode(body, protocol.Auth, kind))
            if who.kind == "user":
                who = dataclasses.replace(who, connection=next(self._connections))
            peer.info["identity"] = who
            peer.max_frame = MAX_FRAME
            return protocol.Authenticated(kind=who.kind, environment=who.environment)
        identity: Identity | None = peer.info.get("identity")
        if identity is None:
            raise exception.AuthError(
                "this connection has not authenticated: clients send a token first (on the "
                "server's machine it is found in KETCH_HOME/token.json; elsewhere run "
                "`ketch token set`)"
            )
        return await self.handle(decode(body, request_type(kind), kind), identity)

    def _authenticate(self, auth: protocol.Auth) -> Identity:
        if auth.container_id:
            ct = self.state.containers.get(auth.container_id)
            if ct is None or not secrets.compare_digest(ct.token, auth.secret):
                raise exception.AuthError("unknown container or wrong container token")
            app = self.state.apps[self.state.functions[ct.function_id].app_id]
            return Identity("container", ct.id, app.id, frozenset([app.environment]),
                            environment=app.environment)
        if not auth.token_id:
            raise exception.AuthError(
                "no ketch token: on the server's machine it is found by itself; elsewhere run "
                "`ketch token set --token-id ... --token-secret ...`"
            )
        return self.tokens.verify(auth.token_id, auth.secret, kind="user")

    def on_peer_closed(self, peer: Peer) -> None:
        self._peers.discard(peer)
        who: Identity | None = peer.info.get("identity")
        if who is not None and who.connection in self.app_service.held:
            release = asyncio.ensure_future(self.app_service.release(who.connection))
            self._releases.add(release)
            release.add_done_callback(self._releases.discard)

    async def _tick_forever(self) -> None:
        last_expiry = 0.0
        guard = TickGuard()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for fn in list(self.state.functions.values()):
                with guard.piece(fn.id, f"serving function {fn.name} ({fn.id})"):
                    self.sessions.pump(fn)
                    self.sessions.scale(fn)
            with guard.piece("heartbeats", "checking container heartbeats"):
                self.sessions.check_heartbeats(now)
            with guard.piece("schedules", "running schedules"):
                await self.scheduler.tick()
            with guard.piece("metering", "flushing usage"):
                self.meter.flush()
            with guard.piece("logbook", "flushing logs"):
                self.logbook.flush()
            with guard.piece("accepted", "recording the progress of accepted inputs"):
                self.accepted.flush()
            if now - last_expiry > 300:
                last_expiry = now
                with guard.piece("expiry", "expiring old calls, blobs and logs"):
                    self.store.expire(time.time())
                    self.blobs.expire(SPAWN_TTL_S)
                    self.logbook.prune(time.time())

    def container_spec(self, fn: FunctionState, container_id: str, token: str) -> ContainerSpec:
        opts = fn.options
        return ContainerSpec(
            container_id=container_id,
            function_id=fn.id,
            function_name=fn.name,
            app_id=fn.app_id,
            server_address=self.container_address,
            token=token,
            runtime=opts.runtime or "",
            env={**proxies.environment(opts.proxy, self.address.rsplit(":", 1)[0]),
                 **self._secret_env(fn, container_id), **opts.env},
            cpu=opts.cpu,
            memory_mb=opts.memory,
            gpu=opts.gpu,
            image=fn.image,
            volumes=self.volumes.prepare(container_id, fn.definition.volumes)
            if container_id else [],
            binds=self.nfs.binds(fn.definition.network_file_systems) if container_id else [],
            buckets=bucket_mounts.opened(
                self.secrets, fn.definition.cloud_bucket_mounts,
                lambda text: self.log(fn, container_id, "stderr", text)) if container_id else [],
            placement=opts.placement,
            snapshot=MemorySnapshot(definition=fn.definition, params=fn.params)
            if opts.enable_memory_snapshot else None,
            web=opts.serves_web,
        )

    def _secret_env(self, fn: FunctionState, container_id: str) -> dict[str, str]:
        """The function's secrets, opened for a container about to start (not for a spec
        that only checks resources); never stored."""
        if not container_id or not fn.definition.secrets:
            return {}
        return self.secrets.environment(
            fn.definition.secrets, lambda text: self.log(fn, container_id, "stderr", text),
        )

    def log(self, fn: FunctionState, container_id: str, stream: str, text: str,
            call_id: str | None = None) -> None:
        """A line for the app's watchers now, and for `ketch app logs` later."""
        self.state.apps[fn.app_id].logs.append(protocol.LogLine(
            function=fn.name, container_id=container_id, stream=stream, text=text))
        self.logbook.add(fn.app_id, fn.name, container_id, call_id, stream, text)

    def container_exited(self, container_id: str, exit: ContainerExit) -> None:
        if container_id in self.sandboxes.sandboxes:
            self.sandboxes.on_exit(container_id, exit)
        else:
            self.forwards.container_gone(container_id)
            self.sessions.on_container_exit(container_id, exit)

    async def sandbox_frame(self, container_id: str, kind: int, proc: int,
                            payload: bytes) -> None:
        await self.sandboxes.on_frame(container_id, kind, proc, payload)

    async def container_finishing(self, container_id: str) -> None:
        await self.volumes.finish(container_id)

    def container_log(self, container_id: str, stream: str, text: str) -> None:
        sandbox = self.sandboxes.sandboxes.get(container_id)
        if sandbox is not None:
            self.sandboxes.log(sandbox, stream, text)
        else:
            self.sessions.container_log(container_id, stream, text)

    def container_usage(self, container_id: str, sample: UsageSample) -> None:
        sandbox = self.sandboxes.sandboxes.get(container_id)
        if sandbox is not None:
            self.meter.record_sandbox(sandbox.app_id, self.state.apps[sandbox.app_id].name,
                                      sandbox.id, sandbox.options, sample)
            return
        ct = self.state.containers.get(container_id)
        if ct is not None:
            fn = self.state.functions[ct.function_id]
            self.meter.record(fn, self.state.apps[fn.app_id].name, ct, sample)
            ct.usage = sample  # its latest, for the dashboard
            self.changes.note("containers", fn.app_id)
