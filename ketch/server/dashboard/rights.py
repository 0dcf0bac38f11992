"""The dashboard acts as whoever signed in: each thing a page asks of the control plane is a
client request, checked by `access` as if that token had sent it over the socket.

So a read-only token's page may list, peek and download, and every request that would change
something is refused there, not only hidden here (`can_change` hides the buttons).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import access
from ..auth import Identity

if TYPE_CHECKING:
    from ..control_plane import ControlPlane


async def ask(cp: ControlPlane, who: Identity, kind: str, body: dict[str, Any]) -> Any:
    """Make one client request (`ketch.protocol.client`) as ``who``.

    Example::

        await ask(cp, who, "app_history", {"name": "hello"})  # {"versions": [...]}
    """
    access.check(cp, who, kind, body)
    return await cp.handle(kind, body)


def check(cp: ControlPlane, who: Identity, kind: str) -> None:
    """Raise `PermissionDeniedError` unless ``who`` may make ``kind`` requests at all."""
    access.check(cp, who, kind, {})


def can_change(who: Identity) -> bool:
    """Whether pages show ``who`` the buttons that change things (stop, roll back,
    terminate): not to a read-only token, whose requests to do so `access` refuses."""
    return who.kind == "user"
