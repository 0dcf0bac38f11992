"""``logs_query``: the stored log lines of one object, for the SDK's ``.logs`` (Modal's
``fetch``, ``tail`` and ``stream`` on functions, function calls, apps and servers).

The object is named by its id: an app (``ap-``: all its lines), a function or server
(``fu-``: its app's lines printed by it, a class's bound instances included) or a call
(``fc-``: the lines printed while a container ran that call alone). Lines come from the
`ketch.server.logbook.Logbook`, so they outlive the app (7 days).

Example::

    answer = await queries.logs_query("fu-1a2b", tail=20)
    answer["lines"]   # [[id, ts, source, text, container_id, call_id], ...], oldest first
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import exception
from .logbook import SOURCES, LogFilter

if TYPE_CHECKING:
    from .control_plane import ControlPlane

REQUESTS = ("logs_query",)
MAX_WAIT_S = 50.0


@dataclass(frozen=True)
class Scope:
    """Where an object's lines are: its app, and the function or call that printed them."""

    app_id: str
    function: str | None = None
    call_id: str | None = None


class LogQueries:
    def __init__(self, control_plane: ControlPlane) -> None:
        self.cp = control_plane

    def scope(self, object_id: str) -> Scope:
        """The lines ``object_id`` names, or `NotFoundError` saying what ids are taken."""
        if not isinstance(object_id, str):
            raise exception.InvalidError(f"logs are asked by object id, not {object_id!r}")
        if object_id.startswith("ap-"):
            if object_id not in self.cp.apps and not self._stored_app(object_id):
                raise exception.NotFoundError(f"no app {object_id}")
            return Scope(object_id)
        if object_id.startswith("fu-"):
            fn = self.cp.functions.get(object_id)
            if fn is not None:
                return Scope(fn.app_id, fn.name)
            row = self.cp.store.fetchone("SELECT app_id, name FROM functions WHERE id=?",
                                         (object_id,))
            if row is None:
                raise exception.NotFoundError(f"no function {object_id}")
            return Scope(row[0], row[1])
        if object_id.startswith("fc-"):
            function_id = self._function_of_call(object_id)
            return Scope(self.scope(function_id).app_id, call_id=object_id)
        raise exception.InvalidError(
            f"{object_id!r} has no logs: ask an app (ap-), function or server (fu-) or "
            "function call (fc-)")

    def app_of(self, object_id: Any) -> str | None:
        """The app whose lines ``object_id`` names (None where it names none), for access."""
        try:
            return self.scope(object_id).app_id
        except exception.Error:
            return None

    async def logs_query(self, object_id: str, since: float | None = None,
                         until: float | None = None, source: str | None = None,
                         search: str = "", tail: int | None = None, after: int | None = None,
                         timeout: float | None = None) -> dict[str, Any]:
        """The object's lines after line ``after`` (from the first, or the ``tail`` newest),
        waiting up to ``timeout`` for some. ``cursor`` is where the next query goes on from;
        ``done`` says no more will come (its app stopped, its call finished)."""
        if source is not None and source not in SOURCES:
            raise exception.InvalidError(f"source is one of {', '.join(SOURCES)} (or None), "
                                         f"not {source!r}")
        if tail is not None and (isinstance(tail, bool) or not isinstance(tail, int) or tail < 0):
            raise exception.InvalidError(f"tail is a number of lines, not {tail!r}")
        scope = self.scope(object_id)
        where = LogFilter((scope.app_id,), scope.function, scope.call_id, since, until, source,
                          search or "")
        start = after if after is not None else 0
        wait = min(max(timeout or 0.0, 0.0), MAX_WAIT_S)
        rows = await self.cp.logbook.select(where, after=start, tail=tail, timeout=wait)
        cursor = rows[-1][0] if rows else (start if after is not None else self.cp.logbook.last_id())
        return {"lines": [[row[0], row[1], "system" if not row[4] else row[2], row[3], row[4],
                           row[5]] for row in rows],
                "cursor": cursor, "done": self._done(scope), "now": time.time()}

    def _done(self, scope: Scope) -> bool:
        if scope.call_id is not None:
            call = self.cp.calls.get(scope.call_id)
            if call is not None:
                return call.done
            row = self.cp.store.fetchone("SELECT finished FROM calls WHERE id=?",
                                         (scope.call_id,))
            return row is None or bool(row[0])
        app = self.cp.apps.get(scope.app_id)
        return app is None or app.stopped

    def _function_of_call(self, call_id: str) -> str:
        call = self.cp.calls.get(call_id)
        if call is not None:
            return call.function_id
        row = self.cp.store.fetchone("SELECT function_id FROM calls WHERE id=?", (call_id,))
        if row is None:
            raise exception.NotFoundError(
                f"no function call {call_id} (spawned calls are kept for 24 hours)")
        return str(row[0])

    def _stored_app(self, app_id: str) -> bool:
        return self.cp.store.fetchone("SELECT 1 FROM apps WHERE id=?", (app_id,)) is not None
