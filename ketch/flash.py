"""Modal's "Flash" servers, ``modal.experimental.http_server``: a class whose ``@enter`` starts
an HTTP server on a port, served through the gateway as a `web_server` is.

Example::

    @app.cls()
    @modal.experimental.http_server(port=8000, proxy_regions=["us-east"])
    class Server:
        @modal.enter()
        def start(self):
            self.process = subprocess.Popen(["python", "-m", "http.server", "8000"])

    Server._experimental_get_flash_urls()   # [the endpoint's URL on the gateway]

Modal's "Flash" forwards each of ``proxy_regions`` to the containers; ketch has one gateway,
so the regions are checked as Modal checks them and otherwise ignored. The container's
requests, WebSocket upgrades included, go to ``port`` through the gateway, scaled from zero
with the class's ``@concurrent`` capacity like any web endpoint.
"""

from __future__ import annotations

import inspect
from typing import Any

from . import exception

MAX_EXIT_GRACE_S = 25


def http_server(port: int | None = None, *, proxy_regions: list[str] | None = None,
                startup_timeout: int = 30, exit_grace_period: int | None = None,
                h2_enabled: bool = False) -> Any:
    """Serve what the class's ``@enter`` starts listening on ``port`` (Modal's
    ``modal.experimental.http_server``)."""
    if port is None:
        raise exception.InvalidError("Positional arguments are not allowed. Did you forget "
                                     "parentheses? Suggestion: `@modal.http_server()`.")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise exception.InvalidError("Port must be a positive integer between 1 and 65535.")
    if startup_timeout <= 0:
        raise exception.InvalidError("The `startup_timeout` argument must be positive.")
    if exit_grace_period is not None and not 0 <= exit_grace_period <= MAX_EXIT_GRACE_S:
        raise exception.InvalidError(
            f"The `exit_grace_period` argument must be from 0 to {MAX_EXIT_GRACE_S} seconds.")
    if not proxy_regions or not proxy_regions[0]:
        raise exception.InvalidError("The `proxy_regions` argument must be non-empty.")

    def wrap(user_cls: type) -> type:
        if not inspect.isclass(user_cls):
            raise exception.InvalidError(
                "@modal.experimental.http_server decorates a class (under @app.cls()) whose "
                "@modal.enter() method starts the server")
        served = {"kind": "server", "port": port, "startup_timeout": float(startup_timeout)}
        user_cls.__ketch_http_server__ = served  # type: ignore[attr-defined]  # App.cls reads it
        return user_cls

    return wrap
