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
from dataclasses import dataclass
from typing import Any

from ..protocol import client as protocol
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
SOURCES = ("stdout", "stderr", "system")
KEEP_S = 7 * 24 * 3600
MAX_ROWS_PER_APP = 100_000
MAX_ROWS = 1_000_000
MAX_PENDING_BYTES = 4 << 20


@dataclass(frozen=True)
class LogFilter:
    """Which lines a query wants: one app's (or several), narrowed to a function, a call, a
    time range, a source (``stdout``, ``stderr``, or ``system``: ketch's own notes), a
    container and a piece of text."""

    app_ids: tuple[str, ...]
    function: str | None = None
    call_id: str | None = None
    since: float | None = None
    until: float | None = None
    source: str | None = None
    search: str = ""
    container_id: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        marks = ",".join("?" * len(self.app_ids)) or "NULL"
        clauses = [f"app_id IN ({marks})"]
        args: list[Any] = list(self.app_ids)
        for clause, value in (("function = ?", self.function), ("call_id = ?", self.call_id),
                              ("ts >= ?", self.since), ("ts <= ?", self.until),
                              ("container_id = ?", self.container_id)):
            if value is not None:
                clauses.append(clause)
                args.append(value)
        if self.source == "system":
            clauses.append("container_id = ''")
        elif self.source is not None:
            clauses.append("stream = ? AND container_id != ''")
            args.append(self.source)
        if self.search:
            clauses.append("instr(text, ?) > 0")
            args.append(self.search)
        return " AND ".join(clauses), args


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
                   cursor: int | None, timeout: float | None) -> protocol.StoredLines:
        """Lines after ``cursor`` (or since ``since``); waits up to ``timeout`` for some."""
        deadline = time.monotonic() + (timeout or 0)
        while True:
            self.flush()
            rows = self._query(app_ids, since, function, cursor or 0)
            if rows or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.2)
        last = rows[-1][0] if rows else (cursor or self._last_id())
        return protocol.StoredLines(lines=[protocol.StoredLine(
            ts=ts, function=name, container_id=container, stream=stream, text=text)
            for _, ts, name, container, stream, text in rows], cursor=last)

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

    async def select(self, where: LogFilter, *, after: int = 0, tail: int | None = None,
                     timeout: float | None = None, before: int | None = None
                     ) -> list[tuple[Any, ...]]:
        """Lines matching ``where`` after id ``after`` (and before id ``before``, if given;
        oldest first, at most a page); with ``tail``, the newest ``tail`` of them; waits up to
        ``timeout`` for some. Each row is ``(id, ts, stream, text, container_id, call_id,
        function)``; a line ketch wrote itself (a note, not a container's output) has no
        container id."""
        deadline = time.monotonic() + (timeout or 0)
        sql, args = where.sql()
        sql = ("SELECT id, ts, stream, text, container_id, call_id, function FROM logs WHERE "
               f"{sql} AND id > ?")
        args.append(after)
        if before is not None:
            sql += " AND id < ?"
            args.append(before)
        if tail is not None:
            sql += f" ORDER BY id DESC LIMIT {min(max(tail, 0), PAGE)}"
        else:
            sql += f" ORDER BY id LIMIT {PAGE}"
        while True:
            self.flush()
            rows = self.store.fetchall(sql, tuple(args))
            if rows or time.monotonic() >= deadline:
                return rows[::-1] if tail is not None else rows
            await asyncio.sleep(0.2)

    def last_id(self) -> int:
        self.flush()
        return self._last_id()

    def _last_id(self) -> int:
        row = self.store.fetchone("SELECT MAX(id) FROM logs")
        return int(row[0] or 0) if row else 0
