"""The apps list and an app's page: its versions, functions, containers, calls and inputs.

Tables are paginated on the server, `PAGE_SIZE` rows at a time, and re-fetched (htmx) when the
page's live stream says they changed. The apps are the chosen environment's (``app_list``); an
app, and each part of its page, is shown once ``app_get`` as the signed-in token found it
(whose rights decide). Stopping and rolling back are the control plane's own ``app_stop`` and
``app_rollback`` requests, made as that token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ... import exception
from ...protocol import client as protocol
from ..call_history import CallRecord
from .call_views import call_row, calls_page, finished_inputs, running_inputs, started_calls
from .site import PAGE_SIZE, Site, form_of, offset_of
from .views import app_row, containers_of, functions_of


def add_routes(site: Site) -> None:
    cp = site.cp

    async def app_of(request: Request, app_id: str) -> dict[str, Any]:
        """The app as the visitor may see it: `NotFoundError` or `PermissionDeniedError`
        (a 404 or 403 page) otherwise."""
        found = await site.ask(request, protocol.AppGet(app_id=app_id))
        return app_row(cp, found.app)

    async def versions(request: Request, app: dict[str, Any]) -> list[protocol.VersionInfo]:
        """The deployed versions of an app's name, newest first ([] if never deployed)."""
        try:
            answer = await site.ask(request, protocol.AppHistory(
                name=app["name"], environment=app["environment"]))
        except exception.NotFoundError:
            return []
        return list(reversed(answer.versions))

    async def apps_table(request: Request) -> Response:
        offset = offset_of(request)
        environment = site.environment(request)
        listed = (await site.ask(request, protocol.AppList(
            environment=environment, stopped=True, offset=offset, limit=PAGE_SIZE + 1))).apps
        shown = [app_row(cp, app) for app in listed[:PAGE_SIZE]]
        history = {name: await versions(request, {"name": name, "environment": environment})
                   for name in {a["name"] for a in shown}}
        for app in shown:
            earlier = [v for v in history[app["name"]] if v.version != app["version"]]
            app["versions"] = len(history[app["name"]])
            app["previous"] = earlier[0].version if app["state"] == "deployed" and earlier \
                else None
        return site.page(request, "apps_table.html", apps=shown, offset=offset,
                         size=PAGE_SIZE, more=len(listed) > PAGE_SIZE)

    async def apps(request: Request) -> Response:
        return site.page(request, "apps.html", offset=offset_of(request))

    async def app_page(request: Request) -> Response:
        app = await app_of(request, request.path_params["app_id"])
        return site.page(request, "app.html", app=app, versions=await versions(request, app),
                         functions=functions_of(cp, app["id"]),
                         environment=app["environment"])

    async def functions(request: Request) -> Response:
        app = await app_of(request, request.path_params["app_id"])
        return site.page(request, "functions.html", functions=functions_of(cp, app["id"]))

    async def containers(request: Request) -> Response:
        app, offset = await app_of(request, request.path_params["app_id"]), offset_of(request)
        rows = containers_of(cp, app["id"])
        return site.page(request, "containers.html", app_id=app["id"], total=len(rows),
                         containers=rows[offset:offset + PAGE_SIZE], offset=offset,
                         size=PAGE_SIZE)

    async def calls(request: Request) -> Response:
        app, offset = await app_of(request, request.path_params["app_id"]), offset_of(request)
        rows, total = calls_page(cp, app["id"], offset, PAGE_SIZE)
        return site.page(request, "calls.html", app_id=app["id"], calls=rows, offset=offset,
                         size=PAGE_SIZE, total=total)

    async def call_of(request: Request) -> tuple[CallRecord, dict[str, Any]]:
        """A recent call and its app, as the visitor may see them."""
        record = cp.history.get(request.path_params["call_id"])
        if record is None:
            raise exception.NotFoundError(
                f"no call {request.path_params['call_id']} among the recent calls kept")
        return record, await app_of(request, record.app_id)

    async def call_page(request: Request) -> Response:
        record, app = await call_of(request)
        return site.page(request, "call.html", call=record, app=app,
                         environment=app["environment"])

    async def inputs(request: Request) -> Response:
        record, _ = await call_of(request)
        offset = offset_of(request)
        finished, total = finished_inputs(cp, record.id, offset, PAGE_SIZE)
        summary = call_row(record, started_calls(cp, record.app_id))
        return site.page(request, "inputs.html", call=record, summary=summary, finished=finished,
                         running=running_inputs(cp, record)[:PAGE_SIZE], total=total,
                         offset=offset, size=PAGE_SIZE)

    async def stop(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        await site.ask(request, protocol.AppStop(app_id=app_id))
        return RedirectResponse(f"/apps/{app_id}", status_code=303)

    async def rollback(request: Request) -> Response:
        app = await app_of(request, request.path_params["app_id"])
        form = await form_of(request)
        if not form.get("version", "").isdigit():
            return site.page(request, "missing.html", status_code=400,
                             what="roll back needs a version number")
        await site.ask(request, protocol.AppRollback(
            name=app["name"], version=int(form["version"]), environment=app["environment"]))
        deployed = await site.ask(request, protocol.AppList(environment=app["environment"]))
        now = next((a.app_id for a in deployed.apps
                    if a.name == app["name"] and a.state == "deployed"), app["id"])
        return RedirectResponse(f"/apps/{now}", status_code=303)

    guarded = site.guarded
    site.add(
        Route("/", guarded(apps)),
        Route("/apps-table", guarded(apps_table, frame=False)),
        Route("/apps/{app_id}", guarded(app_page)),
        Route("/apps/{app_id}/functions", guarded(functions, frame=False)),
        Route("/apps/{app_id}/containers", guarded(containers, frame=False)),
        Route("/apps/{app_id}/calls", guarded(calls, frame=False)),
        Route("/apps/{app_id}/stop", guarded(stop, makes="app_stop"), methods=["POST"]),
        Route("/apps/{app_id}/rollback", guarded(rollback, makes="app_rollback"), methods=["POST"]),
        Route("/calls/{call_id}", guarded(call_page)),
        Route("/calls/{call_id}/inputs", guarded(inputs, frame=False)),
    )
