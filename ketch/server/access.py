"""Who may make which request: scopes, the targets requests name, and the one check.

The boundary is the environment. Each route of `ketch.server.routes` declares a `Scope` and the
`Target` its request acts on; `check` finds where the target lives (`Where`) and lets the
caller through only if its scope allows. A kind with no route is refused before this.

============  ===============================  ==============================================
scope         a user token                     a container's token
============  ===============================  ==============================================
ADMIN         only with rights over every      never
              environment, not read-only
USER          of the target's environment      never: a container's code does not administer
ENVIRONMENT   of the target's environment      of the same environment
APP           of the target's environment      only within its own app
CONTAINER     of the target's environment      only for its own container
CREATOR       of the target's environment      only for what it created itself
============  ===============================  ==============================================

A read-only user token (or one that is a viewer of the target's environment) may make only
routes that change nothing; a proxy token opens web endpoints and makes no request at all.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from .. import exception
from ..protocol.message import Request
from .auth import Identity


class Scope(enum.Enum):
    ADMIN = "admin"
    USER = "user"
    ENVIRONMENT = "environment"
    APP = "app"
    CONTAINER = "container"
    CREATOR = "creator"


class Target(NamedTuple):
    """What a request acts on: ``what`` ("environment", "app", "function", "call", "sandbox",
    "object", "container", "blob", "logs" (an app's, function's or call's lines), "snapshot",
    or "" for nothing in particular), named by its ``field``."""

    what: str
    field: str = ""


class Where(NamedTuple):
    """Where a target lives, as far as the scopes care."""

    environment: str
    app_id: str | None = None
    container_id: str | None = None
    creator: str | None = None


def check(scope: Scope, writes: bool, where: Where | None, caller: Identity, kind: str) -> None:
    """Refuse ``caller`` a request of ``kind`` on a target at ``where`` (None: no target),
    unless ``scope`` allows it."""
    if caller.kind == "user":
        if writes and not caller.may_change(where.environment if where else None):
            raise _denied(caller, kind, "a read-only token (a viewer here) changes nothing")
        if scope is Scope.ADMIN and not caller.admin:
            raise _denied(caller, kind, "only a token for every environment may")
        if where is not None and not caller.may_use(where.environment):
            raise _denied(caller, kind, f"the token has no rights in environment "
                                        f"{where.environment!r}")
        return
    if caller.kind != "container" or scope in (Scope.ADMIN, Scope.USER):
        raise _denied(caller, kind, "only user tokens may")
    if where is None or where.environment != caller.environment:
        raise _denied(caller, kind, "a container acts only within its own environment")
    if scope is Scope.APP and where.app_id != caller.app_id:
        raise _denied(caller, kind, "a container may do this only within its own app")
    if scope is Scope.CONTAINER and where.container_id != caller.token_id:
        raise _denied(caller, kind, "a container may do this only for itself")
    if scope is Scope.CREATOR and where.creator != caller.token_id:
        raise _denied(caller, kind, "only its creator may")


def creator_of(caller: Identity) -> str:
    """What `Where.creator` records for things ``caller`` makes."""
    return caller.token_id


def named_environment(request: Request, caller: Identity) -> str:
    """The environment a request names, or the caller's own when it names none."""
    return getattr(request, "environment", "") or caller.environment


def _denied(caller: Identity, kind: str, why: str) -> exception.PermissionDeniedError:
    return exception.PermissionDeniedError(f"a {caller.kind} token may not make {kind!r} "
                                           f"requests here: {why}")
