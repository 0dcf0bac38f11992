"""Logs and the live streams: an app's lines filtered by function, container and call, with
search, and the event streams the pages listen to.

An app's live view streams from its log window (`live.app_events`) once ``app_get`` let the
visitor see the app; a view of one call's lines, of a stopped app, or of older lines is the
answer to a ``logs_query`` (the logbook, which keeps each line's call), made as the visitor.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ...protocol import client as protocol
from . import live
from .site import Site
from .views import functions_in

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

KINDS = frozenset({"apps", "calls", "containers", "sandboxes"})


def log_filter(cp: ControlPlane, request: Request) -> live.LogFilter:
    """The filters of a log view; its function is named by id (``fu-``), its lines by name."""
    query = request.query_params
    function_id = query.get("function") or None
    names = {fn.id: fn.name for fn in functions_in(cp, request.path_params["app_id"])}
    return live.LogFilter(function=names.get(function_id or "", function_id),
                          function_id=function_id, container=query.get("container") or None,
                          call=query.get("call") or None, text=query.get("q") or None)


def add_routes(site: Site) -> None:
    cp = site.cp

    async def app_events(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        await site.ask(request, protocol.AppGet(app_id=app_id))  # the visitor may see it
        return _stream(cp, live.app_events(cp, app_id, log_filter(cp, request)))

    async def events(request: Request) -> Response:
        kinds = set((request.query_params.get("kinds") or "").split(",")) & KINDS
        environment = site.environment(request)
        await site.ask(request, protocol.EnvironmentGet(environment=environment))
        return _stream(cp, live.events(cp, kinds, environment))

    async def logs(request: Request) -> Response:
        """The stored lines of an app that match the filters: the newest page, or the page
        before line ``before``."""
        shown, app_id = log_filter(cp, request), request.path_params["app_id"]
        before = request.query_params.get("before")
        answer = await site.ask(request, protocol.LogsQuery(
            object_id=shown.function_id or app_id, call_id=shown.call,
            search=shown.text or "", container_id=shown.container, tail=live.BACKLOG,
            before=int(before) if before and before.isdigit() else None))
        return site.page(request, "log_lines.html", lines=answer.lines, app_id=app_id,
                         query=request.query_params, more=len(answer.lines) == live.BACKLOG)

    site.add(
        Route("/apps/{app_id}/events", site.guarded(app_events, frame=False)),
        Route("/apps/{app_id}/logs", site.guarded(logs, frame=False)),
        Route("/events", site.guarded(events, frame=False)),
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
