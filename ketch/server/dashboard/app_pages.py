"""The apps list and an app's page: its versions, functions, containers, calls and inputs.

Tables are paginated on the server, `PAGE_SIZE` rows at a time, and re-fetched (htmx) when the
page's live stream says they changed. Stopping and rolling back are the control plane's own
``app_stop`` and ``app_rollback`` requests, made as the signed-in token.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ... import exception
from .call_views import call_row, calls_page, finished_inputs, running_inputs, started_calls
from .site import PAGE_SIZE, Site, form_of, offset_of
from .views import app_row, containers_of, functions_of


def add_routes(site: Site) -> None:
    cp = site.cp

    def app_or_none(app_id: str) -> dict[str, Any] | None:
        row = cp.store.fetchone("SELECT id, name, state, created, stopped FROM apps WHERE id=?",
                                (app_id,))
        return app_row(cp, *row) if row else None

    async def versions(request: Request, name: str) -> list[dict[str, Any]]:
        """The deployed versions of an app's name, newest first ([] if never deployed)."""
        try:
            answer = await site.ask(request, "app_history", {"name": name})
        except exception.NotFoundError:
            return []
        return list(reversed(answer["versions"]))

    async def apps_table(request: Request) -> Response:
        offset = offset_of(request)
        rows = cp.store.fetchall(
            "SELECT id, name, state, created, stopped FROM apps ORDER BY created DESC "
            "LIMIT ? OFFSET ?", (PAGE_SIZE + 1, offset))
        listed = [app_row(cp, *row) for row in rows[:PAGE_SIZE]]
        history = {name: await versions(request, name) for name in {a["name"] for a in listed}}
        for app in listed:
            earlier = [v for v in history[app["name"]] if v["version"] != app["version"]]
            app["versions"] = len(history[app["name"]])
            app["previous"] = earlier[0]["version"] if app["state"] == "deployed" and earlier \
                else None
        return site.page(request, "apps_table.html", apps=listed, offset=offset,
                         size=PAGE_SIZE, more=len(rows) > PAGE_SIZE)

    async def apps(request: Request) -> Response:
        return site.page(request, "apps.html", offset=offset_of(request))

    async def app_page(request: Request) -> Response:
        app = app_or_none(request.path_params["app_id"])
        if app is None:
            return site.page(request, "missing.html", status_code=404,
                             what=f"no app {request.path_params['app_id']}")
        return site.page(request, "app.html", app=app, versions=await versions(request,
                                                                               app["name"]),
                         functions=functions_of(cp, app["id"]))

    async def functions(request: Request) -> Response:
        return site.page(request, "functions.html",
                         functions=functions_of(cp, request.path_params["app_id"]))

    async def containers(request: Request) -> Response:
        app_id, offset = request.path_params["app_id"], offset_of(request)
        rows = containers_of(cp, app_id)
        return site.page(request, "containers.html", app_id=app_id, total=len(rows),
                         containers=rows[offset:offset + PAGE_SIZE], offset=offset,
                         size=PAGE_SIZE)

    async def calls(request: Request) -> Response:
        app_id, offset = request.path_params["app_id"], offset_of(request)
        rows, total = calls_page(cp, app_id, offset, PAGE_SIZE)
        return site.page(request, "calls.html", app_id=app_id, calls=rows, offset=offset,
                         size=PAGE_SIZE, total=total)

    async def call_page(request: Request) -> Response:
        record = cp.history.get(request.path_params["call_id"])
        if record is None:
            return site.page(request, "missing.html", status_code=404, what=(
                f"no call {request.path_params['call_id']} among the recent calls kept"))
        return site.page(request, "call.html", call=record, app=app_or_none(record.app_id))

    async def inputs(request: Request) -> Response:
        record = cp.history.get(request.path_params["call_id"])
        if record is None:
            return Response("", status_code=404)
        offset = offset_of(request)
        finished, total = finished_inputs(cp, record.id, offset, PAGE_SIZE)
        summary = call_row(record, started_calls(cp, record.app_id))
        return site.page(request, "inputs.html", call=record, summary=summary, finished=finished,
                         running=running_inputs(cp, record)[:PAGE_SIZE], total=total,
                         offset=offset, size=PAGE_SIZE)

    async def stop(request: Request) -> Response:
        app_id = request.path_params["app_id"]
        await site.ask(request, "app_stop", {"app_id": app_id})
        return RedirectResponse(f"/apps/{app_id}", status_code=303)

    async def rollback(request: Request) -> Response:
        app = app_or_none(request.path_params["app_id"])
        form = await form_of(request)
        if app is None or not form.get("version", "").isdigit():
            return site.page(request, "missing.html", status_code=400,
                             what="roll back needs an app and a version number")
        await site.ask(request, "app_rollback", {"name": app["name"],
                                                 "version": int(form["version"])})
        deployed = await site.ask(request, "app_list", {})
        now = next((a["app_id"] for a in deployed["apps"]
                    if a["name"] == app["name"] and a["state"] == "deployed"), app["id"])
        return RedirectResponse(f"/apps/{now}", status_code=303)

    guarded = site.guarded
    site.add(
        Route("/", guarded(apps)),
        Route("/apps-table", guarded(apps_table)),
        Route("/apps/{app_id}", guarded(app_page)),
        Route("/apps/{app_id}/functions", guarded(functions)),
        Route("/apps/{app_id}/containers", guarded(containers)),
        Route("/apps/{app_id}/calls", guarded(calls)),
        Route("/apps/{app_id}/stop", guarded(stop, makes="app_stop"), methods=["POST"]),
        Route("/apps/{app_id}/rollback", guarded(rollback, makes="app_rollback"), methods=["POST"]),
        Route("/calls/{call_id}", guarded(call_page)),
        Route("/calls/{call_id}/inputs", guarded(inputs)),
    )
