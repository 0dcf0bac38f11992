"""What the dashboard's pages show of apps, functions, containers and nodes, as plain dicts.

This module and `call_views` are the only places the dashboard reads the control plane's
in-memory state (its apps, functions and their containers), and only for an app or an
environment that a request as the visitor (`rights`) was let through on; everything else it
shows comes through the requests themselves. Each field is picked here on purpose, so nothing
reaches a page by accident: a function's secrets appear as a count, its environment as names,
never as values.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from ...protocol.client import AppInfo
from ...protocol.container import Status
from ...schedule import Schedule

if TYPE_CHECKING:
    from ..control_plane import ControlPlane
    from ..dispatch import FunctionState


def app_row(cp: ControlPlane, app: AppInfo) -> dict[str, Any]:
    """An app for the list and its page: what ``app_list`` or ``app_get`` said of it, and
    its functions and containers now.

    Example::

        app_row(cp, info)["state"]  # "deployed", "running" or "stopped"
    """
    functions = list(functions_in(cp, app.app_id))
    return {"id": app.app_id, "name": app.name, "state": app.state, "version": app.version,
            "created": app.created, "stopped": app.stopped, "environment": app.environment,
            "live": app.state != "stopped",
            "functions": sum(1 for f in functions if f.params is None),
            "containers": sum(len(f.containers) for f in functions)}


def functions_in(cp: ControlPlane, app_id: str) -> Iterator[FunctionState]:
    """The app's functions (a class bound to parameters is a function of its own)."""
    app = cp.state.apps.get(app_id)
    for function_id in app.function_ids if app else ():
        fn = cp.state.functions.get(function_id)
        if fn is not None:
            yield fn


def functions_of(cp: ControlPlane, app_id: str) -> list[dict[str, Any]]:
    """The app's functions and classes (a class's bound instances folded into it)."""
    shown: dict[str, dict[str, Any]] = {}
    for fn in functions_in(cp, app_id):
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
    """The app's live containers, oldest first, with what they use now: the worker's latest
    sample of each one's cgroup (the one metering bills), against what it reserved."""
    now, wall = time.monotonic(), time.time()
    rows = []
    for fn in functions_in(cp, app_id):
        for ct in fn.containers.values():
            state = "stopping" if ct.stopping else "ready" if ct.peer is not None else "starting"
            sample = ct.usage
            rows.append({
                "id": ct.id, "function": fn.name, "state": state,
                "inputs": len(ct.assigned) + ct.web_active, "done": ct.outputs_seen,
                "started": wall - (now - ct.created),
                "cpu": sample.cpu_s / sample.seconds
                if sample and sample.cpu_s is not None and sample.seconds else None,
                "memory_mib": sample.memory_bytes / 2**20
                if sample and sample.memory_bytes is not None else None,
                "gpus": ", ".join(f"{n}× {m}" for m, n in sample.gpus.items()) if sample else "",
                "cpu_reserved": fn.options.cpu or 0.125,
                "memory_reserved": fn.options.memory or 128,
            })
    return sorted(rows, key=lambda r: r["started"])


def measured(cp: ControlPlane) -> dict[str, float]:
    """CPU cores and MiB all function containers use now, by their latest samples."""
    cpu = memory = 0.0
    for ct in list(cp.state.containers.values()):
        if ct.usage is not None and ct.usage.seconds:
            cpu += (ct.usage.cpu_s or 0.0) / ct.usage.seconds
            memory += (ct.usage.memory_bytes or 0) / 2**20
    return {"cpu": cpu, "memory_mib": memory}


def schedules(cp: ControlPlane, environment: str) -> list[dict[str, Any]]:
    """The environment's scheduled functions and their next firings, soonest first."""
    rows = []
    for function_id, when in cp.scheduler.upcoming():
        fn = cp.state.functions.get(function_id)
        app = cp.state.apps.get(fn.app_id) if fn else None
        if fn is None or app is None or app.environment != environment:
            continue
        rows.append({"function": fn.name, "app": app.name, "app_id": app.id,
                     "schedule": repr(Schedule.from_wire(fn.options.schedule or {})),
                     "next": when.timestamp()})
    return rows


def _image(steps: list[dict[str, Any]] | None) -> str:
    """An image's steps in a line: their kinds, and a registry base's reference."""
    if not steps:
        return "the host's Python"
    parts = []
    for step in steps:
        kind = str(step.get("kind") or "step")
        parts.append(f"{kind} {step['ref']}" if kind == "registry" and step.get("ref") else kind)
    return " → ".join(parts)
