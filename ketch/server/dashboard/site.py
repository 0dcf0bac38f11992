"""The dashboard's web app: sign-in, the pages' shared frame, and /metrics.

Pages are rendered on the server (Jinja2) and parts of them re-fetched with htmx when a live
stream (`live`) says they changed. Each page module (`app_pages`, `usage_pages`,
`object_pages`, `node_pages`) adds its routes to the `Site`; a page sees whoever signed in as
``request.state.who``, and asks the control plane for things as that identity (`rights`).

As Modal's dashboard, pages show one environment at a time: the one chosen in the header (kept
in the ``ketch_env`` cookie), else the token's default; the choice lists the environments the
token may use (``environment_list``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ... import exception
from ...protocol import client as protocol
from ...protocol.message import Request as ClientRequest
from ..metrics import CONTENT_TYPE
from . import rights, session

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

HERE = Path(__file__).parent
PAGE_SIZE = 50
MAX_PARTS = 8  # pages one /parts request may ask for
ENV_COOKIE = "ketch_env"
Handler = Callable[[Request], Awaitable[Response]]


class Site:
    """Example::

        site = Site(control_plane, launch_key)
        site.add(Route("/usage", site.guarded(usage)))
        app = site.app()  # serve with uvicorn
    """

    def __init__(self, cp: ControlPlane, launch_key: str) -> None:
        self.cp = cp
        self.launch_key = launch_key
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        for name, function in (("ago", ago), ("seconds", seconds), ("when", when), ("clock", clock),
                               ("number", number), ("mib", mib)):
            self.templates.env.filters[name] = function
        self.routes: list[BaseRoute] = [
            Route("/signin", self.signin, methods=["GET", "POST"]),
            Route("/signout", self.signout, methods=["POST"]),
            Route("/environment", self.guarded(self.choose, frame=False)),
            Route("/metrics", self.metrics),
            Route("/parts", self.guarded(self.parts, frame=False)),
            Route("/favicon.ico", lambda request: Response(status_code=204)),
        ]

    def add(self, *routes: BaseRoute) -> None:
        self.routes.extend(routes)

    def app(self) -> Starlette:
        return Starlette(routes=[
            *self.routes, Mount("/static", StaticFiles(directory=str(HERE / "static")))])

    def page(self, request: Request, template: str, status_code: int = 200,
             **context: Any) -> Response:
        """``template`` drawn with ``context``; ``environment`` in it names the one the page
        shows (by default the chosen one), whose rights decide the buttons shown."""
        who = getattr(request.state, "who", None)
        shown = {"who": who, "status": status_code,
                 "environment": self.environment(request) if who else "",
                 "environments": getattr(request.state, "environments", []), **context}
        shown["can_change"] = who is not None and rights.can_change(who, shown["environment"])
        return self.templates.TemplateResponse(request, template, shown,
                                               status_code=status_code)

    def environment(self, request: Request) -> str:
        """The environment the visitor chose, if its token may use it; else the token's
        default."""
        who = request.state.who
        chosen = request.cookies.get(ENV_COOKIE)
        return chosen if chosen and who.may_use(chosen) else who.environment

    def guarded(self, handler: Handler, makes: str | None = None, frame: bool = True
                ) -> Handler:
        """``handler`` for signed-in visitors only; with ``makes``, a POST that makes that
        client request: it must come from this site (no other origin), and the visitor's
        token may make it (`access`), which is checked before anything else. Unless
        ``frame`` is False (a part of a page, a stream, a file), what it draws has the header,
        which lists the environments the visitor may choose."""
        async def checked(request: Request) -> Response:
            who = session.of_request(self.cp, self.launch_key, request)
            if who is None:
                if request.headers.get("hx-request") or request.method != "GET":
                    return Response("signed out", status_code=401)
                return RedirectResponse(f"/signin?next={quote(str(request.url.path))}",
                                        status_code=303)
            request.state.who = who
            if makes is not None and not _same_origin(request):
                return Response("refused: a change must come from the dashboard's own page",
                                status_code=403)
            try:
                if makes is not None:
                    rights.check(who, makes)
                elif frame and not request.headers.get("hx-request"):
                    listed = await self.ask(request, protocol.EnvironmentList())
                    request.state.environments = [e.name for e in listed.environments]
                return await handler(request)
            except exception.PermissionDeniedError as refused:
                return self.page(request, "missing.html", status_code=403, what=str(refused))
            except exception.NotFoundError as missing:
                return self.page(request, "missing.html", status_code=404, what=str(missing))
        return checked

    async def parts(self, request: Request) -> Response:
        """Several of this site's GET pages in one answer, a JSON list of their HTML: a live
        page re-fetches every table that changed with one request (each is costly to a
        browser), as the visitor."""
        shown = []
        for src in request.query_params.getlist("src")[:MAX_PARTS]:
            path, _, query = src.partition("?")
            scope = {**request.scope, "path": path, "raw_path": path.encode(),
                     "query_string": query.encode()}
            route = next((r for r in self.routes if isinstance(r, Route) and r.path != "/parts"
                          and r.matches(scope)[0] == Match.FULL), None)
            if route is None or not path.startswith("/"):
                shown.append("")
                continue
            answer = await route.endpoint(Request({**scope, **route.matches(scope)[1]},
                                                  request.receive))
            body = getattr(answer, "body", None)  # a stream has none: not a part
            shown.append(bytes(body).decode() if body and answer.status_code == 200 else "")
        return JSONResponse(shown)

    async def ask(self, request: Request, asked: ClientRequest) -> Any:
        """A client request as the visitor (`rights.ask`)."""
        return await rights.ask(self.cp, request.state.who, asked)

    async def choose(self, request: Request) -> Response:
        """Show environment ``name`` from now on (one the token may use), back on ``next``."""
        name = request.query_params.get("name", "")
        await self.ask(request, protocol.EnvironmentGet(environment=name))  # refused, or there
        answer = RedirectResponse(local(request.query_params.get("next")), status_code=303)
        answer.set_cookie(ENV_COOKIE, name, httponly=True, samesite="strict",
                          secure=request.url.scheme == "https")
        return answer

    async def signin(self, request: Request) -> Response:
        if request.method == "POST":
            form = await form_of(request)
            value = f"{form.get('token_id', '')}:{form.get('token_secret', '')}"
        elif request.query_params.get("key"):
            value = f"{session.LAUNCH}:{request.query_params['key']}"
        else:
            return self.page(request, "signin.html", error="")
        if session.identity(self.cp, self.launch_key, value) is None:
            return self.page(request, "signin.html", error=(
                "that token was refused (unknown, revoked, wrong secret or a proxy token); "
                "make one with `ketch token new` on the server's machine"))
        answer = RedirectResponse(local(request.query_params.get("next")), status_code=303)
        answer.set_cookie(session.COOKIE, value, httponly=True, samesite="strict",
                          secure=request.url.scheme == "https")
        return answer

    async def signout(self, request: Request) -> Response:
        answer = RedirectResponse("/signin", status_code=303)
        answer.delete_cookie(session.COOKIE)
        answer.delete_cookie(ENV_COOKIE)
        return answer

    async def metrics(self, request: Request) -> Response:
        if not session.may_scrape(self.cp, self.launch_key, request):
            return Response("/metrics needs a user token (Authorization: Bearer ID:SECRET) "
                            "off this machine\n", status_code=401)
        return Response(self.cp.metrics.render(), media_type=CONTENT_TYPE)


async def form_of(request: Request) -> dict[str, str]:
    """A POSTed form's fields (the first value of each), trimmed."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {key: values[0].strip() for key, values in fields.items() if values}


def local(target: str | None) -> str:
    """``target`` if it is a path of this site, else the front page: no redirect elsewhere."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


def offset_of(request: Request) -> int:
    try:
        return max(0, int(request.query_params.get("offset") or 0))
    except ValueError:
        return 0


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.url.netloc}"


def ago(moment: float | None) -> str:
    return f"{seconds(time.time() - moment)} ago" if moment else ""


def when(moment: float | None) -> str:
    """A moment in UTC, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(moment)) if moment else ""


def clock(moment: float | None) -> str:
    """A moment's time of day in UTC, with its date unless it is today's (UTC): live tables
    show it rather than an age, so that they change only when what they show does."""
    if not moment:
        return ""
    today = time.gmtime().tm_yday == time.gmtime(moment).tm_yday
    return time.strftime("%H:%M:%S" if today else "%Y-%m-%d %H:%M:%S", time.gmtime(moment))


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.1f} h"


def number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def mib(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value / 1024:.1f} GiB" if value >= 1024 else f"{value:.0f} MiB"
