"""Which requests each caller may make (the rules; `auth.Tokens` says who a caller is)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import exception
from .auth import Identity

if TYPE_CHECKING:
    from .control_plane import ControlPlane

# What a container's own code may not do: it acts within its app, and only there.
NOT_FOR_CONTAINERS = frozenset({
    "app_create", "app_stop", "function_create", "app_deploy", "app_stop_by_name",
    "app_rollback", "app_history", "app_logs", "app_list", "usage_query", "logs_get",
    "token_create", "token_list", "token_revoke",
})
# All a read-only token may ask: requests that change nothing (a lookup only without
# create_if_missing).
READ_ONLY = frozenset({
    "app_list", "app_history", "app_logs", "app_lookup", "logs_get", "usage_query",
    "function_lookup", "web_url", "blob_get", "object_lookup", "object_list", "secret_lookup",
    "dict_get", "dict_contains", "dict_len", "dict_items", "queue_len", "queue_peek",
    "volume_listdir", "volume_read", "nfs_read", "nfs_listdir", "sandbox_get", "sandbox_list",
    "sandbox_from_name", "sandbox_tunnels",
})


def check(cp: ControlPlane, identity: Identity, kind: str, body: dict[str, Any]) -> None:
    if identity.kind == "user":
        return
    if identity.kind == "read-only":
        if kind not in READ_ONLY or body.get("create_if_missing"):
            raise exception.PermissionDeniedError(
                f"a read-only token may not make {kind!r} requests, which change things; use "
                "a user token (`ketch token new`)")
        return
    if identity.kind != "container" or kind in NOT_FOR_CONTAINERS:
        raise exception.PermissionDeniedError(
            f"a {identity.kind} token may not make {kind!r} requests"
        )
    if kind.startswith("forward_") and body.get("container_id") != identity.token_id:
        raise exception.PermissionDeniedError("a container may forward only its own ports")
    if kind == "sandbox_create" and body.get("app_id") is None:
        body["app_id"] = identity.app_id  # a container's sandboxes belong to its app
    app_id = _app_of(cp, kind, body)
    if app_id is not None and app_id != identity.app_id:
        raise exception.PermissionDeniedError(
            "a container may only use the functions and sandboxes of its own app"
        )


def _app_of(cp: ControlPlane, kind: str, body: dict[str, Any]) -> str | None:
    """The app a request acts on, where it names one."""
    if kind in ("call_create", "function_bind") and body.get("function_id") in cp.functions:
        return cp.functions[body["function_id"]].app_id
    if kind in ("inputs_put", "inputs_done", "call_cancel") and body.get("call_id") in cp.calls:
        return cp.functions[cp.calls[body["call_id"]].function_id].app_id
    if kind == "sandbox_create":
        return body.get("app_id")
    if kind.startswith(("sandbox_", "process_")) and body.get("sandbox_id") in cp.sandboxes.sandboxes:
        return cp.sandboxes.sandboxes[body["sandbox_id"]].app_id
    if kind == "function_lookup":
        return cp.deployments.deployed(body["app_name"]).id
    return None
