"""Deployed apps: versions, lookups by name, restore after a restart, rollback.

Deploying makes a running app the current version of its name and stops the version it
replaces. Deployed apps are brought back when the control plane starts (their containers start
again on demand), so ``Function.from_name`` keeps working across restarts.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from .. import exception
from ..protocol import client as protocol
from ..protocol.definition import FunctionDefinition
from ..protocol.message import decode
from .auth import Identity

if TYPE_CHECKING:
    from .control_plane import ControlPlane
    from .state import AppState

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    name TEXT NOT NULL, version INTEGER NOT NULL, app_id TEXT NOT NULL, created REAL NOT NULL,
    rolled_back_from INTEGER, environment TEXT NOT NULL DEFAULT 'main',
    PRIMARY KEY (environment, name, version)
);
"""
# Before environments, versions were numbered per name: they are all 'main''s.
UPGRADE = """
ALTER TABLE deployments RENAME TO deployments_before_environments;
""" + SCHEMA + """
INSERT INTO deployments (name, version, app_id, created, rolled_back_from, environment)
    SELECT name, version, app_id, created, rolled_back_from, 'main'
    FROM deployments_before_environments;
DROP TABLE deployments_before_environments;
"""


class Deployments:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane
        self.store = control_plane.store
        self.store.ensure_schema(SCHEMA)
        columns = {row[1] for row in self.store.fetchall("PRAGMA table_info(deployments)")}
        if "environment" not in columns:
            self.store.ensure_schema("BEGIN;" + UPGRADE + "COMMIT;")
        self.versions: dict[str, int] = {}  # app id -> its deployed version

    def deployed(self, name: str, environment: str) -> AppState:
        for app in self.cp.state.apps.values():
            if app.name == name and app.environment == environment \
                    and app.id in self.versions and not app.stopped:
                return app
        where = "" if environment == "main" else f" in environment {environment!r}"
        raise exception.NotFoundError(
            f"no deployed app named {name!r}{where}; deploy it with `ketch deploy FILE`"
        )

    async def function_lookup(self, req: protocol.FunctionLookup, caller: Identity
                              ) -> protocol.FunctionFound:
        app = self.deployed(req.app_name, req.environment)
        for function_id in app.function_ids:
            fn = self.cp.state.functions[function_id]
            if fn.name == req.tag and fn.params is None:
                return protocol.FunctionFound(function_id=fn.id, definition=fn.definition)
        names = sorted({self.cp.state.functions[f].name for f in app.function_ids})
        raise exception.NotFoundError(
            f"app {req.app_name!r} has no function {req.tag!r}; it has: {', '.join(names)}"
        )

    async def app_deploy(self, req: protocol.AppDeploy, caller: Identity) -> protocol.Version:
        return protocol.Version(version=await self.deploy(req.app_id))

    async def deploy(self, app_id: str, rolled_back_from: int | None = None) -> int:
        """Make the running app the deployed version of its name; its number."""
        app = self.cp.state.app(app_id)
        row = self.store.fetchone("SELECT MAX(version) FROM deployments WHERE environment=? AND "
                                  "name=?", (app.environment, app.name))
        version = (row[0] or 0) + 1 if row else 1
        self.store.execute(
            "INSERT INTO deployments (name, version, app_id, created, rolled_back_from, "
            "environment) VALUES (?, ?, ?, ?, ?, ?)",
            (app.name, version, app_id, time.time(), rolled_back_from, app.environment),
        )
        previous = [a for a in self.cp.state.apps.values()
                    if a.name == app.name and a.environment == app.environment
                    and a.id in self.versions and not a.stopped]
        self.versions[app_id] = version
        self.cp.changes.note("apps", app_id)
        self.cp.objects.adopt([secret for f in app.function_ids
                               for secret in self.cp.state.functions[f].definition.secrets])
        for old in previous:
            await self.cp.app_service.stop(old.id)
        return version

    async def app_list(self, req: protocol.AppList, caller: Identity) -> protocol.Apps:
        if req.stopped:  # every app it has had, a page of them from the store
            rows = self.store.fetchall(
                "SELECT id, name, created, stopped FROM apps WHERE environment=? "
                "ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
                (req.environment, -1 if req.limit is None else req.limit, req.offset))
            return protocol.Apps(apps=[self.info(app_id, name, created, stopped,
                                                 req.environment)
                                       for app_id, name, created, stopped in rows])
        return protocol.Apps(apps=[
            self.info(app.id, app.name, app.created, None, app.environment)
            for app in self.cp.state.apps.values()
            if not app.stopped and app.environment == req.environment])

    async def app_get(self, req: protocol.AppGet, caller: Identity) -> protocol.AppFound:
        stored = self.store.app(req.app_id)
        if stored is None:
            raise exception.NotFoundError(f"no app {req.app_id}")
        return protocol.AppFound(app=self.info(req.app_id, stored["name"], stored["created"],
                                               stored["stopped"], stored["environment"]))

    def info(self, app_id: str, name: str, created: float, stopped: float | None,
             environment: str) -> protocol.AppInfo:
        """An app as listings show it: deployed (with its version), running or stopped."""
        live = self.cp.state.apps.get(app_id)
        version = self.versions.get(app_id)
        state = "stopped" if live is None or live.stopped else \
            "deployed" if version else "running"
        return protocol.AppInfo(app_id=app_id, name=name, state=state, version=version,
                                created=created, stopped=stopped, environment=environment)

    async def app_stop_by_name(self, req: protocol.AppStopByName, caller: Identity
                               ) -> protocol.Empty:
        await self.cp.app_service.stop(self.deployed(req.name, req.environment).id)
        return protocol.Empty()

    async def app_history(self, req: protocol.AppHistory, caller: Identity) -> protocol.Versions:
        return protocol.Versions(versions=self.history(req.name, req.environment))

    def history(self, name: str, environment: str) -> list[protocol.VersionInfo]:
        rows = self.store.fetchall(
            "SELECT d.version, d.app_id, d.created, a.state, d.rolled_back_from FROM deployments d "
            "JOIN apps a ON a.id = d.app_id WHERE d.environment=? AND d.name=? "
            "ORDER BY d.version", (environment, name),
        )
        if not rows:
            raise exception.NotFoundError(f"app {name!r} was never deployed")
        return [protocol.VersionInfo(version=v, app_id=a, created=c, state=s,
                                     rolled_back_from=r) for v, a, c, s, r in rows]

    async def app_rollback(self, req: protocol.AppRollback, caller: Identity
                           ) -> protocol.RolledBack:
        name, version = req.name, req.version
        versions = self.history(name, req.environment)
        if version is None:
            if len(versions) < 2:
                raise exception.InvalidError(f"{name} has only one version: nothing to roll back to")
            version = versions[-2].version
        chosen = [v for v in versions if v.version == version]
        if not chosen:
            raise exception.NotFoundError(f"{name} has no version {version}")
        app = self.cp.app_service.create(name, req.environment)
        for _, definition in self._definitions(chosen[0].app_id):
            await self.cp.app_service.add_function(app.id, definition)
        deployed = await self.deploy(app.id, rolled_back_from=version)
        return protocol.RolledBack(version=deployed, from_version=version)

    async def app_logs(self, req: protocol.AppLogs, caller: Identity) -> protocol.StoredLines:
        app_ids = [row[0] for row in self.store.fetchall(
            "SELECT id FROM apps WHERE environment=? AND name=?", (req.environment, req.name))]
        if not app_ids:
            raise exception.NotFoundError(f"no app named {req.name!r}")
        return await self.cp.logbook.read(app_ids, req.since, req.function, req.cursor,
                                          req.timeout)

    def _definitions(self, app_id: str) -> list[tuple[str, FunctionDefinition]]:
        rows = self.store.fetchall(
            "SELECT id, definition FROM functions WHERE app_id=? AND params IS NULL "
            "ORDER BY created", (app_id,),
        )
        return [(row[0], decode(row[1], FunctionDefinition, "a stored definition")) for row in rows]

    async def restore(self) -> None:
        """Bring back every app whose deployed version was running when the last control
        plane stopped (its containers start again on demand)."""
        rows = self.store.fetchall(
            "SELECT d.app_id, d.version, a.name, a.environment FROM deployments d "
            "JOIN apps a ON a.id = d.app_id WHERE a.state = 'running'"
        )
        for app_id, version, name, environment in rows:
            self.cp.app_service.restore(app_id, name, environment)
            for function_id, definition in self._definitions(app_id):
                await self.cp.app_service.add_function(app_id, definition, function_id)
            self.versions[app_id] = version
