"""Sandboxes (with their execs, tags and a terminate button), volumes (browse, download a
file), dicts and queues (a peek at their entries) and secrets (names and keys, never values).

Everything is asked with the visitor's token (`Site.ask`), of the chosen environment: a page
of a dict is ``dict_items`` with an offset and a limit, a secret's key names ``secret_keys``
(no request returns its values to anyone). A sandbox's execs are read from the sandbox itself,
for those ``sandbox_list`` listed.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ... import exception
from ...protocol import client as protocol
from ...protocol.client import ObjectKind
from .peek import describe
from .site import PAGE_SIZE, Site, offset_of

CHUNK = 4 << 20  # bytes per volume_read while downloading
KINDS: dict[str, ObjectKind] = {"volumes": "volume", "dicts": "dict", "queues": "queue",
                                 "secrets": "secret"}


def add_routes(site: Site) -> None:
    cp = site.cp

    async def object_id(request: Request, kind: ObjectKind) -> str:
        """The id of the object the path names, found among those listed (a lookup may
        create, so a read-only token may not make it)."""
        name = request.path_params["name"]
        listed = await site.ask(request, protocol.ObjectList(
            kind=kind, environment=site.environment(request)))
        for found in listed.objects:
            if found.name == name:
                return str(found.id)
        raise exception.NotFoundError(f"no {kind} named {name!r} in environment "
                                      f"{site.environment(request)!r}")

    async def sandboxes(request: Request) -> Response:
        listed = (await site.ask(request, protocol.SandboxList(
            environment=site.environment(request)))).sandboxes
        rows = []
        for sb in sorted(listed, key=lambda s: -s.created)[:PAGE_SIZE]:
            app = cp.state.apps.get(sb.app_id)
            live = cp.sandboxes.sandboxes.get(sb.sandbox_id)
            rows.append({**msgspec.structs.asdict(sb), "app": app.name if app else sb.app_id,
                         "processes": live.processes() if live else []})
        return site.page(request, "sandboxes.html", sandboxes=rows, total=len(listed))

    async def terminate(request: Request) -> Response:
        await site.ask(request, protocol.SandboxTerminate(
            sandbox_id=request.path_params["sandbox_id"]))
        return RedirectResponse("/sandboxes", status_code=303)

    async def listing(request: Request) -> Response:
        section = request.url.path.strip("/")
        listed = await site.ask(request, protocol.ObjectList(
            kind=KINDS[section], environment=site.environment(request)))
        objects = [{"name": o.name, "id": o.id, "created": o.created} for o in listed.objects]
        if section == "secrets":
            for shown in objects:
                shown["keys"] = (await site.ask(request, protocol.SecretKeys(
                    secret_id=shown["id"]))).keys
        return site.page(request, "objects.html", section=section, objects=objects)

    async def volume(request: Request) -> Response:
        volume_id = await object_id(request, "volume")
        path = request.query_params.get("path", "").strip("/")
        entries = (await site.ask(request, protocol.VolumeListdir(
            volume_id=volume_id, path=path, recursive=False))).entries
        parent = posixpath.dirname(path) if path else None
        return site.page(request, "volume.html", name=request.path_params["name"], path=path,
                         parent=parent, entries=entries)

    async def download(request: Request) -> Response:
        volume_id = await object_id(request, "volume")
        path = request.query_params.get("path", "").strip("/")
        first = await site.ask(request, protocol.VolumeRead(
            volume_id=volume_id, path=path, offset=0, length=CHUNK))

        async def chunks() -> AsyncIterator[bytes]:
            data, offset = first.data, 0
            while data:
                yield data
                offset += len(data)
                if offset >= first.size:
                    return
                data = (await site.ask(request, protocol.VolumeRead(
                    volume_id=volume_id, path=path, offset=offset, length=CHUNK))).data

        name = quote(posixpath.basename(path) or "file")
        return StreamingResponse(chunks(), media_type="application/octet-stream", headers={
            "content-length": str(first.size),
            "content-disposition": f"attachment; filename*=UTF-8''{name}"})

    async def dict_page(request: Request) -> Response:
        dict_id, offset = await object_id(request, "dict"), offset_of(request)
        total = (await site.ask(request, protocol.DictLen(dict_id=dict_id))).len
        page = await site.ask(request, protocol.DictItems(dict_id=dict_id, offset=offset,
                                                          limit=PAGE_SIZE))
        entries = [(describe(k), describe(v)) for k, v in page.items]
        return site.page(request, "peek.html", kind="dict", name=request.path_params["name"],
                         entries=entries, total=total, offset=offset, size=PAGE_SIZE)

    async def queue_page(request: Request) -> Response:
        queue_id = await object_id(request, "queue")
        total = (await site.ask(request, protocol.QueueLen(queue_id=queue_id, total=True))).len
        values = (await site.ask(request, protocol.QueuePeek(queue_id=queue_id,
                                                             n=PAGE_SIZE))).values
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
        Route("/volumes/{name}/file", guarded(download, frame=False)),
        Route("/dicts/{name}", guarded(dict_page)),
        Route("/queues/{name}", guarded(queue_page)),
    )
