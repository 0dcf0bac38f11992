"""The dicts service of the control plane: key-value entries kept in SQLite.

Keys and values arrive pickled; two keys are the same key when their pickled bytes are equal.
Entries keep the order in which their keys were first put, as a Python dict does (an upsert
keeps the row, and so its rowid, in place).
"""

from __future__ import annotations

from typing import Any

from .. import exception
from .objects import NamedObjects
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS dict_entries (
    dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, UNIQUE (dict_id, key)
);
"""
REQUESTS = ("dict_get", "dict_put", "dict_update", "dict_pop", "dict_contains", "dict_len",
            "dict_items", "dict_clear")
UPSERT = ("INSERT INTO dict_entries (dict_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (dict_id, key) DO UPDATE SET value = excluded.value")


class DictService:
    """Answers the ``dict_*`` requests of `ketch.protocol.client`.

    Example::

        dicts = DictService(store, objects)
        await dicts.dict_put(dict_id, key=b"...", value=b"...")
        (await dicts.dict_get(dict_id, key=b"..."))["value"]
    """

    def __init__(self, store: Store, objects: NamedObjects) -> None:
        self.store = store
        self.objects = objects
        store.ensure_schema(SCHEMA)
        objects.droppers["dict"] = self.drop

    def drop(self, object_id: str) -> None:
        """Forget everything the object held."""
        self.store.execute("DELETE FROM dict_entries WHERE dict_id=?", (object_id,))

    def _check(self, dict_id: str, *blobs: Any) -> None:
        self.objects.kind_of(dict_id, "dict")
        for blob in blobs:
            if not isinstance(blob, bytes):
                raise exception.InvalidError("dict keys and values travel pickled, as bytes")

    async def dict_get(self, dict_id: str, key: bytes) -> dict[str, Any]:
        self._check(dict_id, key)
        row = self.store.fetchone("SELECT value FROM dict_entries WHERE dict_id=? AND key=?",
                                  (dict_id, key))
        return {"found": row is not None, "value": row[0] if row else None}

    async def dict_put(self, dict_id: str, key: bytes, value: bytes,
                       skip_if_exists: bool = False) -> dict[str, Any]:
        self._check(dict_id, key, value)
        if skip_if_exists:
            changed = self.store.execute(
                "INSERT INTO dict_entries (dict_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (dict_id, key) DO NOTHING", (dict_id, key, value),
            )
            return {"created": changed == 1}
        self.store.execute(UPSERT, (dict_id, key, value))
        return {"created": True}

    async def dict_update(self, dict_id: str, items: list[list[bytes]]) -> dict[str, Any]:
        self._check(dict_id, *(blob for item in items for blob in item))
        if any(len(item) != 2 for item in items):
            raise exception.InvalidError("dict_update takes [key, value] pairs")
        # One transaction: a reader never sees half an update.
        self.store.execute_many(UPSERT, [(dict_id, key, value) for key, value in items])
        return {}

    async def dict_pop(self, dict_id: str, key: bytes) -> dict[str, Any]:
        self._check(dict_id, key)
        # DELETE ... RETURNING reads and removes in one statement, so two control planes on
        # one state directory cannot both pop the same entry.
        rows = self.store.fetchall(
            "DELETE FROM dict_entries WHERE dict_id=? AND key=? RETURNING value", (dict_id, key)
        )
        return {"found": bool(rows), "value": rows[0][0] if rows else None}

    async def dict_contains(self, dict_id: str, key: bytes) -> dict[str, Any]:
        self._check(dict_id, key)
        row = self.store.fetchone("SELECT 1 FROM dict_entries WHERE dict_id=? AND key=?",
                                  (dict_id, key))
        return {"found": row is not None}

    async def dict_len(self, dict_id: str) -> dict[str, Any]:
        self._check(dict_id)
        row = self.store.fetchone("SELECT COUNT(*) FROM dict_entries WHERE dict_id=?",
                                  (dict_id,))
        return {"len": row[0] if row else 0}

    async def dict_items(self, dict_id: str) -> dict[str, Any]:
        self._check(dict_id)
        rows = self.store.fetchall(
            "SELECT key, value FROM dict_entries WHERE dict_id=? ORDER BY rowid", (dict_id,)
        )
        return {"items": [[key, value] for key, value in rows]}

    def entries(self, dict_id: str, offset: int, limit: int) -> list[tuple[bytes, bytes]]:
        """A page of entries (pickled key, pickled value) in insertion order, to peek at."""
        self._check(dict_id)
        return [(k, v) for k, v in self.store.fetchall(
            "SELECT key, value FROM dict_entries WHERE dict_id=? ORDER BY rowid LIMIT ? OFFSET ?",
            (dict_id, limit, offset))]

    async def dict_clear(self, dict_id: str) -> dict[str, Any]:
        self._check(dict_id)
        self.drop(dict_id)
        return {}
