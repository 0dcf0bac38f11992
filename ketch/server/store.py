"""The control plane's durable state, in one SQLite file.

Apps, functions (with their definitions) and function calls are recorded; the inputs and outputs
of spawned calls are kept until they expire, so a `FunctionCall` can be fetched by id from any
process that reaches the same state directory.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

from .. import exception
from ..protocol.client import OutputRecord
from ..protocol.definition import FunctionDefinition
from ..protocol.message import decode, encode

SCHEMA = """
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT, state TEXT NOT NULL,
    created REAL NOT NULL, stopped REAL, environment TEXT NOT NULL DEFAULT 'main'
);
CREATE TABLE IF NOT EXISTS functions (
    id TEXT PRIMARY KEY, app_id TEXT NOT NULL, name TEXT NOT NULL, definition BLOB NOT NULL,
    params BLOB, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS calls (
    id TEXT PRIMARY KEY, function_id TEXT NOT NULL, kind TEXT NOT NULL, created REAL NOT NULL,
    expires REAL NOT NULL, inputs INTEGER, finished INTEGER NOT NULL DEFAULT 0,
    environment TEXT NOT NULL DEFAULT 'main'
);
CREATE TABLE IF NOT EXISTS usage (
    hour REAL NOT NULL, app_id TEXT NOT NULL, app_name TEXT NOT NULL, function_id TEXT NOT NULL,
    function_name TEXT NOT NULL, call_id TEXT NOT NULL, gpu_type TEXT NOT NULL,
    cpu_s REAL NOT NULL, memory_gib_s REAL NOT NULL, gpu_s REAL NOT NULL, cost REAL NOT NULL,
    PRIMARY KEY (hour, app_id, function_id, call_id, gpu_type)
);
CREATE TABLE IF NOT EXISTS call_outputs (
    call_id TEXT NOT NULL, position INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (call_id, position)
);
"""


def private_directory(path: Path) -> Path:
    """Make ``path`` (and missing parents) a folder only its owner may enter: the state holds
    tokens' digests, secrets, payloads and volumes, and other users of the machine see none."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


class Store:
    """SQLite-backed records. Every method is a short transaction.

    Example::

        store = Store(Path("~/.ketch/ketch.db").expanduser())
        store.add_app("ap-1", "hello", "")
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        private_directory(path.parent)
        # SQLite gives its WAL and shared-memory files the database file's mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        os.chmod(path, 0o600)
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise exception.InternalError(f"cannot open the state database {path}: {exc}") from exc
        # state made before environments: all of it is in 'main'
        self.add_column("apps", "environment", "TEXT NOT NULL DEFAULT 'main'")
        self.add_column("calls", "environment", "TEXT NOT NULL DEFAULT 'main'")

    def close(self) -> None:
        self._db.close()

    def add_app(self, app_id: str, name: str, description: str, environment: str) -> None:
        self._write(
            "INSERT INTO apps (id, name, description, state, created, environment) "
            "VALUES (?, ?, ?, 'running', ?, ?)",
            (app_id, name, description, time.time(), environment),
        )

    def app(self, app_id: str) -> dict[str, Any] | None:
        """A running or stopped app's record: its name, state, times and environment."""
        row = self._db.execute(
            "SELECT name, state, created, stopped, environment FROM apps WHERE id=?", (app_id,)
        ).fetchone()
        return None if row is None else dict(zip(("name", "state", "created", "stopped",
                                                  "environment"), row))

    def stop_app(self, app_id: str) -> None:
        self._write("UPDATE apps SET state='stopped', stopped=? WHERE id=?", (time.time(), app_id))

    def add_function(
        self, function_id: str, app_id: str, name: str, definition: FunctionDefinition,
        params: bytes | None,
    ) -> None:
        self._write(
            "INSERT INTO functions (id, app_id, name, definition, params, created) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (function_id, app_id, name, encode(definition), params, time.time()),
        )

    def add_call(self, call_id: str, function_id: str, kind: str, ttl_s: float,
                 environment: str) -> None:
        now = time.time()
        self._write(
            "INSERT INTO calls (id, function_id, kind, created, expires, environment) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (call_id, function_id, kind, now, now + ttl_s, environment),
        )

    def set_call_inputs(self, call_id: str, count: int) -> None:
        self._write("UPDATE calls SET inputs=? WHERE id=?", (count, call_id))

    def add_outputs(self, call_id: str, first_position: int, records: list[OutputRecord]
                    ) -> None:
        rows = [(call_id, first_position + i, encode(record)) for i, record in enumerate(records)]
        self._writemany(
            "INSERT OR REPLACE INTO call_outputs (call_id, position, record) VALUES (?, ?, ?)", rows
        )

    def finish_call(self, call_id: str) -> None:
        self._write("UPDATE calls SET finished=1 WHERE id=?", (call_id,))

    def call(self, call_id: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT function_id, kind, expires, inputs, finished, environment FROM calls "
            "WHERE id=?", (call_id,)
        ).fetchone()
        if row is None:
            return None
        keys = ("function_id", "kind", "expires", "inputs", "finished", "environment")
        return dict(zip(keys, row))

    def outputs(self, call_id: str, cursor: int) -> list[OutputRecord]:
        rows = self._db.execute(
            "SELECT record FROM call_outputs WHERE call_id=? AND position>=? ORDER BY position",
            (call_id, cursor),
        ).fetchall()
        return [decode(row[0], OutputRecord, "a stored output") for row in rows]

    def expire(self, now: float) -> int:
        """Delete calls (and their outputs) past their expiry; return how many went."""
        ids = [r[0] for r in self._db.execute("SELECT id FROM calls WHERE expires<?", (now,))]
        for call_id in ids:
            self._write("DELETE FROM call_outputs WHERE call_id=?", (call_id,))
            self._write("DELETE FROM calls WHERE id=?", (call_id,))
        return len(ids)

    def add_usage(self, rows: list[tuple[Any, ...]]) -> None:
        """Add ``(hour, app_id, app_name, function_id, function_name, call_id, gpu_type, cpu_s,
        memory_gib_s, gpu_s, cost)`` rows to the hourly totals."""
        self._writemany(
            "INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (hour, app_id, function_id, call_id, gpu_type) DO UPDATE SET "
            "cpu_s = cpu_s + excluded.cpu_s, memory_gib_s = memory_gib_s + excluded.memory_gib_s, "
            "gpu_s = gpu_s + excluded.gpu_s, cost = cost + excluded.cost",
            rows,
        )

    def usage(self, group_by: str, since: float | None, until: float | None,
              app_id: str | None = None, environment: str | None = None
              ) -> list[dict[str, Any]]:
        """Usage totals grouped by app, function, call, day or hour (UTC), or by app and day
        or hour (``app_day``, ``app_hour``), oldest first."""
        groups = {
            "app": "app_name || ' (' || app_id || ')'",
            "function": "app_name || '.' || function_name",
            "call": "call_id",
            "day": "date(hour, 'unixepoch')",
            "hour": "strftime('%Y-%m-%d %H:00', hour, 'unixepoch')",
            # for a billing report: each app in each day or hour, as "app_id<US>name<US>when"
            "app_day": "app_id || char(31) || app_name || char(31) || "
                       "CAST(CAST(hour / 86400 AS INTEGER) * 86400 AS TEXT)",
            "app_hour": "app_id || char(31) || app_name || char(31) || "
                        "CAST(CAST(hour / 3600 AS INTEGER) * 3600 AS TEXT)",
        }
        if group_by not in groups:
            raise exception.InvalidError(f"usage can be grouped by {', '.join(groups)}")
        where, args = ["1=1"], []
        for clause, value in (("hour >= ?", since), ("hour < ?", until), ("app_id = ?", app_id),
                              ("app_id IN (SELECT id FROM apps WHERE environment = ?)",
                               environment)):
            if value is not None:
                where.append(clause)
                args.append(value)
        rows = self._db.execute(
            f"SELECT {groups[group_by]} AS grp, MIN(hour), SUM(cpu_s), SUM(memory_gib_s), "
            f"SUM(gpu_s), SUM(cost), group_concat(DISTINCT NULLIF(gpu_type, '')) FROM usage "
            f"WHERE {' AND '.join(where)} GROUP BY grp ORDER BY MIN(hour), grp",
            args,
        ).fetchall()
        keys = ("group", "first_hour", "cpu_s", "memory_gib_s", "gpu_s", "cost", "gpu_types")
        return [dict(zip(keys, row)) for row in rows]

    # -- for the services that keep their own tables (dicts, queues, secrets, volumes) ----------

    def add_column(self, table: str, column: str, declaration: str) -> None:
        """Add a column to a table made by an earlier version, unless it has it already."""
        if not any(row[1] == column for row in self.fetchall(f"PRAGMA table_info({table})")):
            self.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

    def ensure_schema(self, schema: str) -> None:
        try:
            self._db.executescript(schema)
        except sqlite3.Error as exc:
            raise exception.InternalError(f"the state database refused a schema: {exc}") from exc

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        """Run one write; return the number of rows it changed."""
        try:
            return self._db.execute(sql, args).rowcount
        except sqlite3.Error as exc:
            raise exception.InternalError(f"the state database refused a write: {exc}") from exc

    def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self._writemany(sql, rows)

    def fetchall(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, args).fetchall()

    def fetchone(self, sql: str, args: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
        row = self._db.execute(sql, args).fetchone()
        return tuple(row) if row is not None else None

    def _write(self, sql: str, args: tuple[Any, ...]) -> None:
        self.execute(sql, args)

    def _writemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(sql, rows)
        except sqlite3.Error as exc:
            raise exception.InternalError(f"the state database refused a write: {exc}") from exc
