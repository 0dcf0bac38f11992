"""The dashboard's ASGI app: the `Site` with every page module's routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette

from . import app_pages, log_pages, node_pages, object_pages, usage_pages
from .site import Site

if TYPE_CHECKING:
    from ..control_plane import ControlPlane


def build(cp: ControlPlane, launch_key: str) -> Starlette:
    """The dashboard for one control plane.

    Example::

        app = build(control_plane, secrets.token_urlsafe(24))  # serve with uvicorn
    """
    site = Site(cp, launch_key)
    for pages in (app_pages, log_pages, usage_pages, object_pages, node_pages):
        pages.add_routes(site)
    return site.app()
