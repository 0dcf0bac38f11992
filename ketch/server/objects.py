"""Named objects (dicts, queues, secrets, volumes): their names, ids and lifetimes.

Each kind's data is kept by its own service (`dicts`, `queues`, `secrets`, `volumes`); this
registry maps names to ids, makes ephemeral (unnamed) objects, and tells the kind's service to
drop an object's data when it is deleted.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable

from .. import exception
from ..config import process_alive
from ..protocol import client as protocol
from .auth import Identity
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, created REAL NOT NULL,
    ephemeral INTEGER NOT NULL DEFAULT 0,  -- unnamed: the owning control plane's pid, or -1
                                           -- when a deployed app owns it
    environment TEXT NOT NULL DEFAULT 'main'
);
"""
# Names are unique within an environment (objects made before environments are all in 'main').
NAMES = """
DROP INDEX IF EXISTS objects_by_name;
CREATE UNIQUE INDEX IF NOT EXISTS objects_by_environment_name ON objects (environment, kind, name)
    WHERE name IS NOT NULL;
"""
KINDS = {"dict": "di", "nfs": "nf", "queue": "qu", "secret": "st", "volume": "vo"}
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise exception.InvalidError(
            f"{name!r} is not a valid name: use 1 to 64 letters, digits, '.', '_' or '-'"
        )


class NamedObjects:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)
        store.add_column("objects", "environment", "TEXT NOT NULL DEFAULT 'main'")
        store.ensure_schema(NAMES)
        self.droppers: dict[str, Callable[[str], None]] = {}

    def drop_ephemeral(self) -> None:
        """Ephemeral objects do not outlive the control plane that made them: drop those whose
        process is gone (call at start, once every kind's service has registered its dropper).
        Another control plane on the same state directory keeps its own."""
        for object_id, kind, owner in self.store.fetchall(
            "SELECT id, kind, ephemeral FROM objects WHERE ephemeral > 0"
        ):
            if owner == os.getpid() or not process_alive(owner):
                self._drop(object_id, kind)

    def kind_of(self, object_id: str, kind: str, environment: str | None = None) -> None:
        """Raise NotFoundError unless ``object_id`` is a live object of ``kind`` (in
        ``environment``, when given)."""
        row = self.store.fetchone("SELECT kind, environment FROM objects WHERE id=?",
                                  (object_id,))
        if row is None or row[0] != kind:
            raise exception.NotFoundError(f"no {kind} {object_id} (it may have been deleted)")
        if environment is not None and row[1] != environment:
            raise exception.PermissionDeniedError(
                f"{kind} {object_id} is in environment {row[1]!r}, not {environment!r}: objects "
                "are used only within their own environment")

    def environment_of(self, object_id: str) -> str:
        row = self.store.fetchone("SELECT environment FROM objects WHERE id=?", (object_id,))
        if row is None:
            raise exception.NotFoundError(f"no object {object_id} (it may have been deleted)")
        return str(row[0])

    def lookup(self, kind: str, name: str, environment: str, create_if_missing: bool = False
               ) -> tuple[str, bool]:
        """The id of the object ``name`` of ``environment`` and whether it was just made."""
        prefix = self._check_kind(kind)
        check_name(name)
        row = self.store.fetchone("SELECT id FROM objects WHERE environment=? AND kind=? AND "
                                  "name=?", (environment, kind, name))
        if row is not None:
            return row[0], False
        if not create_if_missing:
            where = "" if environment == "main" else f" in environment {environment!r}"
            raise exception.NotFoundError(
                f"no {kind} named {name!r}{where}; create it with ketch.{kind.capitalize()}."
                f"from_name({name!r}, create_if_missing=True) or `ketch {kind} create {name}`"
            )
        object_id = f"{prefix}-{secrets.token_hex(8)}"
        self.store.execute("INSERT INTO objects (id, kind, name, created, environment) "
                           "VALUES (?, ?, ?, ?, ?)",
                           (object_id, kind, name, time.time(), environment))
        return object_id, True

    def create_ephemeral(self, kind: str, environment: str) -> str:
        object_id = f"{self._check_kind(kind)}-{secrets.token_hex(8)}"
        self.store.execute(
            "INSERT INTO objects (id, kind, name, created, ephemeral, environment) "
            "VALUES (?, ?, NULL, ?, ?, ?)",
            (object_id, kind, time.time(), os.getpid(), environment),
        )
        return object_id

    def adopt(self, object_ids: list[str]) -> None:
        """Unnamed objects a deployed app uses outlive the control plane (until released)."""
        self.store.execute_many("UPDATE objects SET ephemeral=-1 WHERE id=? AND ephemeral > 0",
                                [(object_id,) for object_id in object_ids])

    def release(self, object_id: str) -> None:
        """Drop an unnamed object (a named one stays)."""
        row = self.store.fetchone("SELECT kind FROM objects WHERE id=? AND ephemeral != 0",
                                  (object_id,))
        if row is not None:
            self._drop(object_id, row[0])

    def delete_environment(self, environment: str) -> None:
        """Drop every object of an environment that is going away."""
        for object_id, kind in self.store.fetchall(
                "SELECT id, kind FROM objects WHERE environment=?", (environment,)):
            self._drop(object_id, kind)

    # -- requests ------------------------------------------------------------------------------

    async def object_lookup(self, req: protocol.ObjectLookup, caller: Identity
                            ) -> protocol.ObjectFound:
        object_id, created = self.lookup(req.kind, req.name, req.environment,
                                         req.create_if_missing)
        return protocol.ObjectFound(object_id=object_id, created=created)

    async def object_create_ephemeral(self, req: protocol.ObjectCreateEphemeral,
                                      caller: Identity) -> protocol.ObjectId:
        object_id = self.create_ephemeral(req.kind, req.environment)
        return protocol.ObjectId(object_id=object_id)

    async def object_release(self, req: protocol.ObjectRelease, caller: Identity
                             ) -> protocol.Empty:
        self.release(req.object_id)
        return protocol.Empty()

    async def object_delete(self, req: protocol.ObjectDelete, caller: Identity
                            ) -> protocol.Empty:
        object_id, _ = self.lookup(req.kind, req.name, req.environment)
        self._drop(object_id, req.kind)
        return protocol.Empty()

    async def object_list(self, req: protocol.ObjectList, caller: Identity) -> protocol.Objects:
        self._check_kind(req.kind)
        rows = self.store.fetchall(
            "SELECT name, id, created FROM objects WHERE environment=? AND kind=? AND "
            "name IS NOT NULL ORDER BY name", (req.environment, req.kind),
        )
        return protocol.Objects(objects=[protocol.ObjectInfo(name=n, id=i, created=c)
                                         for n, i, c in rows])

    async def object_rename(self, req: protocol.ObjectRename, caller: Identity
                            ) -> protocol.Empty:
        check_name(req.new_name)
        object_id, _ = self.lookup(req.kind, req.name, req.environment)
        if self.store.fetchone("SELECT id FROM objects WHERE environment=? AND kind=? AND name=?",
                               (req.environment, req.kind, req.new_name)):
            raise exception.AlreadyExistsError(f"a {req.kind} named {req.new_name!r} already "
                                               "exists")
        self.store.execute("UPDATE objects SET name=? WHERE id=?", (req.new_name, object_id))
        return protocol.Empty()

    def _check_kind(self, kind: str) -> str:
        if kind not in KINDS:
            raise exception.InvalidError(f"unknown object kind {kind!r}")
        return KINDS[kind]

    def _drop(self, object_id: str, kind: str) -> None:
        dropper = self.droppers.get(kind)
        if dropper is not None:
            dropper(object_id)
        self.store.execute("DELETE FROM objects WHERE id=?", (object_id,))
