"""The table of request kinds: every kind has a route with a scope, a target it can find, typed
request and answer, and a handler of the right shape; no kind is open by accident."""

from __future__ import annotations

import inspect

import msgspec
import pytest

from ketch.protocol import client as protocol
from ketch.protocol.message import KINDS, Answer, Request, decode, encode
from ketch.server.access import Scope
from ketch.server.routes import BY_KIND, ROUTES

NOT_ROUTED = {"auth"}  # answered by the connection itself, before there is a caller


def test_every_request_kind_has_exactly_one_route():
    assert len(BY_KIND) == len(ROUTES), "two routes for one kind"
    assert set(KINDS) - NOT_ROUTED == set(BY_KIND)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.request.KIND)
def test_a_route_declares_scope_types_target_and_handler(route):
    assert isinstance(route.scope, Scope)
    assert issubclass(route.request, Request) and route.request.KIND
    assert issubclass(route.request.ANSWER, Answer)
    fields = {f.name for f in msgspec.structs.fields(route.request)}
    if route.on.field:
        assert route.on.field in fields, f"{route.on} names no field of {route.request}"
    if route.on.what == "environment":
        assert "environment" in fields
    if route.scope not in (Scope.ADMIN, Scope.USER):
        assert route.on.what, "only routes for user tokens alone may name no target"
    assert inspect.iscoroutinefunction(route.handler)
    assert list(inspect.signature(route.handler).parameters) == ["self", "req", "caller"]
    assert route.handler.__qualname__.split(".")[0] == route.service.__name__


def test_containers_may_never_administer():
    for kind in ("app_create", "app_stop", "function_create", "app_deploy", "app_rollback",
                 "app_stop_by_name", "token_create", "token_list", "token_revoke",
                 "environment_create", "environment_delete", "app_logs", "usage_query"):
        assert BY_KIND[kind].scope in (Scope.ADMIN, Scope.USER), kind


def test_a_body_of_the_wrong_shape_is_refused_naming_the_field():
    good = protocol.CallCreate(function_id="fu-1", kind="map")
    assert decode(encode(good), protocol.CallCreate) == good
    bad = msgspec.msgpack.encode(["fu-1", "map", [[0, None, 7, None]]])
    with pytest.raises(Exception, match=r"call_create: Expected `bytes \| null`, got `int` "
                                        r"\(field `records\[0\].args`\)"):
        decode(bad, protocol.CallCreate, "call_create")
    with pytest.raises(Exception, match=r"Invalid enum value 'forever' \(field `kind`\)"):
        decode(msgspec.msgpack.encode(["fu-1", "forever"]), protocol.CallCreate, "call_create")
