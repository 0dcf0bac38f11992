"""Every line an app's containers print, kept in the store: by app, function, container and
call, for ``ketch app logs`` (live watchers read the in-memory `AppLogs` instead).

The table is bounded: a line is kept for `KEEP_S` (7 days), an app keeps its newest
`MAX_ROWS_PER_APP` (100,000) lines, give or take a tenth, and the whole table its newest
`MAX_ROWS` (1,000,000), so neither a container printing without end nor many runs of many apps
can fill the disk. Lines wait
in memory for the next flush up to `MAX_PENDING_BYTES`, then are flushed at once.
"""

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
KEEP_S = 7 * 24 * 3600
MAX_ROWS_PER_APP = 100_000
MAX_ROWS = 1_000_000
MAX_PENDING_BYTES = 4 << 20


class Logbook:
    def __init__(self, store: Store, max_rows_per_app: int = MAX_ROWS_PER_APP,
                 max_rows: int = MAX_ROWS) -> None:
        self.store = store
        store.ensure_schema(SCHEMA)
        self.max_rows_per_app = max_rows_per_app
        self.max_rows = max_rows
        self._rows: list[tuple[Any, ...]] = []
        self._pending_bytes = 0
        self._added: dict[str, int] = {}  # lines stored per app since its last trim

    def add(self, app_id: str, function: str, container_id: str, call_id: str | None,
            stream: str, text: str) -> None:
        self._rows.append((app_id, time.time(), function, container_id, call_id, stream, text))
        self._pending_bytes += len(text)
        if self._pending_bytes > MAX_PENDING_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        rows, self._rows, self._pending_bytes = self._rows, [], 0
        self.store.execute_many(
            "INSERT INTO logs (app_id, ts, function, container_id, call_id, stream, text) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", rows,
        )
        for row in rows:
            self._added[row[0]] = self._added.get(row[0], 0) + 1
        slack = max(1, self.max_rows_per_app // 10)  # trimming walks the index: not every flush
        for app_id in [a for a, n in self._added.items() if n > slack]:
            self._trim(app_id)
        # ids only grow, so the newest max_rows lines all lie within max_rows of the last id
        self.store.execute("DELETE FROM logs WHERE id <= (SELECT MAX(id) FROM logs) - ?",
                           (self.max_rows,))

    def _trim(self, app_id: str) -> None:
        """Keep the app's newest `max_rows_per_app` lines."""
        self._added.pop(app_id, None)
        self.store.execute(
            "DELETE FROM logs WHERE app_id = ? AND id <= (SELECT id FROM logs WHERE app_id = ? "
            "ORDER BY id DESC LIMIT 1 OFFSET ?)", (app_id, app_id, self.max_rows_per_app))

    def prune(self, now: float) -> int:
        """Delete lines older than `KEEP_S` and trim every app; return how many lines went."""
        gone = self.store.execute("DELETE FROM logs WHERE ts < ?", (now - KEEP_S,))
        for app_id in list(self._added):
            self._trim(app_id)
        return gone

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

    def search(self, app_id: str, *, function: str | None = None, container: str | None = None,
               call: str | None = None, text: str | None = None, before: int | None = None,
               after: int | None = None, limit: int = 500) -> list[dict[str, Any]]:
        """The app's lines that match every filter given (``text``: a substring, any case),
        newest ``limit`` of them before line id ``before`` (or after ``after``), oldest first.

        Example::

            logbook.search("ap-1", call="fc-1", text="error")  # [{"id": 7, "text": ...}, ...]
        """
        self.flush()
        sql = ("SELECT id, ts, function, container_id, call_id, stream, text FROM logs "
               "WHERE app_id = ?")
        args: list[Any] = [app_id]
        for clause, value in (("function = ?", function), ("container_id = ?", container),
                              ("call_id = ?", call), ("id < ?", before), ("id > ?", after)):
            if value is not None:
                sql += f" AND {clause}"
                args.append(value)
        if text:
            sql += " AND text LIKE ? ESCAPE '\\'"
            args.append("%" + text.replace("\\", "\\\\").replace("%", "\\%")
                        .replace("_", "\\_") + "%")
        order = "ASC" if after is not None else "DESC"
        rows = self.store.fetchall(f"{sql} ORDER BY id {order} LIMIT ?", (*args, limit))
        keys = ("id", "ts", "function", "container", "call", "stream", "text")
        found = [dict(zip(keys, row)) for row in rows]
        return found if after is not None else found[::-1]

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
