"""The node(s) and the schedules: what each node has and what its containers reserve and use
(the whole machine's, for any signed-in token: it names no app), and each scheduled function
of the chosen environment with its next firing."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...protocol import client as protocol
from .site import Site
from .views import measured, schedules


def add_routes(site: Site) -> None:
    cp = site.cp

    async def nodes(request: Request) -> Response:
        return site.page(request, "nodes.html", nodes=cp.worker.nodes_in_use(), used=measured(cp))

    async def schedule_page(request: Request) -> Response:
        environment = site.environment(request)
        await site.ask(request, protocol.EnvironmentGet(environment=environment))
        return site.page(request, "schedules.html", schedules=schedules(cp, environment))

    site.add(Route("/nodes", site.guarded(nodes)),
             Route("/schedules", site.guarded(schedule_page)))
