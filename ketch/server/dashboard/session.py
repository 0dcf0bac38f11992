"""Who is looking at the dashboard: a user token (read-only, or a viewer, included) in a
cookie, checked on every request.

Signing in with a token's id and secret sets the ``ketch_token`` cookie to ``id:secret``
(HttpOnly, SameSite=Strict, so no other site's page can send it or a script read it); each
request checks it against the token store, so a revoked token is out at once. ``ketch run``'s
embedded control plane prints a link holding a key made for that process alone
(`Dashboard.launch_key`), which signs in the same way without a stored token.

``/metrics`` also takes the token as ``Authorization: Bearer id:secret`` (Prometheus'
``authorization`` setting), or no token from the machine itself (loopback).
"""

from __future__ import annotations

import ipaddress
import secrets
from typing import TYPE_CHECKING

from starlette.requests import Request

from ... import exception
from ..auth import Identity

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

COOKIE = "ketch_token"
LAUNCH = "launch"  # the token id of a launch key's sign-in


def identity(cp: ControlPlane, launch_key: str, value: str | None) -> Identity | None:
    """The identity of a cookie or bearer value ``id:secret``, or None if it is refused.

    Example::

        identity(cp, key, request.cookies.get(COOKIE))  # Identity("user", "ak-…") or None
    """
    token_id, _, secret = (value or "").partition(":")
    if not token_id or not secret:
        return None
    if token_id == LAUNCH:
        return Identity("user", LAUNCH) if secrets.compare_digest(secret, launch_key) else None
    try:
        return cp.tokens.verify(token_id, secret, kind="user")
    except exception.Error:
        return None


def of_request(cp: ControlPlane, launch_key: str, request: Request) -> Identity | None:
    """The signed-in identity of a page request (its cookie)."""
    return identity(cp, launch_key, request.cookies.get(COOKIE))


def may_scrape(cp: ControlPlane, launch_key: str, request: Request) -> bool:
    """Whether ``request`` may read /metrics: a user token, or a client on this machine."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return identity(cp, launch_key, header[7:].strip()) is not None
    if of_request(cp, launch_key, request) is not None:
        return True
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
