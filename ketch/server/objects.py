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
from typing import Any

from .. import exception
from ..config import process_alive
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT, created REAL NOT NULL,
    ephemeral INTEGER NOT NULL DEFAULT 0  -- unnamed: the owning control plane's pid, or -1
                                          -- when a deployed app owns it
);
CREATE UNIQUE INDEX IF NOT EXISTS objects_by_name ON objects (kind, name) WHERE name IS NOT NULL;
"""
KINDS = {"dict": "di", "nfs": "nf", "queue": "qu", "secret": "st", "volume": "vo"}
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUESTS = ("object_lookup", "object_create_ephemeral", "object_release", "object_delete",
            "object_list", "object_rename")


def check_name(name: str) -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise exception.InvalidError(
            f"{name!r} is not a valid name: use 1 to 64 letters, digits, '.', '_' or '-'"
        )


class NamedObjects:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)
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

    def _check_kind(self, kind: str) -> str:
        if kind not in KINDS:
            raise exception.InvalidError(f"unknown object kind {kind!r}")
        return KINDS[kind]

    def kind_of(self, object_id: str, kind: str) -> None:
        """Raise NotFoundError unless ``object_id`` is a live object of ``kind``."""
        row = self.store.fetchone("SELECT kind FROM objects WHERE id=?", (object_id,))
        if row is None or row[0] != kind:
            raise exception.NotFoundError(f"no {kind} {object_id} (it may have been deleted)")

    async def object_lookup(self, kind: str, name: str, create_if_missing: bool = False
                            ) -> dict[str, Any]:
        prefix = self._check_kind(kind)
        check_name(name)
        row = self.store.fetchone("SELECT id FROM objects WHERE kind=? AND name=?", (kind, name))
        if row is not None:
            return {"object_id": row[0], "created": False}
        if not create_if_missing:
            raise exception.NotFoundError(
                f"no {kind} named {name!r}; create it with ketch.{kind.capitalize()}.from_name("
                f"{name!r}, create_if_missing=True) or `ketch {kind} create {name}`"
            )
        object_id = f"{prefix}-{secrets.token_hex(8)}"
        self.store.execute("INSERT INTO objects (id, kind, name, created) VALUES (?, ?, ?, ?)",
                           (object_id, kind, name, time.time()))
        return {"object_id": object_id, "created": True}

    def adopt(self, object_ids: list[str]) -> None:
        """Unnamed objects a deployed app uses outlive the control plane (until released)."""
        self.store.execute_many("UPDATE objects SET ephemeral=-1 WHERE id=? AND ephemeral > 0",
                                [(object_id,) for object_id in object_ids])

    async def object_create_ephemeral(self, kind: str) -> dict[str, Any]:
        object_id = f"{self._check_kind(kind)}-{secrets.token_hex(8)}"
        self.store.execute(
            "INSERT INTO objects (id, kind, name, created, ephemeral) VALUES (?, ?, NULL, ?, ?)",
            (object_id, kind, time.time(), os.getpid()),
        )
        return {"object_id": object_id}

    async def object_release(self, object_id: str) -> dict[str, Any]:
        row = self.store.fetchone("SELECT kind FROM objects WHERE id=? AND ephemeral != 0",
                                  (object_id,))
        if row is not None:
            self._drop(object_id, row[0])
        return {}

    async def object_delete(self, kind: str, name: str) -> dict[str, Any]:
        object_id = (await self.object_lookup(kind, name))["object_id"]
        self._drop(object_id, kind)
        return {}

    async def object_list(self, kind: str) -> dict[str, Any]:
        self._check_kind(kind)
        rows = self.store.fetchall(
            "SELECT name, id, created FROM objects WHERE kind=? AND name IS NOT NULL ORDER BY name",
            (kind,),
        )
        return {"objects": [{"name": n, "id": i, "created": c} for n, i, c in rows]}

    async def object_rename(self, kind: str, name: str, new_name: str) -> dict[str, Any]:
        check_name(new_name)
        object_id = (await self.object_lookup(kind, name))["object_id"]
        if self.store.fetchone("SELECT id FROM objects WHERE kind=? AND name=?", (kind, new_name)):
            raise exception.AlreadyExistsError(f"a {kind} named {new_name!r} already exists")
        self.store.execute("UPDATE objects SET name=? WHERE id=?", (new_name, object_id))
        return {}

    def _drop(self, object_id: str, kind: str) -> None:
        dropper = self.droppers.get(kind)
        if dropper is not None:
            dropper(object_id)
        self.store.execute("DELETE FROM objects WHERE id=?", (object_id,))
