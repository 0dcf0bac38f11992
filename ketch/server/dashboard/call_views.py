"""What the dashboard shows of calls and their inputs: one page of rows at a time.

A call's finished inputs come from `CallHistory`; whether a call still waits for a container
(``queued``) or runs is read from its function's containers when a page is drawn, so the
data path keeps no extra state for it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ...protocol.container import Status
from ..call_history import CallRecord, failure_text
from .views import functions_in

if TYPE_CHECKING:
    from ..control_plane import ControlPlane

SHOWN = {Status.OK: "done", Status.GEN_DONE: "done", Status.ERROR: "failed",
         Status.TIMEOUT: "timed out", Status.DIED: "died", Status.CANCELLED: "cancelled"}


def started_calls(cp: ControlPlane, app_id: str) -> set[str]:
    """Calls of the app with an input in a container now, or waiting to be retried."""
    started: set[str] = set()
    for fn in functions_in(cp, app_id):
        for ct in fn.containers.values():
            started.update(call_id for call_id, _ in ct.assigned)
        started.update(item.call_id for _, _, item in fn.delayed)
    return started


def calls_page(cp: ControlPlane, app_id: str, offset: int, limit: int
               ) -> tuple[list[dict[str, Any]], int]:
    """The app's calls, newest first, and how many it keeps."""
    records, total = cp.history.page(app_id, offset, limit)
    started = started_calls(cp, app_id) if any(r.ended is None for r in records) else set()
    return [call_row(r, started) for r in records], total


def call_row(record: CallRecord, started: set[str]) -> dict[str, Any]:
    status = record.status
    if status == "running" and not record.inputs and record.id not in started:
        status = "queued"
    return {"id": record.id, "app_id": record.app_id, "function": record.function_name,
            "kind": record.kind, "status": status, "inputs": record.inputs,
            "counts": {SHOWN.get(s, s): n for s, n in record.counts.items()},
            "duration_s": record.duration_s, "created": record.created,
            "failure": failure_text(*record.failure) if record.failure else ""}


def running_inputs(cp: ControlPlane, record: CallRecord) -> list[dict[str, Any]]:
    """A call's inputs in containers now, and those waiting for a retry, by index."""
    now = time.monotonic()
    rows = []
    for fn in functions_in(cp, record.app_id):
        for ct in fn.containers.values():
            for (call_id, index), item in ct.assigned.items():
                if call_id == record.id:
                    rows.append({"index": index, "status": "running", "container": ct.id,
                                 "attempts": item.attempt + 1,
                                 "duration_s": now - item.assigned_at if item.assigned_at
                                 else None})
        for due, _, item in fn.delayed:
            if item.call_id == record.id:
                rows.append({"index": item.index, "status": "retrying", "container": "",
                             "attempts": item.attempt, "duration_s": None,
                             "due_s": max(0.0, due - now)})
    return sorted(rows, key=lambda r: r["index"])


def finished_inputs(cp: ControlPlane, call_id: str, offset: int, limit: int
                    ) -> tuple[list[dict[str, Any]], int]:
    """A page of the call's finished inputs (those whose details are kept), by index."""
    details, total = cp.history.inputs(call_id, offset, limit)
    return [{"index": d.index, "status": SHOWN.get(d.status, d.status), "attempts": d.attempts,
             "duration_s": d.duration_s,
             "failure": failure_text(d.status, d.failure) if d.status in Status.FAILURES
             else ""} for d in details], total
