"""Logs and the live streams: an app's lines filtered by function, container and call, with
search, and the event streams the pages listen to.

An app's live view streams from its log window (`live.app_events`); a view of one call's
lines, of a stopped app, or of older lines reads the logbook (``Logbook.search``), which keeps
each line's call.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from . import live
from .site import Site

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

KINDS = frozenset({"apps", "calls", "containers", "sandboxes"})


def log_filter(request: Request) -> live.LogFilter:
    query = request.query_params
    return live.LogFilter(function=query.get("function") or None,
                          container=query.get("container") or None,
                          call=query.get("call") or None, text=query.get("q") or None)


def add_routes(site: Site) -> None:
    cp = site.cp

    async def app_events(request: Request) -> Response:
        return _stream(cp, live.app_events(cp, request.path_params["app_id"],
                                           log_filter(request)))

    async def events(request: Request) -> Response:
        kinds = set((request.query_params.get("kinds") or "").split(",")) & KINDS
        return _stream(cp, live.events(cp, kinds))

    async def logs(request: Request) -> Response:
        """The logbook's lines of an app that match the filters: the newest page, or the
        page before line ``before``."""
        shown = log_filter(request)
        before = request.query_params.get("before")
        lines = cp.logbook.search(
            request.path_params["app_id"], function=shown.function, container=shown.container,
            call=shown.call, text=shown.text, limit=live.BACKLOG,
            before=int(before) if before and before.isdigit() else None)
        return site.page(request, "log_lines.html", lines=lines, app_id=request.path_params[
            "app_id"], query=request.query_params, more=len(lines) == live.BACKLOG)

    site.add(
        Route("/apps/{app_id}/events", site.guarded(app_events)),
        Route("/apps/{app_id}/logs", site.guarded(logs)),
        Route("/events", site.guarded(events)),
    )


def _stream(cp: ControlPlane, body: AsyncGenerator[str, None]) -> Response:
    async def watched() -> AsyncIterator[str]:  # counted in `Changes.watchers` while open
        with cp.changes.watching():
            try:
                async for item in body:
                    yield item
            finally:
                await body.aclose()

    return StreamingResponse(watched(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})
