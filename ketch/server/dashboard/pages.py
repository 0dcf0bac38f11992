"""The dashboard's routes: sign-in, the apps list, an app's page, its live logs, /metrics.

Pages are rendered on the server (Jinja2) and parts of them re-fetched with htmx when the
app's event stream (``/apps/{id}/events``, server-sent events) says they changed: log lines
come through that stream from the app's own `AppLogs` window, never by polling tables. What a
page shows of a function is chosen field by field: a secret's values, and environment
values, are never among them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ...protocol import client as protocol
from ..auth import Identity
from ..call_history import failure_text
from ..metrics import CONTENT_TYPE
from . import session
from .views import app_row, containers_of, functions_of

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

HERE = Path(__file__).parent
PAGE_SIZE = 50
LOG_BACKLOG = 500  # lines a new log view starts with


def build(cp: ControlPlane, launch_key: str) -> Starlette:
    """The dashboard's ASGI app for one control plane.

    Example::

        app = build(control_plane, secrets.token_urlsafe(24))  # serve with uvicorn
    """
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["ago"] = _ago
    templates.env.filters["seconds"] = _seconds

    def page(request: Request, name: str, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, context)

    def signed_in(request: Request) -> Identity | None:
        return session.of_request(cp, launch_key, request)

    async def signin(request: Request) -> Response:
        error = ""
        if request.method == "POST":
            form = parse_qs((await request.body()).decode("utf-8", "replace"))
            value = f"{_first(form, 'token_id')}:{_first(form, 'token_secret')}"
        elif request.query_params.get("key"):
            value = f"{session.LAUNCH}:{request.query_params['key']}"
        else:
            return page(request, "signin.html", error="")
        if session.identity(cp, launch_key, value) is None:
            error = ("that token was refused (unknown, revoked, wrong secret or not a user "
                     "token); make one with `ketch token new` on the server's machine")
            return page(request, "signin.html", error=error)
        answer = RedirectResponse(request.query_params.get("next") or "/", status_code=303)
        answer.set_cookie(session.COOKIE, value, httponly=True, samesite="strict",
                          secure=request.url.scheme == "https")
        return answer

    async def signout(request: Request) -> Response:
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(session.COOKIE)
        return answer

    def guarded(handler: Any) -> Any:
        async def checked(request: Request) -> Response:
            who = signed_in(request)
            if who is None:
                if request.headers.get("hx-request"):
                    return Response("signed out", status_code=401)
                return RedirectResponse(f"/signin?next={request.url.path}", status_code=303)
            request.state.who = who
            answer: Response = await handler(request)
            return answer
        return checked

    async def apps(request: Request) -> Response:
        offset = _offset(request)
        rows = cp.store.fetchall(
            "SELECT id, name, state, created, stopped FROM apps ORDER BY created DESC "
            "LIMIT ? OFFSET ?", (PAGE_SIZE + 1, offset))
        listed = [app_row(cp, *row) for row in rows[:PAGE_SIZE]]
        return page(request, "apps.html", apps=listed, offset=offset, size=PAGE_SIZE,
                    more=len(rows) > PAGE_SIZE, who=request.state.who)

    async def app_page(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        row = cp.store.fetchone("SELECT id, name, state, created, stopped FROM apps WHERE id=?",
                                (app_id,))
        if row is None:
            return page(request, "missing.html", what=f"no app {app_id}")
        return page(request, "app.html", app=app_row(cp, *row),
                    functions=functions_of(cp, app_id), who=request.state.who,
                    can_change=session.can_change(request.state.who) and app_id in cp.state.apps
                    and not cp.state.apps[app_id].stopped)

    async def calls(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        offset = _offset(request)
        records, total = cp.history.page(app_id, offset, PAGE_SIZE)
        shown = [(r, failure_text(*r.failure) if r.failure else "") for r in records]
        return page(request, "calls.html", app_id=app_id, calls=shown, offset=offset,
                    size=PAGE_SIZE, total=total)

    async def containers(request: Request) -> Response:
        return page(request, "containers.html",
                    containers=containers_of(cp, request.path_params["app_id"]))

    async def stop(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        if not session.can_change(request.state.who) or not _same_origin(request):
            return Response("this sign-in may not stop apps", status_code=403)
        if app_id in cp.state.apps:  # as the signed-in token: its rights, no more
            await cp.handle(protocol.AppStop(app_id=app_id), request.state.who)
        return RedirectResponse(f"/apps/{app_id}", status_code=303)

    async def events(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        function = request.query_params.get("function") or None
        return StreamingResponse(_events(cp, app_id, function), media_type="text/event-stream",
                                 headers={"cache-control": "no-store"})

    async def metrics(request: Request) -> Response:
        if not session.may_scrape(cp, launch_key, request):
            return Response("/metrics needs a user token (Authorization: Bearer ID:SECRET) "
                            "off this machine\n", status_code=401)
        return Response(cp.metrics.render(), media_type=CONTENT_TYPE)

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    return Starlette(routes=[
        Route("/", guarded(apps)),
        Route("/signin", signin, methods=["GET", "POST"]),
        Route("/signout", signout, methods=["POST"]),
        Route("/apps/{app_id}", guarded(app_page)),
        Route("/apps/{app_id}/calls", guarded(calls)),
        Route("/apps/{app_id}/containers", guarded(containers)),
        Route("/apps/{app_id}/events", guarded(events)),
        Route("/apps/{app_id}/stop", guarded(stop), methods=["POST"]),
        Route("/metrics", metrics),
        Route("/favicon.ico", favicon),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ])


async def _events(cp: ControlPlane, app_id: str, function: str | None) -> AsyncIterator[str]:
    """An app's event stream: ``log`` (a line), ``changed`` (calls or containers), ``end``."""
    app = cp.state.apps.get(app_id)
    if app is None:
        yield _event("end", {"reason": "the app is not running on this control plane"})
        return
    cursor = max(0, app.logs._base + len(app.logs._lines) - LOG_BACKLOG)
    seen = -1
    while True:
        lines, cursor = await app.logs.read(cursor, timeout=0.5)
        for line in lines:
            if function is None or line.function == function:
                yield _event("log", {"function": line.function, "container": line.container_id,
                                     "stream": line.stream, "text": line.text})
        version = cp.history.version.get(app_id, 0) + sum(
            len(cp.state.functions[f].containers) for f in app.function_ids if f in cp.state.functions)
        if version != seen:
            seen = version
            yield _event("changed", {})
        if app.logs.closed and not lines:
            yield _event("end", {"reason": "the app stopped"})
            return
        await asyncio.sleep(0)


def _event(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


def _first(form: dict[str, list[str]], key: str) -> str:
    return (form.get(key) or [""])[0].strip()


def _offset(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        return 0


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def _ago(when: float | None) -> str:
    if not when:
        return ""
    return f"{_seconds(time.time() - when)} ago"


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"
