"""Where the thing a request names lives: its environment, app, container and creator.

`locate` answers for the `Target` of a route (`ketch.server.routes`), so that
`ketch.server.access.check` can decide on it. A request naming its environment by name (or
none, meaning the caller's) has that name filled in here, so handlers read one value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import exception
from ..protocol.message import Request
from .access import Target, Where, named_environment
from .auth import Identity

if TYPE_CHECKING:
    from .control_plane import ControlPlane


def locate(cp: ControlPlane, target: Target, request: Request, caller: Identity
           ) -> Where | None:
    if not target.what:
        return None
    if target.what == "environment":
        return Where(_environment(cp, request, caller))
    value = getattr(request, target.field)
    if target.what == "app":
        return _app(cp, request, value, caller)
    if target.what == "function":
        return _function(cp, value)
    if target.what == "call":
        return _call(cp, value, caller)
    if target.what == "sandbox":
        sandbox = cp.sandboxes.get(value)
        return Where(cp.state.apps[sandbox.app_id].environment, sandbox.app_id)
    if target.what == "container":
        return _container(cp, value)
    if target.what == "object":
        return Where(cp.objects.environment_of(value))
    if target.what == "blob":
        return Where(cp.blobs.environment_of(value))
    if target.what == "logs":  # an app's, function's or call's lines: where their app is
        lines = cp.log_queries.lines(value)
        return Where(lines.environment, lines.app_id)
    if target.what == "snapshot":  # where the sandbox it was taken of was
        record = cp.sandbox_snapshots.record(value)
        return Where(record.get("environment", "main"), record["app_id"])
    raise exception.InternalError(f"no way to locate a {target.what}")


def _environment(cp: ControlPlane, request: Request, caller: Identity) -> str:
    environment = named_environment(request, caller)
    cp.environments.check(environment)
    request.environment = environment  # type: ignore[attr-defined]
    return environment


def _app(cp: ControlPlane, request: Request, app_id: str | None, caller: Identity) -> Where:
    if app_id is None:  # a sandbox's app: the container's own, else made when it is needed
        if caller.kind != "container":
            return Where(_environment(cp, request, caller))
        request.app_id = app_id = caller.app_id  # type: ignore[attr-defined]
    app = cp.state.apps.get(app_id)  # type: ignore[arg-type]
    if app is not None:
        return Where(app.environment, app.id)
    stored = cp.store.app(app_id)  # type: ignore[arg-type]  # one that stopped: looked at
    if stored is None:
        raise exception.NotFoundError(f"no app {app_id}")
    return Where(stored["environment"], app_id)


def _function(cp: ControlPlane, function_id: str) -> Where:
    fn = cp.state.function(function_id)
    return Where(cp.state.apps[fn.app_id].environment, fn.app_id)


def _call(cp: ControlPlane, call_id: str, caller: Identity) -> Where:
    call = cp.state.calls.get(call_id)
    if call is not None:
        where = _function(cp, call.function_id)
        return where._replace(creator=call.creator)
    stored = cp.store.call(call_id)
    if stored is not None:
        return Where(stored["environment"])
    # A call that is gone (read to its end, or expired) holds nothing to protect: the caller
    # may cancel or forget it (a no-op), and reading it says it is not there.
    return Where(caller.environment, creator=caller.token_id)


def _container(cp: ControlPlane, container_id: str) -> Where:
    ct = cp.state.containers.get(container_id)
    if ct is None:
        raise exception.NotFoundError(f"no running container {container_id}")
    where = _function(cp, ct.function_id)
    return where._replace(container_id=container_id)
