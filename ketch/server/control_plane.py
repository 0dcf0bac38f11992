"""The control plane: the requests clients make, and the life of containers.

One `ControlPlane` serves one state directory. It runs embedded in a ``ketch run`` process (the
SDK then calls `handle` directly) or standalone under ``ketch server``; both listen on a socket
for containers and remote clients. Its answers to client requests are described in
`ketch.protocol.client`; its messages to containers in `ketch.protocol.container`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import shutil
import ssl
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import config, exception
from ..protocol import container as wire
from ..protocol.peer import Peer
from ..protocol.wire import MAX_FRAME, MAX_UNAUTHENTICATED_FRAME
from ..protocol.worker import ContainerExit, ContainerSpec, UsageSample, Worker, WorkerEvents
from ..worker import LocalWorker
from . import (
    access,
    call_service,
    deployments,
    dicts,
    objects,
    proxies,
    queues,
    sandboxes,
    vault,
    volumes,
)
from .accepted import AcceptedInputs
from .auth import CLIENT_KINDS, Identity, Tokens
from .autoscaler import COUNTS, check_settings
from .blobs import BlobStore
from .call_history import CallHistory
from .call_service import SPAWN_TTL_S, CallService
from .calls import Call
from .changes import Changes
from .containers import ContainerSessions
from .dashboard import Dashboard
from .deployments import Deployments
from .dicts import DictService
from .dispatch import FunctionState
from .forwards import REQUESTS as FORWARD_REQUESTS
from .forwards import Forwards
from .gateway import Gateway
from .logbook import Logbook
from .logs import AppLogs
from .metering import Meter
from .metrics import Metrics
from .network_file_systems import REQUESTS as NFS_REQUESTS
from .network_file_systems import NetworkFileSystems
from .objects import NamedObjects
from .queues import QueueService
from .sandboxes import SandboxService
from .scheduler import Scheduler
from .store import Store
from .tick_guard import TickGuard
from .vault import SecretService
from .volumes import VolumeService

log = logging.getLogger("ketch")

TICK_S = 0.2
CLIENT_REQUESTS = frozenset(
    {
        "app_create", "app_stop", "function_create", "function_bind", "logs_get", "blob_put", "blob_get", "usage_query", "token_create", "token_list", "token_revoke",
        "web_url", "function_update_autoscaler", "app_lookup",
    }
)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


class AppState:
    def __init__(self, app_id: str, name: str) -> None:
        self.id = app_id
        self.name = name
        self.created = time.time()
        self.function_ids: list[str] = []
        self.logs = AppLogs()
        self.stopped = False


class ControlPlane:
    """Example::

        cp = ControlPlane(Path("/tmp/state"))
        await cp.start()
        answer = await cp.handle(*client_protocol.app_create("hello"))
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
        self.apps: dict[str, AppState] = {}
        self.functions: dict[str, FunctionState] = {}
        self.calls: dict[str, Call] = {}
        self.cancelled: set[str] = set()
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
        self.sessions = ContainerSessions(self)
        self.meter = Meter(self.store)
        self.changes = Changes()  # for live pages: what changed, noted where it changes
        self.history = CallHistory(self.changes)  # for the dashboard and /metrics
        self.metrics = Metrics(self)
        self.logbook = Logbook(self.store)
        self.scheduler = Scheduler(self)
        self.tokens = Tokens(self.store)
        self.gateway = Gateway(self)
        self.dashboard = Dashboard(self)  # started by `ketch server` and `ketch run`
        self.objects = NamedObjects(self.store)
        self.dicts = DictService(self.store, self.objects)
        self.queues = QueueService(self.store, self.objects)
        self.secrets = SecretService(self.store, self.objects, state_dir / "secret.key")
        self.volumes = VolumeService(self.store, self.objects, config.volumes_path(),
                                     config.volumes_url())
        self.nfs = NetworkFileSystems((config.volumes_path() or state_dir) / "nfs", self.objects)
        self.object_requests = {
            name: getattr(service, name)
            for service, names in ((self.objects, objects.REQUESTS), (self.dicts, dicts.REQUESTS),
                                   (self.queues, queues.REQUESTS),
                                   (self.secrets, vault.REQUESTS),
                                   (self.volumes, volumes.REQUESTS),
                                   (self.nfs, NFS_REQUESTS))
            for name in names
        }
        self.objects.drop_ephemeral()
        self.call_service = CallService(self)
        self.accepted = AcceptedInputs(self)
        self.object_requests.update(
            (name, getattr(self.call_service, name)) for name in call_service.REQUESTS
        )
        self.deployments = Deployments(self)
        self.sandboxes = SandboxService(self)
        self.forwards = Forwards(self)
        for service, names in ((self.deployments, deployments.REQUESTS),
                               (self.sandboxes, sandboxes.REQUESTS),
                               (self.forwards, FORWARD_REQUESTS)):
            self.object_requests.update((name, getattr(service, name)) for name in names)

    async def start(self) -> None:
        await self.deployments.restore()
        self.accepted.recover()  # after the deployed apps, whose functions they may run on
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
        for app in list(self.apps.values()):
            # deployed apps stay deployed: the next control plane brings them back
            await self.app_stop(app.id, ending=app.id not in self.deployments.versions)
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

    async def handle(self, kind: str, body: dict[str, Any]) -> Any:
        """Answer one client request (see `ketch.protocol.client`)."""
        if kind in CLIENT_REQUESTS:
            return await getattr(self, kind)(**body)
        if kind in self.object_requests:
            return await self.object_requests[kind](**body)
        raise exception.InvalidError(f"unknown request {kind!r}")

    # -- apps and functions ------------------------------------------------------------------

    def restore_app(self, app_id: str, name: str) -> AppState:
        """Bring back a stored app (a deployed one, on restart)."""
        app = AppState(app_id, name)
        self.apps[app.id] = app
        return app

    async def app_create(self, name: str, description: str = "") -> dict[str, Any]:
        app = AppState(new_id("ap"), name)
        self.apps[app.id] = app
        self.store.add_app(app.id, name, description)
        self.changes.note("apps", app.id)
        return {"app_id": app.id}

    async def app_lookup(self, name: str, create_if_missing: bool = False) -> dict[str, Any]:
        """The running app of that name (deployed, or made by an earlier lookup), else a new
        one with ``create_if_missing``."""
        for app in self.apps.values():
            if app.name == name and not app.stopped:
                return {"app_id": app.id}
        if not create_if_missing:
            raise exception.NotFoundError(
                f"no running or deployed app named {name!r}; deploy it with `ketch deploy`, or "
                "pass create_if_missing=True")
        return await self.app_create(name)

    async def app_stop(self, app_id: str, ending: bool = True) -> dict[str, Any]:
        """Stop the app's containers and sandboxes; unless ``ending`` is False (a deployed app
        when the control plane shuts down), the app ends for good."""
        app = self._app(app_id)
        if app.stopped:
            return {}
        app.stopped = True
        waits: list[Any] = [asyncio.wait_for(event.wait(), 10.0)
                            for event in self.sandboxes.stop_app(app_id)]
        for function_id in app.function_ids:
            fn = self.functions[function_id]
            fn.options = {**fn.options, "min_containers": 0, "max_containers": 0}
            for ct in list(fn.containers.values()):
                waits.append(self.sessions.stop_container(ct, requeue=False))
        await asyncio.gather(*waits, return_exceptions=True)  # a sandbox late to end: let go
        deadline = time.monotonic() + 10.0
        while any(self.functions[f].containers for f in app.function_ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        if ending:
            self.store.stop_app(app_id)
            await self.secrets.release([s for f in app.function_ids  # its unnamed secrets
                                        for s in self.functions[f].definition.get("secrets") or []])
        self.meter.flush()
        app.logs.close()
        self.changes.note("apps", app_id)
        return {}

    async def function_create(self, app_id: str, definition: dict[str, Any],
                              function_id: str | None = None) -> dict[str, Any]:
        """Create a function; with ``function_id``, bring back a stored one (on restart)."""
        app = self._app(app_id)
        if not isinstance(definition, dict) or not isinstance(definition.get("options"), dict):
            raise exception.InvalidError("a function's definition is a dict with an options dict")
        check_settings(definition["options"])  # before the tick reads them
        fn = FunctionState(function_id or new_id("fu"), app_id, definition, None)
        self.secrets.check(definition.get("secrets") or [], fn.name)  # before any container
        problem = self.worker.never_fits(self.container_spec(fn, "", ""))
        if problem is not None:
            raise exception.ResourceExhaustedError(
                f"function {fn.name!r} can never run here: {problem}. Ask for less, or run "
                "it on a larger machine."
            )
        for volume_id in (definition.get("volumes") or {}).values():
            self.objects.kind_of(volume_id, "volume")
        for nfs_id in (definition.get("network_file_systems") or {}).values():
            self.objects.kind_of(nfs_id, "nfs")
        if fn.options.get("proxy"):
            proxies.check(fn.options["proxy"], fn.name)
        note = self.worker.placement_note(self.container_spec(fn, "", ""))
        if note:
            self.log(fn, "", "stderr", note)
        for key, what in (("volumes", "volumes"), ("network_file_systems", "network file systems")):
            if definition.get(key) and self.worker.runtime_of(fn.options.get("runtime")) != "namespace":
                raise exception.InvalidError(
                    f"function {fn.name!r} mounts {what}, which need the namespace runtime (root "
                    "on Linux); use their files through their methods instead"
                )
        if definition.get("image"):
            def log(text: str) -> None:
                app.logs.append(["image", "", "stderr", text])
                self.logbook.add(app.id, "image", "", None, "stderr", text)

            fn.image = await self.build_image(definition["image"], fn.options.get("runtime") or "",
                                              log)
            if fn.image.get("rooted") and definition.get("sys_path"):
                # the host is not beneath an image of its own: its module comes in by a bind
                fn.image = {**fn.image, "module_root": definition["sys_path"][0]}
        self.functions[fn.id] = fn
        self.scheduler.add(fn)
        if fn.options.get("web") or fn.options.get("web_methods"):
            await self.gateway.start(port=config.gateway_port())
            self.gateway.forget_routes()  # a new version may take over a label
        app.function_ids.append(fn.id)
        if function_id is None:
            self.store.add_function(fn.id, app_id, fn.name, definition, None)
        return {"function_id": fn.id}

    async def build_image(self, steps: list[dict[str, Any]], runtime: str,
                          log: Callable[[str], None]) -> dict[str, Any]:
        """Build an image on the worker. The values of the secret a registry step names go to
        the worker with the steps, for the pull alone: they are in no layer and no store."""
        opened = []
        for step in steps:
            if step.get("secret"):
                self.secrets.check([step["secret"]], f"image {step.get('ref')}")
                step = {**step, "secret_env": self.secrets.environment([step["secret"]], log)}
            opened.append(step)
        return await self.worker.build_image(opened, runtime, log)

    async def function_bind(self, function_id: str, params: bytes) -> dict[str, Any]:
        return {"function_id": self._bind(self._function(function_id), params).id}

    def _bind(self, parent: FunctionState, params: bytes, stored: bool = False
              ) -> FunctionState:
        """A class bound to parameters: its own function (and containers), made once;
        ``stored`` when the store has it already (brought back after a restart)."""
        bound_id = f"{parent.id}-{hashlib.sha256(params).hexdigest()[:16]}"
        if bound_id not in self.functions:
            fn = FunctionState(bound_id, parent.app_id, parent.definition, params)
            fn.family_id = parent.id
            fn.image = parent.image
            self.functions[bound_id] = fn
            self.apps[parent.app_id].function_ids.append(bound_id)
            if not stored:
                self.store.add_function(bound_id, parent.app_id, fn.name, parent.definition,
                                        params)
        return self.functions[bound_id]

    # -- calls -------------------------------------------------------------------------------

    async def logs_get(self, app_id: str, cursor: int, timeout: float | None) -> dict[str, Any]:
        lines, end = await self._app(app_id).logs.read(cursor, timeout)
        return {"lines": lines, "cursor": end, "closed": self._app(app_id).logs.closed}

    async def usage_query(self, group_by: str, since: float | None = None,
                          until: float | None = None, app_id: str | None = None) -> dict[str, Any]:
        self.meter.flush()
        return {"rows": self.store.usage(group_by, since, until, app_id)}

    async def blob_put(self, data: bytes) -> dict[str, Any]:
        return {"blob_id": self.blobs.put(data)}

    async def blob_get(self, blob_id: str) -> dict[str, Any]:
        return {"data": self.blobs.get(blob_id)}

    # -- lookups -------------------------------------------------------------------------------

    def _app(self, app_id: str) -> AppState:
        try:
            return self.apps[app_id]
        except KeyError:
            raise exception.NotFoundError(f"no running app {app_id}") from None

    def _function(self, function_id: str) -> FunctionState:
        try:
            return self.functions[function_id]
        except KeyError:
            raise exception.NotFoundError(f"no function {function_id}") from None

    def _call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise exception.NotFoundError(f"no active function call {call_id}") from None

    # -- connections and time ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(reader, writer, lambda kind, body: self.on_frame(peer, kind, body))
        peer._on_close = self.on_peer_closed
        peer.max_frame = MAX_UNAUTHENTICATED_FRAME  # lifted once it has authenticated
        self._peers.add(peer)
        peer.start()

    async def on_frame(self, peer: Peer, kind: str, body: Any) -> Any:
        if "container" in peer.info or kind == wire.HELLO:
            answer = await self.sessions.on_container_frame(peer, kind, body)
            peer.max_frame = MAX_FRAME
            return answer
        if kind == "auth":
            peer.info["identity"] = self._authenticate(body)
            peer.max_frame = MAX_FRAME
            return {"kind": peer.info["identity"].kind}
        identity = peer.info.get("identity")
        if identity is None:
            raise exception.AuthError(
                "this connection has not authenticated: clients send a token first (on the "
                "server's machine it is found in KETCH_HOME/token.json; elsewhere run "
                "`ketch token set`)"
            )
        access.check(self, identity, kind, body)
        return await self.handle(kind, body)

    def _authenticate(self, body: dict[str, Any]) -> Identity:
        if body.get("container_id"):
            ct = self.sessions.containers.get(body["container_id"])
            if ct is None or not secrets.compare_digest(ct.token, body.get("secret") or ""):
                raise exception.AuthError("unknown container or wrong container token")
            return Identity("container", ct.id, self.functions[ct.function_id].app_id)
        if not body.get("token_id"):
            raise exception.AuthError(
                "no ketch token: on the server's machine it is found by itself; elsewhere run "
                "`ketch token set --token-id ... --token-secret ...`"
            )
        return self.tokens.verify(body["token_id"], body.get("secret") or "", kind=CLIENT_KINDS)

    async def function_update_autoscaler(self, function_id: str, settings: dict[str, Any]
                                         ) -> dict[str, Any]:
        fn = self._function(function_id)
        allowed = {*COUNTS, "scaledown_window"}
        if not isinstance(settings, dict) or set(settings) - allowed:
            raise exception.InvalidError(
                f"update_autoscaler takes a dict of {', '.join(sorted(allowed))}, not {settings!r}")
        fn.options = check_settings({**fn.options, **settings})
        self.sessions.scale(fn)
        return {}

    async def web_url(self, function_id: str, method: str | None = None) -> dict[str, Any]:
        fn = self._function(function_id)
        if not (fn.options.get("web_methods") or {}).get(method or "") and not fn.options.get("web"):
            raise exception.InvalidError(f"{fn.name} {method or ''} is not a web endpoint")
        return {"url": self.gateway.url_of(fn, method)}

    async def token_create(self, kind: str = "user") -> dict[str, Any]:
        token_id, secret = self.tokens.create(kind)
        return {"token_id": token_id, "token_secret": secret}

    async def token_list(self) -> dict[str, Any]:
        return {"tokens": self.tokens.list()}

    async def token_revoke(self, token_id: str) -> dict[str, Any]:
        self.tokens.revoke(token_id)
        return {}

    def on_peer_closed(self, peer: Peer) -> None:
        self._peers.discard(peer)

    async def _tick_forever(self) -> None:
        last_expiry = 0.0
        guard = TickGuard()
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            for fn in list(self.functions.values()):
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
            runtime=opts.get("runtime") or "",
            env={**proxies.environment(opts.get("proxy"), self.address.rsplit(":", 1)[0]),
                 **self._secret_env(fn, container_id), **(opts.get("env") or {})},
            cpu=opts.get("cpu"),
            memory_mb=opts.get("memory"),
            gpu=opts.get("gpu"),
            image=fn.image,
            volumes=self.volumes.prepare(container_id, fn.definition.get("volumes") or {})
            if container_id else [],
            binds=self.nfs.binds(fn.definition.get("network_file_systems") or {})
            if container_id else [],
            placement=opts.get("placement"),
            snapshot={"definition": fn.definition, "params": fn.params}
            if opts.get("enable_memory_snapshot") else None,
        )

    def _secret_env(self, fn: FunctionState, container_id: str) -> dict[str, str]:
        """The function's secrets, opened for a container about to start (not for a spec
        that only checks resources); never stored."""
        if not container_id or not fn.definition.get("secrets"):
            return {}
        return self.secrets.environment(
            fn.definition["secrets"], lambda text: self.log(fn, container_id, "stderr", text),
        )

    def log(self, fn: FunctionState, container_id: str, stream: str, text: str,
            call_id: str | None = None) -> None:
        """A line for the app's watchers now, and for `ketch app logs` later."""
        self.apps[fn.app_id].logs.append([fn.name, container_id, stream, text])
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
            self.meter.record_sandbox(sandbox.app_id, self.apps[sandbox.app_id].name,
                                      sandbox.id, sandbox.options, sample)
            return
        ct = self.sessions.containers.get(container_id)
        if ct is not None:
            fn = self.functions[ct.function_id]
            self.meter.record(fn, self.apps[fn.app_id].name, ct, sample)
            ct.usage = sample  # its latest, for the dashboard
            self.changes.note("containers", fn.app_id)
