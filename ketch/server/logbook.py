"""Every line an app's containers print, kept in the store: by app, function, container and
call, for ``ketch app logs`` (live watchers read the in-memory `AppLogs` instead)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT, app_id TEXT NOT NULL, ts REAL NOT NULL,
    function TEXT NOT NULL, container_id TEXT NOT NULL, call_id TEXT, stream TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_by_app ON logs (app_id, id);
"""
PAGE = 5000


class Logbook:
    def __init__(self, store: Store) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)
        self._rows: list[tuple[Any, ...]] = []

    def add(self, app_id: str, function: str, container_id: str, call_id: str | None,
            stream: str, text: str) -> None:
        self._rows.append((app_id, time.time(), function, container_id, call_id, stream, text))

    def flush(self) -> None:
        if self._rows:
            rows, self._rows = self._rows, []
            self.store.execute_many(
                "INSERT INTO logs (app_id, ts, function, container_id, call_id, stream, text) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
            )

    async def read(self, app_ids: list[str], since: float | None, function: str | None,
                   cursor: int | None, timeout: float | None) -> dict[str, Any]:
        """Lines after ``cursor`` (or since ``since``); waits up to ``timeout`` for some."""
        deadline = time.monotonic() + (timeout or 0)
        while True:
            self.flush()
            rows = self._query(app_ids, since, function, cursor or 0)
            if rows or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        last = rows[-1][0] if rows else (cursor or self._last_id())
        return {"lines": [list(row[1:]) for row in rows], "cursor": last}

    def _query(self, app_ids: list[str], since: float | None, function: str | None,
               after: int) -> list[tuple[Any, ...]]:
        if not app_ids:
            return []
        marks = ",".join("?" * len(app_ids))
        sql = (f"SELECT id, ts, function, container_id, stream, text FROM logs "
               f"WHERE app_id IN ({marks}) AND id > ?")
        args: list[Any] = [*app_ids, after]
        if since is not None:
            sql += " AND ts >= ?"
            args.append(since)
        if function is not None:
            sql += " AND function = ?"
            args.append(function)
        return self.store.fetchall(sql + f" ORDER BY id LIMIT {PAGE}", tuple(args))

    def _last_id(self) -> int:
        row = self.store.fetchone("SELECT MAX(id) FROM logs")
        return int(row[0] or 0) if row else 0
