"""The pages' server-sent event streams, fed by the control plane's own events.

An app's page opens `app_events`: its log lines as they are printed (from the app's `AppLogs`
window, the one ``ketch app logs -f`` reads), filtered here, and ``changed`` events naming what
changed (``calls``, ``containers``, ``apps``, and ``logs`` when lines the page cannot filter
itself arrived), which `Changes` reports as the control plane notes them. Other pages open
`events` for the kinds they show. Nothing here polls: each stream sleeps until a line or a
change comes. Lines go out at once; a ``changed`` event goes out `DELAY_S` after the change
and at most once per `GAP_S`, so a busy app costs its watchers a fetch of its tables every two
seconds, not one per call (each fetch costs a browser tens of milliseconds of CPU).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...protocol.client import LogLine

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

DELAY_S = 1.0  # from a change to the "changed" event that says so: a burst of work (a map)
GAP_S = 2.0  # is over before its watchers fetch anything; and at most one event per GAP_S
KEEPALIVE_S = 15.0  # a comment this often, so a closed tab is noticed
BACKLOG = 500  # lines a new log view starts with


@dataclass(frozen=True)
class LogFilter:
    """Which lines a log view shows: of a function (by name; ``function_id`` names it to a
    ``logs_query``), a container, a call (whose lines the logbook alone knows) and holding a
    piece of text, as ``logs_query`` matches it."""

    function: str | None = None
    function_id: str | None = None
    container: str | None = None
    call: str | None = None
    text: str | None = None

    def shows(self, line: LogLine) -> bool:
        return ((self.function is None or line.function == self.function)
                and (self.container is None or line.container_id == self.container)
                and (self.text is None or self.text in line.text))


def event(kind: str, data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def app_events(cp: ControlPlane, app_id: str, shown: LogFilter
                     ) -> AsyncGenerator[str, None]:
    """An app page's stream: ``log`` [lines], ``changed`` {"what": [...]}, and ``end``."""
    app = cp.state.apps.get(app_id)
    if app is None or app.logs.closed:
        yield event("end", {"reason": "the app has stopped: its logs are read from the store"})
        return
    cursor = app.logs.cursor_before(BACKLOG)
    seen, last_sent = cp.changes.version, 0.0
    due: float | None = None  # when the changes noted since `seen` go out
    lines_task: asyncio.Future[Any] | None = None
    changes_task: asyncio.Future[Any] | None = None
    try:
        while True:
            lines_task = lines_task or asyncio.ensure_future(app.logs.read(cursor, None))
            if due is None:
                changes_task = changes_task or asyncio.ensure_future(cp.changes.since(seen, None))
            waiting = {task for task in (lines_task, changes_task) if task is not None}
            timeout = KEEPALIVE_S if due is None else max(0.0, due - time.monotonic())
            done, _ = await asyncio.wait(waiting, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not done and due is None:
                yield ": keepalive\n\n"
            what: set[str] = set()
            if lines_task in done:
                lines, cursor = lines_task.result()
                lines_task = None
                if shown.call is not None and lines:
                    what.add("logs")
                batch = [{"function": line.function, "container": line.container_id,
                          "stream": line.stream, "text": line.text}
                         for line in lines if shown.call is None and shown.shows(line)]
                if batch:  # one event for the lines read together: one update of the page
                    yield event("log", batch)
                if app.logs.closed and not lines:
                    yield event("changed", {"what": ["apps", "calls", "containers"]})
                    yield event("end", {"reason": "the app stopped"})
                    return
            if changes_task is not None and changes_task in done:
                changes_task = None
                due = _due(last_sent)
            if due is not None and time.monotonic() >= due:
                seen, changed = await cp.changes.since(seen, 0)
                due = None
                what.update(kind for kind, of in changed if of == app_id)
            if what:
                last_sent = time.monotonic()
                yield event("changed", {"what": sorted(what)})
    finally:
        _cancel(lines_task, changes_task)


async def events(cp: ControlPlane, kinds: Collection[str], environment: str
                 ) -> AsyncGenerator[str, None]:
    """A list page's stream: ``changed`` {"what": [...]} when something of ``kinds`` did in
    ``environment`` (an app of it, or what belongs to no app)."""
    seen, last_sent = cp.changes.version, 0.0
    while True:
        version, _ = await cp.changes.since(seen, KEEPALIVE_S)
        if version == seen:
            yield ": keepalive\n\n"
            continue
        await asyncio.sleep(max(0.0, _due(last_sent) - time.monotonic()))
        seen, changed = await cp.changes.since(seen, 0)
        what = sorted({kind for kind, app_id in changed
                       if kind in kinds and _of(cp, app_id, environment)})
        if what:
            last_sent = time.monotonic()
            yield event("changed", {"what": what})


def _of(cp: ControlPlane, app_id: str, environment: str) -> bool:
    app = cp.state.apps.get(app_id)
    return app is None or app.environment == environment


def _due(last_sent: float) -> float:
    """When a change noted now goes out: `DELAY_S` from now, and `GAP_S` after the last
    ``changed`` event; what changes meanwhile goes out with it."""
    return max(time.monotonic() + DELAY_S, last_sent + GAP_S)


def _cancel(*tasks: asyncio.Future[Any] | None) -> None:
    for task in tasks:
        if task is not None:
            task.cancel()
