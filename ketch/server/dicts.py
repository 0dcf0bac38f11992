"""The dicts service of the control plane: key-value entries kept in SQLite.

Keys and values arrive pickled; two keys are the same key when their pickled bytes are equal.
Entries keep the order in which their keys were first put, as a Python dict does (an upsert
keeps the row, and so its rowid, in place).
"""

from __future__ import annotations

from ..protocol import client as protocol
from .auth import Identity
from .objects import NamedObjects
from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS dict_entries (
    dict_id TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, UNIQUE (dict_id, key)
);
"""
UPSERT = ("INSERT INTO dict_entries (dict_id, key, value) VALUES (?, ?, ?) "
          "ON CONFLICT (dict_id, key) DO UPDATE SET value = excluded.value")


class DictService:
    """Answers the ``dict_*`` requests of `ketch.protocol.client`.

    Example::

        dicts = DictService(store, objects)
        await dicts.dict_put(DictPut(dict_id=d, key=b"...", value=b"..."), caller)
        (await dicts.dict_get(DictGet(dict_id=d, key=b"..."), caller)).value
    """

    def __init__(self, store: Store, objects: NamedObjects) -> None:
        self.store = store
        self.objects = objects
        store.ensure_schema(SCHEMA)
        objects.droppers["dict"] = self.drop

    def drop(self, object_id: str) -> None:
        """Forget everything the object held."""
        self.store.execute("DELETE FROM dict_entries WHERE dict_id=?", (object_id,))

    async def dict_get(self, req: protocol.DictGet, caller: Identity) -> protocol.Found:
        self.objects.kind_of(req.dict_id, "dict")
        row = self.store.fetchone("SELECT value FROM dict_entries WHERE dict_id=? AND key=?",
                                  (req.dict_id, req.key))
        return protocol.Found(found=row is not None, value=row[0] if row else None)

    async def dict_put(self, req: protocol.DictPut, caller: Identity) -> protocol.Created:
        self.objects.kind_of(req.dict_id, "dict")
        if req.skip_if_exists:
            changed = self.store.execute(
                "INSERT INTO dict_entries (dict_id, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (dict_id, key) DO NOTHING", (req.dict_id, req.key, req.value),
            )
            return protocol.Created(created=changed == 1)
        self.store.execute(UPSERT, (req.dict_id, req.key, req.value))
        return protocol.Created(created=True)

    async def dict_update(self, req: protocol.DictUpdate, caller: Identity) -> protocol.Empty:
        self.objects.kind_of(req.dict_id, "dict")
        # One transaction: a reader never sees half an update.
        self.store.execute_many(UPSERT, [(req.dict_id, key, value) for key, value in req.items])
        return protocol.Empty()

    async def dict_pop(self, req: protocol.DictPop, caller: Identity) -> protocol.Found:
        self.objects.kind_of(req.dict_id, "dict")
        # DELETE ... RETURNING reads and removes in one statement, so two control planes on
        # one state directory cannot both pop the same entry.
        rows = self.store.fetchall(
            "DELETE FROM dict_entries WHERE dict_id=? AND key=? RETURNING value",
            (req.dict_id, req.key)
        )
        return protocol.Found(found=bool(rows), value=rows[0][0] if rows else None)

    async def dict_contains(self, req: protocol.DictContains, caller: Identity
                            ) -> protocol.Found:
        self.objects.kind_of(req.dict_id, "dict")
        row = self.store.fetchone("SELECT 1 FROM dict_entries WHERE dict_id=? AND key=?",
                                  (req.dict_id, req.key))
        return protocol.Found(found=row is not None)

    async def dict_len(self, req: protocol.DictLen, caller: Identity) -> protocol.Length:
        self.objects.kind_of(req.dict_id, "dict")
        row = self.store.fetchone("SELECT COUNT(*) FROM dict_entries WHERE dict_id=?",
                                  (req.dict_id,))
        return protocol.Length(len=row[0] if row else 0)

    async def dict_items(self, req: protocol.DictItems, caller: Identity) -> protocol.Items:
        self.objects.kind_of(req.dict_id, "dict")
        rows = self.store.fetchall(
            "SELECT key, value FROM dict_entries WHERE dict_id=? ORDER BY rowid LIMIT ? OFFSET ?",
            (req.dict_id, -1 if req.limit is None else req.limit, req.offset)
        )
        return protocol.Items(items=[(key, value) for key, value in rows])

    async def dict_clear(self, req: protocol.DictClear, caller: Identity) -> protocol.Empty:
        self.objects.kind_of(req.dict_id, "dict")
        self.drop(req.dict_id)
        return protocol.Empty()
