"""Nothing crosses environments: for every request kind, a user token of another environment
and a container of another environment are refused on the things of this one.

One real control plane with its real worker: a deployed-looking app in environment "prod" with
a running container, a call, a sandbox, a blob and an object of every kind; callers from "dev"
(a token granted "dev" only, and a running container of a "dev" app, each authenticated as the
control plane authenticates them) try every route of the table on them. A sandbox memory
snapshot is taken with gVisor's checkpoint where gVisor runs; without it, the two kinds that
act on a snapshot cannot be tried.
"""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sandbox_runtimes import usable

from ketch import exception
from ketch.protocol import client as protocol
from ketch.protocol.definition import FunctionDefinition, SandboxDefinition, replace
from ketch.server import ControlPlane
from ketch.server.access import Scope
from ketch.server.routes import ROUTES

from apps import basic


def _function(name: str) -> FunctionDefinition:
    """A real function of tests/apps/basic.py, kept warm by one container."""
    definition = basic.square.definition
    return replace(definition, name=name, options=replace(definition.options, min_containers=1))


async def _running_container(cp: ControlPlane, function_id: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = [ct for ct in cp.state.functions[function_id].containers.values() if ct.peer]
        if ready:
            return ready[0].id
        await asyncio.sleep(0.05)
    raise AssertionError("the function's container did not start")


def _sample(request: type[typing.Any], values: dict[str, typing.Any]) -> typing.Any:
    """A request (or a struct inside one) of this type naming the things in ``values`` (other fields: any value)."""
    given = {}
    for field in msgspec.structs.fields(request):
        if field.name in values:
            given[field.name] = values[field.name]
        elif field.required:
            given[field.name] = _any(field.type)
    return request(**given)


def _samples(request: type[protocol.Request], values: dict[str, typing.Any]
             ) -> list[protocol.Request]:
    """Requests of this type on the things in ``values``: a log query of each kind of
    object that has logs (app, function, call)."""
    if request is protocol.LogsQuery:
        return [_sample(request, {"object_id": values[key]})
                for key in ("app_id", "function_id", "call_id")]
    return [_sample(request, values)]


def _any(type_: typing.Any) -> typing.Any:
    origin, args = typing.get_origin(type_), typing.get_args(type_)
    if origin is typing.Literal:
        return args[0]
    if isinstance(type_, type) and issubclass(type_, msgspec.Struct):
        return _sample(type_, {})
    for kind, value in ((str, "x"), (bool, False), (int, 0), (float, 0.0), (bytes, b""),
                        (list, []), (dict, {}), (tuple, ())):
        if type_ is kind or origin is kind:
            return value
    if args:  # an optional or a union: its first member
        return _any(args[0])
    raise AssertionError(f"no sample for {type_}")


async def _world(cp: ControlPlane) -> tuple[dict[str, typing.Any], list[typing.Any]]:
    """The things of "prod", and the callers of "dev"."""
    for name in ("prod", "dev"):
        cp.environments.create(name)
    prod = cp.app_service.create("prod-app", "prod")
    fn = await cp.app_service.add_function(prod.id, _function("f"))
    call = cp.call_service.create(fn.id, "spawn", None, creator="ak-prod")
    sandbox = await cp.handle(protocol.SandboxCreate(
        app_id=prod.id, definition=SandboxDefinition(
            command=["sleep", "300"], runtime="namespace")))
    secret = await cp.handle(protocol.SecretCreate(name="s", values={"K": "v"},
                                                   environment="prod"))
    objects = {kind: cp.objects.lookup(kind, f"{kind}-1", "prod", create_if_missing=True)[0]
               for kind in ("dict", "queue", "volume", "nfs")}
    values = {
        "app_id": prod.id, "function_id": fn.id, "call_id": call.id,
        "sandbox_id": sandbox.sandbox_id, "container_id": await _running_container(cp, fn.id),
        "blob_id": cp.blobs.put(b"prod's", "prod"), "object_id": secret.secret_id,
        "secret_id": secret.secret_id,
        "dict_id": objects["dict"], "queue_id": objects["queue"],
        "volume_id": objects["volume"], "nfs_id": objects["nfs"], "environment": "prod",
    }
    if usable("gvisor") is None:
        held = await cp.handle(protocol.SandboxCreate(
            app_id=prod.id, definition=SandboxDefinition(
            command=["sleep", "300"], runtime="gvisor")))
        values["snapshot_id"] = (await cp.handle(protocol.SandboxSnapshotMemory(
            sandbox_id=held.sandbox_id))).snapshot_id
    dev = cp.app_service.create("dev-app", "dev")
    dev_fn = await cp.app_service.add_function(dev.id, _function("g"))
    dev_container = cp.state.containers[await _running_container(cp, dev_fn.id)]
    token_id, secret_value = cp.tokens.create("user", environments=["dev"])
    callers = [
        cp._authenticate(protocol.Auth(token_id=token_id, secret=secret_value)),
        cp._authenticate(protocol.Auth(container_id=dev_container.id,
                                       secret=dev_container.token)),
    ]
    return values, callers


def on_control_plane(tmp_path: Path, test: Callable[[ControlPlane], Awaitable[None]],
                     started: bool = False) -> None:
    """Run ``test`` on a control plane of its own (``started``: serving), closed after."""
    async def main() -> None:
        cp = ControlPlane(tmp_path)
        if started:
            await cp.start()
        try:
            await test(cp)
        finally:
            await cp.close()

    asyncio.run(main())


def test_every_kind_is_refused_to_callers_of_another_environment(tmp_path):
    async def test(cp: ControlPlane) -> None:
        values, callers = await _world(cp)
        for caller in callers:
            for route in ROUTES:
                if not route.on.what and route.scope is Scope.USER and \
                        caller.kind == "user":
                    continue  # names nothing of prod's (below: it lists dev's alone)
                if route.on.what == "snapshot" and "snapshot_id" not in values:
                    continue  # no gVisor here to take one
                for request in _samples(route.request, values):
                    with pytest.raises(exception.PermissionDeniedError):
                        await cp.handle(request, caller)
                        pytest.fail(f"{caller.kind} of dev made {request!r} on prod")
        user = callers[0]
        listed = await cp.handle(protocol.EnvironmentList(), user)
        assert [e.name for e in listed.environments] == ["dev"]
        assert [a.name for a in (await cp.handle(protocol.AppList(), user)).apps] == \
            ["dev-app"]
        assert b"prod's" == cp.blobs.get(values["blob_id"])  # nothing was touched
        assert cp.sandboxes.get(values["sandbox_id"]).done.is_set() is False

    on_control_plane(tmp_path, test, started=True)


def test_a_read_only_token_makes_only_the_routes_that_change_nothing(tmp_path):
    async def test(cp: ControlPlane) -> None:
        token_id, secret = cp.tokens.create("user", read_only=True)
        viewer = cp._authenticate(protocol.Auth(token_id=token_id, secret=secret))
        app = cp.app_service.create("viewed", "main")
        values = {"app_id": app.id, "environment": "main"}
        for route in ROUTES:
            if route.on.what not in ("environment", "app", ""):
                continue  # the others need a thing to name: the writes are refused first
            request = _sample(route.request, values)
            if route.writes:
                with pytest.raises(exception.PermissionDeniedError, match="read-only"):
                    await cp.handle(request, viewer)
        assert [a.name for a in (await cp.handle(protocol.AppList(), viewer)).apps] == \
            ["viewed"]
        assert not app.stopped

    on_control_plane(tmp_path, test, started=True)


async def _a_container_beside_another_app(cp: ControlPlane) -> tuple[Any, Any, Any, Any]:
    """App ``one`` with function ``f`` and a running container, that container's identity,
    and a second app, ``other``, of the same environment."""
    app = cp.app_service.create("one", "main")
    fn = await cp.app_service.add_function(app.id, _function("f"))
    ct = cp.state.containers[await _running_container(cp, fn.id)]
    me = cp._authenticate(protocol.Auth(container_id=ct.id, secret=ct.token))
    return app, fn, me, cp.app_service.create("other", "main")


def test_scopes_within_one_environment(tmp_path):
    """A container may use its environment's things, but administer nothing, and feed only
    the calls it made."""
    async def test(cp: ControlPlane) -> None:
        app, fn, me, other = await _a_container_beside_another_app(cp)
        other_fn = await cp.app_service.add_function(other.id, _function("h"))
        mine = await cp.handle(protocol.CallCreate(function_id=other_fn.id, kind="map"), me)
        await cp.handle(protocol.InputsDone(call_id=mine.call_id, count=0), me)
        theirs = cp.call_service.create(other_fn.id, "map", None, creator="ak-someone")
        with pytest.raises(exception.PermissionDeniedError, match="only its creator"):
            await cp.handle(protocol.InputsDone(call_id=theirs.id, count=0), me)
        with pytest.raises(exception.PermissionDeniedError, match="only user tokens"):
            await cp.handle(protocol.AppStop(app_id=app.id), me)
        with pytest.raises(exception.PermissionDeniedError, match="its own app"):
            await cp.handle(protocol.FunctionUpdateAutoscaler(
                function_id=other_fn.id, settings=protocol.AutoscalerSettings()), me)
        with pytest.raises(exception.PermissionDeniedError, match="only for itself"):
            other_ct = await _running_container(cp, other_fn.id)
            await cp.handle(protocol.ForwardClose(container_id=other_ct, port=1), me)
        with pytest.raises(exception.PermissionDeniedError, match="its own app"):
            await cp.handle(protocol.LogsQuery(object_id=other_fn.id), me)
        await cp.handle(protocol.FunctionUpdateAutoscaler(  # its own app's: allowed
            function_id=fn.id, settings=protocol.AutoscalerSettings(max_containers=2)), me)
        assert fn.options.max_containers == 2
        own = await cp.handle(protocol.LogsQuery(object_id=fn.id), me)  # its own: allowed
        assert isinstance(own, protocol.LogRecords)
        assert (await cp.handle(protocol.ClientHello(), me)).version

    on_control_plane(tmp_path, test, started=True)


@pytest.mark.skipif(usable("gvisor") is not None, reason=f"gvisor: {usable('gvisor')}")
def test_a_container_restores_a_snapshot_of_its_environment_into_its_own_app(tmp_path):
    """As the sandboxes it creates, a sandbox a container restores belongs to its own app,
    whichever app of its environment the snapshot was taken in."""
    async def test(cp: ControlPlane) -> None:
        app, fn, me, other = await _a_container_beside_another_app(cp)
        held = await cp.handle(protocol.SandboxCreate(
            app_id=other.id, definition=SandboxDefinition(
                command=["sleep", "300"], runtime="gvisor")))
        taken = await cp.handle(protocol.SandboxSnapshotMemory(sandbox_id=held.sandbox_id))
        found = await cp.handle(protocol.SandboxSnapshotGet(snapshot_id=taken.snapshot_id),
                                me)
        assert found.source == held.sandbox_id
        restored = await cp.handle(protocol.SandboxRestore(snapshot_id=taken.snapshot_id),
                                   me)
        assert cp.sandboxes.get(restored.sandbox_id).app_id == app.id

    on_control_plane(tmp_path, test, started=True)


def test_a_tokens_role_in_each_environment(tmp_path):
    async def test(cp: ControlPlane) -> None:
        cp.environments.create("prod")
        token_id, secret = cp.tokens.create("user", environments=["main"])
        await cp.handle(protocol.TokenGrant(token_id=token_id, environment="prod",
                                            role="viewer"))
        who = cp._authenticate(protocol.Auth(token_id=token_id, secret=secret))
        assert (await cp.handle(protocol.AppList(environment="prod"), who)).apps == []
        with pytest.raises(exception.PermissionDeniedError, match="a viewer here"):
            await cp.handle(protocol.AppCreate(name="a", environment="prod"), who)
        await cp.handle(protocol.AppCreate(name="a", environment="main"), who)
        roles = await cp.handle(protocol.EnvironmentRoles(environment="prod"))
        assert roles.tokens[token_id] == "viewer"
        await cp.handle(protocol.TokenGrant(token_id=token_id, environment="prod",
                                            role="no-access"))
        who = cp._authenticate(protocol.Auth(token_id=token_id, secret=secret))
        with pytest.raises(exception.PermissionDeniedError, match="no rights"):
            await cp.handle(protocol.AppList(environment="prod"), who)
        everywhere, _ = cp.tokens.create("user")
        with pytest.raises(exception.InvalidError, match="every environment"):
            await cp.handle(protocol.TokenGrant(token_id=everywhere, environment="prod",
                                                role="viewer"))
        proxy, _ = cp.tokens.create("proxy")
        assert (await cp.handle(protocol.EnvironmentRoles(environment="main"))).tokens[
            proxy] == "contributor"  # unscoped: every environment
        await cp.handle(protocol.TokenGrant(token_id=proxy, environment="prod",
                                            role="contributor"))
        main_roles = await cp.handle(protocol.EnvironmentRoles(environment="main"))
        assert main_roles.tokens[proxy] == "no-access"  # allowed prod: scoped to it

    on_control_plane(tmp_path, test)


def test_renaming_an_environment_carries_its_things_over(tmp_path):
    async def test(cp: ControlPlane) -> None:
        cp.environments.create("staging")
        app = cp.app_service.create("svc", "staging")
        cached, _ = cp.objects.lookup("dict", "cache", "staging", create_if_missing=True)
        blob = cp.blobs.put(b"payload", "staging")
        token_id, secret = cp.tokens.create("user", environments=["staging"])
        await cp.handle(protocol.EnvironmentUpdate(name="staging", new_name="stage"))
        assert app.environment == "stage"
        assert cp.objects.lookup("dict", "cache", "stage")[0] == cached
        assert cp.blobs.get(blob, "stage") == b"payload"
        who = cp._authenticate(protocol.Auth(token_id=token_id, secret=secret))
        assert who.environments == frozenset({"stage"}) and who.environment == "stage"
        with pytest.raises(exception.NotFoundError, match="no environment named"):
            cp.environments.check("staging")
        with pytest.raises(exception.InvalidError, match="keeps its name"):
            await cp.handle(protocol.EnvironmentUpdate(name="main", new_name="primary"))

    on_control_plane(tmp_path, test)
