"""Sandboxes (with their execs, tags and a terminate button), volumes (browse, download a
file), dicts and queues (a peek at their entries) and secrets (names and keys, never values).

Everything is asked of the services with the visitor's token (`Site.ask`), except a dict's
page of entries and a secret's key names, which their services give through one accessor each
(`DictService.entries`, `SecretService.keys`): no request returns a page of a dict, and none
may return a secret's keys without its values.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .peek import describe
from .site import PAGE_SIZE, Site, offset_of

CHUNK = 4 << 20  # bytes per volume_read while downloading
KINDS = {"volumes": "volume", "dicts": "dict", "queues": "queue", "secrets": "secret"}


def add_routes(site: Site) -> None:
    cp = site.cp

    async def object_id(request: Request, kind: str) -> str:
        answer = await site.ask(request, "object_lookup",
                                {"kind": kind, "name": request.path_params["name"]})
        return str(answer["object_id"])

    async def sandboxes(request: Request) -> Response:
        listed = (await site.ask(request, "sandbox_list", {"app_id": None, "tags": None}))
        rows = []
        for sb in sorted(listed["sandboxes"], key=lambda s: -s["created"])[:PAGE_SIZE]:
            app = cp.apps.get(sb["app_id"])
            rows.append({**sb, "app": app.name if app else sb["app_id"],
                         "processes": cp.sandboxes.processes(sb["sandbox_id"])})
        return site.page(request, "sandboxes.html", sandboxes=rows,
                         total=len(listed["sandboxes"]))

    async def terminate(request: Request) -> Response:
        await site.ask(request, "sandbox_terminate",
                       {"sandbox_id": request.path_params["sandbox_id"]})
        return RedirectResponse("/sandboxes", status_code=303)

    async def listing(request: Request) -> Response:
        section = request.url.path.strip("/")
        listed = await site.ask(request, "object_list", {"kind": KINDS[section]})
        objects = listed["objects"]
        if section == "secrets":
            objects = [{**o, "keys": cp.secrets.keys(o["id"])} for o in objects]
        return site.page(request, "objects.html", section=section, objects=objects)

    async def volume(request: Request) -> Response:
        volume_id = await object_id(request, "volume")
        path = request.query_params.get("path", "").strip("/")
        entries = (await site.ask(request, "volume_listdir", {
            "volume_id": volume_id, "path": path, "recursive": False}))["entries"]
        parent = posixpath.dirname(path) if path else None
        return site.page(request, "volume.html", name=request.path_params["name"], path=path,
                         parent=parent, entries=entries)

    async def download(request: Request) -> Response:
        volume_id = await object_id(request, "volume")
        path = request.query_params.get("path", "").strip("/")
        first = await site.ask(request, "volume_read", {
            "volume_id": volume_id, "path": path, "offset": 0, "length": CHUNK})

        async def chunks() -> AsyncIterator[bytes]:
            data, offset = first["data"], 0
            while data:
                yield data
                offset += len(data)
                if offset >= first["size"]:
                    return
                data = (await site.ask(request, "volume_read", {
                    "volume_id": volume_id, "path": path, "offset": offset,
                    "length": CHUNK}))["data"]

        name = quote(posixpath.basename(path) or "file")
        return StreamingResponse(chunks(), media_type="application/octet-stream", headers={
            "content-length": str(first["size"]),
            "content-disposition": f"attachment; filename*=UTF-8''{name}"})

    async def dict_page(request: Request) -> Response:
        dict_id, offset = await object_id(request, "dict"), offset_of(request)
        total = (await site.ask(request, "dict_len", {"dict_id": dict_id}))["len"]
        entries = [(describe(k), describe(v))
                   for k, v in cp.dicts.entries(dict_id, offset, PAGE_SIZE)]
        return site.page(request, "peek.html", kind="dict", name=request.path_params["name"],
                         entries=entries, total=total, offset=offset, size=PAGE_SIZE)

    async def queue_page(request: Request) -> Response:
        queue_id = await object_id(request, "queue")
        total = (await site.ask(request, "queue_len", {
            "queue_id": queue_id, "partition": None, "total": True}))["len"]
        values = (await site.ask(request, "queue_peek", {
            "queue_id": queue_id, "n": PAGE_SIZE, "partition": None}))["values"]
        return site.page(request, "peek.html", kind="queue", name=request.path_params["name"],
                         entries=[(str(i), describe(v)) for i, v in enumerate(values)],
                         total=total, offset=0, size=PAGE_SIZE)

    guarded = site.guarded
    site.add(
        Route("/sandboxes", guarded(sandboxes)),
        Route("/sandboxes/{sandbox_id}/terminate", guarded(terminate, makes="sandbox_terminate"),
              methods=["POST"]),
        *(Route(f"/{section}", guarded(listing)) for section in KINDS),
        Route("/volumes/{name}", guarded(volume)),
        Route("/volumes/{name}/file", guarded(download)),
        Route("/dicts/{name}", guarded(dict_page)),
        Route("/queues/{name}", guarded(queue_page)),
    )
