"""The dashboard acts as whoever signed in: each thing a page asks of the control plane is a
client request (`ketch.protocol.client`), answered through the control plane's one table of
routes (`ControlPlane.handle`) as if that token had sent it over the socket.

So a page shows only what the token may see (the environments it is granted), a read-only
token (or a viewer of an environment) may list, peek and download there, and every request
that would change something is refused by `ketch.server.access`, not only hidden here
(`can_change` hides the buttons). What a page reads of the control plane's memory (an app's
containers, its calls) it reads only after a request about that app or environment was let
through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import access
from ..auth import Identity
from ..routes import BY_KIND

if TYPE_CHECKING:
    from ...protocol.message import Request
    from ..control_plane import ControlPlane


async def ask(cp: ControlPlane, who: Identity, request: Request) -> Any:
    """Make one client request as ``who``; its answer.

    Example::

        await ask(cp, who, protocol.AppHistory(name="hello"))  # Versions(versions=[...])
    """
    return await cp.handle(request, who)


def check(who: Identity, kind: str) -> None:
    """Raise `PermissionDeniedError` unless ``who`` may make ``kind`` requests at all (a
    read-only token makes none that change things), before a page reads its form."""
    route = BY_KIND[kind]
    access.check(route.scope, route.writes, None, who, kind)


def can_change(who: Identity, environment: str | None) -> bool:
    """Whether pages show ``who`` the buttons that change things (stop, roll back,
    terminate) in ``environment``: not to a read-only token or a viewer there, whose requests
    to do so `access` refuses."""
    return who.kind == "user" and who.may_change(environment)
