"""Deployed apps: versions, lookups by name, restore after a restart, rollback.

Deploying makes a running app the current version of its name and stops the version it
replaces. Deployed apps are brought back when the control plane starts (their containers start
again on demand), so ``Function.from_name`` keeps working across restarts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgpack

from .. import exception

if TYPE_CHECKING:
    from .control_plane import AppState, ControlPlane

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT NOT NULL, version INTEGER NOT NULL, app_id TEXT NOT NULL, created REAL NOT NULL,
    rolled_back_from INTEGER, PRIMARY KEY (name, version)
);
"""
REQUESTS = ("function_lookup", "app_deploy", "app_list", "app_stop_by_name", "app_history",
            "app_rollback", "app_logs")


class Deployments:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.store = control_plane.store
        self.store.ensure_schema(SCHEMA)
        self.versions: dict[str, int] = {}  # app id -> its deployed version

    def deployed(self, name: str) -> AppState:
        for app in self.cp.apps.values():
            if app.name == name and app.id in self.versions and not app.stopped:
                return app
        raise exception.NotFoundError(
            f"no deployed app named {name!r}; deploy it with `ketch deploy FILE`"
        )

    async def function_lookup(self, app_name: str, tag: str) -> dict[str, Any]:
        app = self.deployed(app_name)
        for function_id in app.function_ids:
            fn = self.cp.functions[function_id]
            if fn.name == tag and fn.params is None:
                return {"function_id": fn.id, "definition": fn.definition}
        names = sorted({self.cp.functions[f].name for f in app.function_ids})
        raise exception.NotFoundError(
            f"app {app_name!r} has no function {tag!r}; it has: {', '.join(names)}"
        )

    async def app_deploy(self, app_id: str, rolled_back_from: int | None = None
                         ) -> dict[str, Any]:
        app = self.cp._app(app_id)
        row = self.store.fetchone("SELECT MAX(version) FROM deployments WHERE name=?", (app.name,))
        version = (row[0] or 0) + 1 if row else 1
        self.store.execute(
            "INSERT INTO deployments (name, version, app_id, created, rolled_back_from) "
            "VALUES (?, ?, ?, ?, ?)", (app.name, version, app_id, time.time(), rolled_back_from),
        )
        previous = [a for a in self.cp.apps.values()
                    if a.name == app.name and a.id in self.versions and not a.stopped]
        self.versions[app_id] = version
        self.cp.changes.note("apps", app_id)
        self.cp.objects.adopt([secret for f in app.function_ids
                               for secret in self.cp.functions[f].definition.get("secrets") or []])
        for old in previous:
            await self.cp.app_stop(old.id)
        return {"version": version}

    async def app_list(self) -> dict[str, Any]:
        apps = []
        for app in self.cp.apps.values():
            if app.stopped:
                continue
            version = self.versions.get(app.id)
            apps.append({"app_id": app.id, "name": app.name, "version": version,
                         "state": "deployed" if version else "running", "created": app.created,
                         "stopped": None})
        return {"apps": apps}

    async def app_stop_by_name(self, name: str) -> dict[str, Any]:
        await self.cp.app_stop(self.deployed(name).id)
        return {}

    async def app_history(self, name: str) -> dict[str, Any]:
        rows = self.store.fetchall(
            "SELECT d.version, d.app_id, d.created, a.state, d.rolled_back_from FROM deployments d "
            "JOIN apps a ON a.id = d.app_id WHERE d.name=? ORDER BY d.version", (name,),
        )
        if not rows:
            raise exception.NotFoundError(f"app {name!r} was never deployed")
        keys = ("version", "app_id", "created", "state", "rolled_back_from")
        return {"versions": [dict(zip(keys, row)) for row in rows]}

    async def app_rollback(self, name: str, version: int | None) -> dict[str, Any]:
        versions = (await self.app_history(name))["versions"]
        if version is None:
            if len(versions) < 2:
                raise exception.InvalidError(f"{name} has only one version: nothing to roll back to")
            version = versions[-2]["version"]
        chosen = [v for v in versions if v["version"] == version]
        if not chosen:
            raise exception.NotFoundError(f"{name} has no version {version}")
        app_id = (await self.cp.app_create(name))["app_id"]
        for _, definition in self._definitions(chosen[0]["app_id"]):
            await self.cp.function_create(app_id, definition)
        answer = await self.app_deploy(app_id, rolled_back_from=version)
        return {**answer, "from_version": version}

    async def app_logs(self, name: str, since: float | None, function: str | None,
                       cursor: int | None, timeout: float | None) -> dict[str, Any]:
        app_ids = [row[0] for row in self.store.fetchall("SELECT id FROM apps WHERE name=?",
                                                           (name,))]
        if not app_ids:
            raise exception.NotFoundError(f"no app named {name!r}")
        return await self.cp.logbook.read(app_ids, since, function, cursor, timeout)

    def _definitions(self, app_id: str) -> list[tuple[str, dict[str, Any]]]:
        rows = self.store.fetchall(
            "SELECT id, definition FROM functions WHERE app_id=? AND params IS NULL "
            "ORDER BY created", (app_id,),
        )
        return [(row[0], msgpack.unpackb(row[1])) for row in rows]

    async def restore(self) -> None:
        """Bring back every app whose deployed version was running when the last control
        plane stopped (its containers start again on demand)."""
        rows = self.store.fetchall(
            "SELECT d.app_id, d.version, a.name FROM deployments d JOIN apps a ON a.id = d.app_id "
            "WHERE a.state = 'running'"
        )
        for app_id, version, name in rows:
            self.cp.restore_app(app_id, name)
            for function_id, definition in self._definitions(app_id):
                await self.cp.function_create(app_id, definition, function_id=function_id)
            self.versions[app_id] = version
