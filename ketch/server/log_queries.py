"""``logs_query``: the stored log lines of one object, for the SDK's ``.logs`` (Modal's
``fetch``, ``tail`` and ``stream`` on functions, function calls, apps and servers).

The object is named by its id: an app (``ap-``: all its lines), a function or server
(``fu-``: its app's lines printed by it, a class's bound instances included) or a call
(``fc-``: the lines printed while a container ran that call alone). Lines come from the
`ketch.server.logbook.Logbook`, so they outlive the app (7 days).

Example::

    answer = await queries.logs_query(protocol.LogsQuery(object_id="fu-1a2b", tail=20), caller)
    answer.lines      # LogRecord(id, ts, source, text, container_id, call_id), oldest first
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import exception
from ..protocol import client as protocol
from .auth import Identity
from .logbook import SOURCES, LogFilter

if TYPE_CHECKING:
    from .logbook import Logbook
    from .state import State
    from .store import Store

MAX_WAIT_S = 50.0


@dataclass(frozen=True)
class Lines:
    """Where an object's lines are: its app (and that app's environment), and the function or
    call that printed them."""

    app_id: str
    environment: str
    function: str | None = None
    call_id: str | None = None


class LogQueries:
    def __init__(self, state: State, store: Store, logbook: Logbook) -> None:
        self.state = state
        self.store = store
        self.logbook = logbook

    def lines(self, object_id: str) -> Lines:
        """The lines ``object_id`` names, or `NotFoundError` saying what ids are taken."""
        if object_id.startswith("ap-"):
            return Lines(object_id, self._environment(object_id))
        if object_id.startswith("fu-"):
            fn = self.state.functions.get(object_id)
            if fn is not None:
                return Lines(fn.app_id, self._environment(fn.app_id), fn.name)
            row = self.store.fetchone("SELECT app_id, name FROM functions WHERE id=?",
                                         (object_id,))
            if row is None:
                raise exception.NotFoundError(f"no function {object_id}")
            return Lines(row[0], self._environment(row[0]), row[1])
        if object_id.startswith("fc-"):
            app = self.lines(self._function_of_call(object_id))
            return Lines(app.app_id, app.environment, call_id=object_id)
        raise exception.InvalidError(
            f"{object_id!r} has no logs: ask an app (ap-), function or server (fu-) or "
            "function call (fc-)")

    async def logs_query(self, req: protocol.LogsQuery, caller: Identity
                         ) -> protocol.LogRecords:
        """The object's lines after line ``after`` (from the first, or the ``tail`` newest),
        waiting up to ``timeout`` for some. ``cursor`` is where the next query goes on from;
        ``done`` says no more will come (its app stopped, its call finished)."""
        if req.source is not None and req.source not in SOURCES:
            raise exception.InvalidError(f"source is one of {', '.join(SOURCES)} (or None), "
                                         f"not {req.source!r}")
        if req.tail is not None and req.tail < 0:
            raise exception.InvalidError(f"tail is a number of lines, not {req.tail!r}")
        lines = self.lines(req.object_id)
        where = LogFilter((lines.app_id,), lines.function, lines.call_id or req.call_id,
                          req.since, req.until, req.source, req.search, req.container_id)
        start = req.after if req.after is not None else 0
        wait = min(max(req.timeout or 0.0, 0.0), MAX_WAIT_S)
        rows = await self.logbook.select(where, after=start, tail=req.tail, timeout=wait,
                                         before=req.before)
        cursor = rows[-1][0] if rows else \
            (start if req.after is not None else self.logbook.last_id())
        return protocol.LogRecords(
            lines=[protocol.LogRecord(id=row[0], ts=row[1],
                                      source="system" if not row[4] else row[2], text=row[3],
                                      container_id=row[4], call_id=row[5], function=row[6])
                   for row in rows],
            cursor=cursor, done=self._done(lines), now=time.time())

    def _done(self, lines: Lines) -> bool:
        if lines.call_id is not None:
            call = self.state.calls.get(lines.call_id)
            if call is not None:
                return call.done
            row = self.store.fetchone("SELECT finished FROM calls WHERE id=?",
                                         (lines.call_id,))
            return row is None or bool(row[0])
        app = self.state.apps.get(lines.app_id)
        return app is None or app.stopped

    def _function_of_call(self, call_id: str) -> str:
        call = self.state.calls.get(call_id)
        if call is not None:
            return call.function_id
        row = self.store.fetchone("SELECT function_id FROM calls WHERE id=?", (call_id,))
        if row is None:
            raise exception.NotFoundError(
                f"no function call {call_id} (spawned calls are kept for 24 hours)")
        return str(row[0])

    def _environment(self, app_id: str) -> str:
        """The environment of a running or stopped app."""
        app = self.state.apps.get(app_id)
        if app is not None:
            return app.environment
        stored = self.store.app(app_id)
        if stored is None:
            raise exception.NotFoundError(f"no app {app_id}")
        return str(stored["environment"])
