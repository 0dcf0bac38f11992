"""The control plane's live records: apps, their functions, calls and function containers.

`State` keeps them in memory and answers the lookups every service makes (a `NotFoundError`
naming what is missing); it does no I/O, so any service can be given it, and a test can make
one in a line. What is durable lives in the store; this is what runs now.

Example::

    state = State()
    state.add_app(AppState("ap-1", "hello", "main"))
    state.app("ap-1").environment        # "main"
"""

from __future__ import annotations

import time

from .. import exception
from .calls import Call
from .dispatch import ContainerState, FunctionState
from .logs import AppLogs


class AppState:
    def __init__(self, app_id: str, name: str, environment: str = "main") -> None:
        self.id = app_id
        self.name = name
        self.environment = environment
        self.created = time.time()
        self.function_ids: list[str] = []
        self.logs = AppLogs()
        self.stopped = False


class State:
    def __init__(self) -> None:
        self.apps: dict[str, AppState] = {}
        self.functions: dict[str, FunctionState] = {}
        self.calls: dict[str, Call] = {}
        self.containers: dict[str, ContainerState] = {}  # of functions (sandboxes: their own)
        self.cancelled: set[str] = set()  # call ids

    def app(self, app_id: str) -> AppState:
        try:
            return self.apps[app_id]
        except KeyError:
            raise exception.NotFoundError(f"no running app {app_id}") from None

    def function(self, function_id: str) -> FunctionState:
        try:
            return self.functions[function_id]
        except KeyError:
            raise exception.NotFoundError(f"no function {function_id}") from None

    def call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise exception.NotFoundError(f"no active function call {call_id}") from None

    def app_of(self, fn: FunctionState) -> AppState:
        return self.apps[fn.app_id]

    def add_app(self, app: AppState) -> AppState:
        self.apps[app.id] = app
        return app

    def add_function(self, fn: FunctionState) -> FunctionState:
        self.functions[fn.id] = fn
        self.apps[fn.app_id].function_ids.append(fn.id)
        return fn

    def running_app(self, name: str, environment: str) -> AppState | None:
        """The app of that name in ``environment`` that has not stopped."""
        for app in self.apps.values():
            if app.name == name and app.environment == environment and not app.stopped:
                return app
        return None

    def functions_of(self, app: AppState) -> list[FunctionState]:
        return [self.functions[f] for f in app.function_ids]

    def named_functions(self, app: AppState) -> dict[str, str]:
        """Its functions' ids by name (not the classes bound to parameters)."""
        return {fn.name: fn.id for fn in self.functions_of(app) if fn.params is None}

    def starting(self) -> tuple[int, int]:
        """Containers started but not yet connected, on the whole node: those whose start
        starts an interpreter (or may: the worker has not said yet), and those forked."""
        starting = [ct for ct in self.containers.values() if ct.peer is None and not ct.stopping]
        forked = sum(1 for ct in starting if ct.forked)
        return len(starting) - forked, forked
