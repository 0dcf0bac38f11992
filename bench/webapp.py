"""The ASGI app of the web measurements h) and j), served by ketch and by plain uvicorn.

It lives in a module of its own that imports nothing but Starlette, so that plain uvicorn
(``python -m uvicorn --factory webapp:make_app``) starts without importing ketch. ketch's
endpoints in `workloads` return the same app, made by the same factory.
"""

from __future__ import annotations

from typing import Any

BODY = {"hello": "world"}


def make_app() -> Any:
    """A Starlette app with one route, ``GET /``, answering a short JSON object."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Request) -> JSONResponse:
        return JSONResponse(BODY)

    return Starlette(routes=[Route("/", hello)])
