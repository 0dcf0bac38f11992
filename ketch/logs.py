"""``.logs`` of functions, function calls, apps and servers: Modal's log managers.

Each reads the lines the object's containers printed, as the control plane keeps them (7
days): ``fetch`` a time range, ``tail`` the newest, ``stream`` new ones as they come. Every
line is a `ketch.types.LogEntry` whose ``message`` ends with its newline; ``source`` is
``stdout``, ``stderr`` or ``system`` (ketch's own notes about the object, such as waiting for
resources).

Example::

    from datetime import datetime, timedelta
    f = ketch.Function.from_name("etl", "load")
    for entry in f.logs.fetch(since=datetime.now() - timedelta(hours=1), source="stderr"):
        print(entry.timestamp, entry.message, end="")
    for entry in f.logs.tail(20):
        print(entry, end="")
    call = f.spawn()
    for entry in call.logs.stream():     # ends when the call has finished
        print(entry, end="")
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from . import exception
from .client import Client, get_client
from .protocol import client as protocol
from .synchronizer import aio_iter
from .types import LogEntry, LogSource

SOURCES = ("stdout", "stderr", "system")
POLL_S = 5.0  # one request of a stream waits this long for lines, then asks again
DRAIN_S = 1.0  # how long a stream whose object has ended waits for its last lines


class LogsManager:
    """The ``.logs`` of one object; ``object_id`` finds its id when first asked (a function
    handle looks itself up). A function call's logs (``call=True``) fetch from the call's
    start by default and stream from it until the call has finished."""

    def __init__(self, object_id: Callable[[], Awaitable[str]], client: Client | None,
                 *, call: bool = False) -> None:
        self._object_id = object_id
        self._client = client
        self._call = call

    @aio_iter
    async def fetch(self, *, since: datetime | None = None, until: datetime | None = None,
                    source: LogSource | None = None,
                    search_text: str = "") -> AsyncIterator[list[LogEntry]]:
        """Lines printed from ``since`` to ``until`` (default: now), oldest first; naive
        datetimes are local time. Narrowed to a ``source`` and to lines holding
        ``search_text``."""
        if since is None and not self._call:
            raise exception.InvalidError("logs.fetch needs since=, a datetime (for example "
                                         "datetime.now() - timedelta(hours=1))")
        query = {"since": _epoch(since, "since") if since is not None else None,
                 "until": _epoch(until or datetime.now(UTC), "until"),
                 "source": _source(source), "search": _search(search_text)}
        object_id = await self._object_id()
        cursor = 0
        while True:
            answer = await self._query(object_id, after=cursor, **query)
            if not answer.lines:
                return
            cursor = answer.cursor
            yield self._entries(object_id, answer.lines)

    @aio_iter
    async def tail(self, entries: int = 100, *,
                   source: LogSource | None = None) -> AsyncIterator[list[LogEntry]]:
        """The newest ``entries`` lines, oldest first."""
        if isinstance(entries, bool) or not isinstance(entries, int) or entries < 0:
            raise exception.InvalidError(f"entries is a number of lines, not {entries!r}")
        object_id = await self._object_id()
        answer = await self._query(object_id, tail=entries, source=_source(source))
        yield self._entries(object_id, answer.lines)

    @aio_iter
    async def stream(self, timeout: float | None = None) -> AsyncIterator[list[LogEntry]]:
        """New lines as they come, until none has come for ``timeout`` seconds (None: until
        the app stops, or, for a call, until the call has finished). A call's stream starts
        at the call's first line; the others at the lines printed from now on."""
        if timeout is not None and (isinstance(timeout, bool)
                                    or not isinstance(timeout, (int, float))):
            raise exception.InvalidError(f"timeout is a number of seconds, not {timeout!r}")
        if timeout is not None and timeout <= 0:
            return
        object_id = await self._object_id()
        cursor = 0 if self._call else (await self._query(object_id, tail=0)).cursor
        quiet_until = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = POLL_S if quiet_until is None else min(POLL_S, quiet_until - time.monotonic())
            answer = await self._query(object_id, after=cursor, timeout=max(wait, 0.0))
            cursor = answer.cursor
            if answer.lines:
                yield self._entries(object_id, answer.lines)
                if quiet_until is not None:
                    quiet_until = time.monotonic() + timeout  # type: ignore[operator]
                continue
            if answer.done:
                # a line printed just before the end may reach the control plane just after
                last = await self._query(object_id, after=cursor, timeout=DRAIN_S)
                if last.lines:
                    yield self._entries(object_id, last.lines)
                return
            if quiet_until is not None and time.monotonic() >= quiet_until:
                return

    async def _query(self, object_id: str, **query: Any) -> protocol.LogRecords:
        client = self._client or await get_client()
        answer: protocol.LogRecords = await client.request(
            protocol.LogsQuery(object_id=object_id, **query))
        return answer

    def _entries(self, object_id: str, lines: list[protocol.LogRecord]) -> list[LogEntry]:
        entries = []
        for line in lines:
            context = [line.call_id, line.container_id] if not self._call else [line.container_id]
            entries.append(LogEntry(line.text + "\n", datetime.fromtimestamp(line.ts, UTC),
                                    line.source, object_id,  # type: ignore[arg-type]
                                    [c for c in context if c]))
        return entries

    def __repr__(self) -> str:
        return "LogsManager()"


def _epoch(when: Any, name: str) -> float:
    if not isinstance(when, datetime):
        raise exception.InvalidError(f"{name} must be a datetime, not {when!r}")
    return when.astimezone(UTC).timestamp()  # a naive datetime is local time, as Modal reads it


def _source(source: Any) -> str | None:
    if source is not None and source not in SOURCES:
        raise exception.InvalidError(f"source must be one of 'stdout', 'stderr', 'system' or "
                                     f"None, not {source!r}")
    return source  # type: ignore[no-any-return]


def _search(text: Any) -> str:
    if not isinstance(text, str):
        raise exception.InvalidError(f"search_text is a str, not {text!r}")
    return text
