"""Apps and their functions: create, look up and stop apps; create functions and bind classes
to parameters; an app's live output; web URLs and autoscaler overrides.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import msgspec

from .. import config, exception
from ..protocol import client as protocol
from ..protocol.definition import FunctionDefinition, replace
from . import bucket_mounts, proxies
from .auth import Identity
from .autoscaler import check_settings
from .dispatch import FunctionState
from .state import AppState

log = logging.getLogger("ketch")

if TYPE_CHECKING:
    from .control_plane import ControlPlane


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(8)}"


def secret_ids(definition: FunctionDefinition) -> list[str]:
    """The secrets a function's definition names: its own and its bucket mounts'."""
    return [*definition.secrets, *(b["secret_id"] for b in definition.cloud_bucket_mounts
                                   if b.get("secret_id"))]


class AppService:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.held: dict[int, set[str]] = {}  # client connection: the apps it runs, undetached

    # -- requests ------------------------------------------------------------------------------

    async def app_create(self, req: protocol.AppCreate, caller: Identity) -> protocol.AppId:
        app = self.create(req.name, req.environment, req.description)
        if caller.connection and not req.detach:
            self.held.setdefault(caller.connection, set()).add(app.id)
        return protocol.AppId(app_id=app.id)

    async def app_lookup(self, req: protocol.AppLookup, caller: Identity) -> protocol.AppId:
        return protocol.AppId(app_id=self.lookup(req.name, req.environment,
                                                 req.create_if_missing).id)

    async def app_stop(self, req: protocol.AppStop, caller: Identity) -> protocol.Empty:
        await self.stop(req.app_id)
        return protocol.Empty()

    async def function_create(self, req: protocol.FunctionCreate, caller: Identity
                              ) -> protocol.FunctionId:
        fn = await self.add_function(req.app_id, req.definition)
        return protocol.FunctionId(function_id=fn.id)

    async def function_bind(self, req: protocol.FunctionBind, caller: Identity
                            ) -> protocol.FunctionId:
        return protocol.FunctionId(function_id=self.bind(self.cp.state.function(req.function_id),
                                                         req.params).id)

    async def logs_get(self, req: protocol.LogsGet, caller: Identity) -> protocol.LogLines:
        app = self.cp.state.app(req.app_id)
        lines, end = await app.logs.read(req.cursor, req.timeout)
        return protocol.LogLines(lines=lines, cursor=end, closed=app.logs.closed)

    async def function_update_autoscaler(self, req: protocol.FunctionUpdateAutoscaler,
                                         caller: Identity) -> protocol.AutoscalerNow:
        fn = self.cp.state.function(req.function_id)
        given = {k: v for k, v in msgspec.structs.asdict(req.settings).items() if v is not None}
        fn.options = check_settings(replace(fn.options, **given))
        self.cp.sessions.scale(fn)
        now = {name: getattr(fn.options, name)
               for name in protocol.AutoscalerSettings.__struct_fields__}
        return protocol.AutoscalerNow(settings=protocol.AutoscalerSettings(**now))

    async def web_url(self, req: protocol.WebUrl, caller: Identity) -> protocol.Url:
        fn = self.cp.state.function(req.function_id)
        if not (fn.options.web_methods or {}).get(req.method or "") and not fn.options.web:
            raise exception.InvalidError(f"{fn.name} {req.method or ''} is not a web endpoint")
        return protocol.Url(url=self.cp.gateway.url_of(fn, req.method))

    # -- for the control plane -------------------------------------------------------------------

    def create(self, name: str, environment: str, description: str = "") -> AppState:
        app = self.cp.state.add_app(AppState(new_id("ap"), name, environment))
        self.cp.store.add_app(app.id, name, description, environment)
        self.cp.changes.note("apps", app.id)
        return app

    def lookup(self, name: str, environment: str, create_if_missing: bool = False) -> AppState:
        """The running app of that name (deployed, or made by an earlier lookup), else a new
        one with ``create_if_missing``."""
        app = self.cp.state.running_app(name, environment)
        if app is not None:
            return app
        if not create_if_missing:
            where = "" if environment == "main" else f" in environment {environment!r}"
            raise exception.NotFoundError(
                f"no running or deployed app named {name!r}{where}; deploy it with `ketch "
                "deploy`, or pass create_if_missing=True")
        return self.create(name, environment)

    def restore(self, app_id: str, name: str, environment: str) -> AppState:
        """Bring back a stored app (a deployed one, on restart)."""
        return self.cp.state.add_app(AppState(app_id, name, environment))

    async def release(self, connection: int) -> None:
        """The client connection closed: the apps it ran without detaching stop, as the client
        that would have stopped them is gone (killed, or its machine lost). A deployed one
        stays."""
        for app_id in self.held.pop(connection, set()):
            app = self.cp.state.apps.get(app_id)
            if app is not None and not app.stopped and app_id not in self.cp.deployments.versions:
                log.info("app %s (%s) stops: the client that ran it has disconnected",
                         app.name, app_id)
                await self.stop(app_id)

    async def stop(self, app_id: str, ending: bool = True) -> None:
        """Stop the app's containers and sandboxes; unless ``ending`` is False (a deployed app
        when the control plane shuts down), the app ends for good."""
        cp = self.cp
        app = cp.state.app(app_id)
        if app.stopped:
            return
        app.stopped = True
        waits: list[Any] = [asyncio.wait_for(event.wait(), 10.0)
                            for event in cp.sandboxes.stop_app(app_id)]
        for function_id in app.function_ids:
            fn = cp.state.functions[function_id]
            fn.options = replace(fn.options, min_containers=0, max_containers=0)
            for ct in list(fn.containers.values()):
                waits.append(cp.sessions.stop_container(ct, requeue=False))
        await asyncio.gather(*waits, return_exceptions=True)  # a sandbox late to end: let go
        deadline = time.monotonic() + 10.0
        while any(cp.state.functions[f].containers for f in app.function_ids):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.01)
        if ending:
            cp.store.stop_app(app_id)
            cp.secrets.release([s for f in app.function_ids  # its unnamed secrets
                                for s in secret_ids(cp.state.functions[f].definition)])
        cp.meter.flush()
        app.logs.close()
        cp.changes.note("apps", app_id)

    async def add_function(self, app_id: str, definition: FunctionDefinition,
                           function_id: str | None = None) -> FunctionState:
        """Create a function; with ``function_id``, bring back a stored one (on restart)."""
        cp = self.cp
        app = cp.state.app(app_id)
        check_settings(definition.options)  # before the tick reads them
        fn = FunctionState(function_id or new_id("fu"), app_id, definition, None)
        self._check_function(fn, app.environment)
        web = fn.options.serves_web
        if web and function_id is None:  # a deployed app coming back had its label already
            cp.gateway.routes.check(fn)
        # a bucket is tried once when its app starts; not when a deployed app comes back
        await bucket_mounts.check(cp.secrets, definition.cloud_bucket_mounts,
                                  f"function {fn.name!r}", app.environment,
                                  probe=function_id is None)
        if definition.image:
            def log(text: str) -> None:
                app.logs.append(protocol.LogLine(function="image", container_id="",
                                                 stream="stderr", text=text))
                cp.logbook.add(app.id, "image", "", None, "stderr", text)

            fn.image = await cp.build_image(definition.image, fn.options.runtime or "", log,
                                            app.environment)
            if fn.image.get("rooted") and definition.sys_path:
                # the host is not beneath an image of its own: its module comes in by a bind
                fn.image = {**fn.image, "module_root": definition.sys_path[0]}
        cp.state.add_function(fn)
        cp.scheduler.add(fn)
        if web:
            await cp.gateway.start(port=config.gateway_port())
            cp.gateway.forget_routes()  # a new version may take over a label
        if function_id is None:
            cp.store.add_function(fn.id, app_id, fn.name, definition, None)
        return fn

    def _check_function(self, fn: FunctionState, environment: str) -> None:
        """Refuse a function that could never run, before any container tries."""
        cp, definition = self.cp, fn.definition
        cp.secrets.check(definition.secrets, f"function {fn.name!r}", environment)
        problem = cp.worker.never_fits(cp.container_spec(fn, "", ""))
        if problem is not None:
            raise exception.ResourceExhaustedError(
                f"function {fn.name!r} can never run here: {problem}. Ask for less, or run "
                "it on a larger machine."
            )
        for volume_id in definition.volumes.values():
            cp.objects.kind_of(volume_id, "volume", environment)
        for nfs_id in definition.network_file_systems.values():
            cp.objects.kind_of(nfs_id, "nfs", environment)
        if fn.options.proxy:
            proxies.check(fn.options.proxy, fn.name)
        note = cp.worker.placement_note(cp.container_spec(fn, "", ""))
        if note:
            cp.log(fn, "", "stderr", note)
        for mounts, what in ((definition.volumes, "volumes"),
                             (definition.network_file_systems, "network file systems"),
                             (definition.cloud_bucket_mounts, "cloud buckets")):
            if mounts and cp.worker.runtime_of(fn.options.runtime) != "namespace":
                raise exception.InvalidError(
                    f"function {fn.name!r} mounts {what}, which need the namespace runtime (root "
                    "on Linux); use their files through their methods instead"
                )

    def bind(self, parent: FunctionState, params: bytes, stored: bool = False) -> FunctionState:
        """A class bound to parameters: its own function (and containers), made once;
        ``stored`` when the store has it already (brought back after a restart)."""
        cp = self.cp
        bound_id = f"{parent.id}-{hashlib.sha256(params).hexdigest()[:16]}"
        if bound_id not in cp.state.functions:
            fn = cp.state.add_function(
                FunctionState(bound_id, parent.app_id, parent.definition, params))
            fn.family_id = parent.id
            fn.image = parent.image
            if not stored:
                cp.store.add_function(bound_id, parent.app_id, fn.name, parent.definition, params)
        return cp.state.functions[bound_id]
