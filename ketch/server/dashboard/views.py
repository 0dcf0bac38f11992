"""What the dashboard's pages show of apps, functions and containers, as plain dicts.

Each field is picked here on purpose, so nothing reaches a page by accident: a function's
secrets appear as a count, its environment as names, never as values.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...protocol.container import Status

if TYPE_CHECKING:
    from ..control_plane import ControlPlane


def app_row(cp: ControlPlane, app_id: str, name: str, state: str, created: float,
            stopped: float | None) -> dict[str, Any]:
    """An app for the list: ``deployed`` (with its version), ``running`` or ``stopped``.

    Example::

        app_row(cp, "ap-1", "hello", "running", 1700000000.0, None)["state"]  # "running"
    """
    live = cp.state.apps.get(app_id)
    version = cp.deployments.versions.get(app_id)
    if live is None or live.stopped or state == "stopped":
        shown = "stopped"
    else:
        shown = "deployed" if version is not None else "running"
    functions = [cp.state.functions[f] for f in (live.function_ids if live else [])
                 if f in cp.state.functions]
    return {"id": app_id, "name": name, "state": shown, "version": version, "created": created,
            "stopped": stopped, "functions": sum(1 for f in functions if f.params is None),
            "containers": sum(len(f.containers) for f in functions)}


def functions_of(cp: ControlPlane, app_id: str) -> list[dict[str, Any]]:
    """The app's functions and classes (a class's bound instances folded into it)."""
    app = cp.state.apps.get(app_id)
    if app is None:
        return []
    shown: dict[str, dict[str, Any]] = {}
    for function_id in app.function_ids:
        fn = cp.state.functions.get(function_id)
        if fn is None:
            continue
        opts = fn.options
        row = shown.setdefault(fn.family_id, {
            "name": fn.name, "id": fn.family_id,
            "kind": "class" if fn.definition.methods else "function",
            "image": _image(fn.definition.image),
            "cpu": opts.cpu or 0.125, "memory": opts.memory or 128,
            "gpu": opts.gpu or "", "timeout": opts.timeout,
            "retries": opts.retries.max_retries if opts.retries else 0,
            "min_containers": opts.min_containers or 0,
            "max_containers": opts.max_containers,
            "buffer_containers": opts.buffer_containers or 0,
            "scaledown_window": opts.scaledown_window or 60,
            "concurrency": fn.concurrency,
            "web": opts.serves_web,
            "schedule": bool(opts.schedule),
            "secrets": len(fn.definition.secrets),
            "env": sorted(opts.env),
            "queued": 0, "running": 0, "containers": 0, "done": 0, "failed": 0,
        })
        totals: Mapping[str, int] = cp.history.totals.get(fn.id) or {}
        row["queued"] += len(fn.pending) + len(fn.delayed) + fn.web_waiting
        row["running"] += sum(len(ct.assigned) + ct.web_active for ct in fn.containers.values())
        row["containers"] += len(fn.containers)
        row["done"] += totals.get(Status.OK, 0) + totals.get(Status.GEN_DONE, 0)
        row["failed"] += sum(totals.get(s, 0) for s in Status.FAILURES)
    return list(shown.values())


def containers_of(cp: ControlPlane, app_id: str) -> list[dict[str, Any]]:
    """The app's live containers, oldest first."""
    app = cp.state.apps.get(app_id)
    if app is None:
        return []
    now = time.monotonic()
    rows = []
    for function_id in app.function_ids:
        fn = cp.state.functions.get(function_id)
        for ct in (fn.containers.values() if fn else ()):
            state = "stopping" if ct.stopping else "ready" if ct.peer is not None else "starting"
            rows.append({"id": ct.id, "function": fn.name if fn else "", "state": state,
                         "inputs": len(ct.assigned) + ct.web_active, "done": ct.outputs_seen,
                         "age_s": now - ct.created})
    return sorted(rows, key=lambda r: -r["age_s"])


def _image(steps: list[dict[str, Any]] | None) -> str:
    """An image's steps in a line: their kinds, and a registry base's reference."""
    if not steps:
        return "the host's Python"
    parts = []
    for step in steps:
        kind = str(step.get("kind") or "step")
        parts.append(f"{kind} {step['ref']}" if kind == "registry" and step.get("ref") else kind)
    return " → ".join(parts)
