"""The node(s) and the schedules: what each node has and what its containers reserve and use,
and each scheduled function's next firing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .site import Site
from .views import measured, schedules


def add_routes(site: Site) -> None:
    cp = site.cp

    async def nodes(request: Request) -> Response:
        return site.page(request, "nodes.html", nodes=cp.worker.nodes_in_use(), used=measured(cp))

    async def schedule_page(request: Request) -> Response:
        return site.page(request, "schedules.html", schedules=schedules(cp))

    site.add(Route("/nodes", site.guarded(nodes)),
             Route("/schedules", site.guarded(schedule_page)))
