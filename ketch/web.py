"""Web endpoints: functions served over HTTP through the control plane's gateway.

Example::

    @app.function()
    @ketch.fastapi_endpoint(method="POST")
    def predict(item: dict):
        return {"ok": True}

    predict.get_web_url()   # http://127.0.0.1:7078/<label>

Four kinds, as in Modal: `fastapi_endpoint` (one function, one route), `asgi_app` and
`wsgi_app` (the function returns the app) and `web_server` (the function starts a server
listening on ``port``). Each gets a stable URL on the gateway, ``/<label>/``; the gateway
starts containers on the first request, holds requests while they start, and spreads them
over containers by their ``@ketch.concurrent`` capacity.
"""

from __future__ import annotations

import re
from typing import Any

from . import exception
from .partial import Flag, _mark

KINDS = ("fastapi", "asgi", "wsgi", "server")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
LABEL_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _web(kind: str, decorator: str, **params: Any) -> Any:
    label = params.get("label")
    if label is not None and not LABEL_RE.match(label):
        raise exception.InvalidError(
            f"label {label!r} must be lowercase letters, digits and '-', at most 63 long"
        )
    return lambda f: _mark(f, Flag.WEB, decorator, web={"kind": kind, **params})


def _no_parens(value: Any, decorator: str) -> None:
    if value is not None:
        raise exception.InvalidError(f"@ketch.{decorator} needs parentheses: `@ketch.{decorator}()`")


def fastapi_endpoint(_warn_parentheses_missing: Any = None, *, method: str = "GET",
                     label: str | None = None, docs: bool = False,
                     requires_proxy_auth: bool = False, custom_domains: Any = None) -> Any:
    """Serve the function as one FastAPI route (its arguments come from the query or body)."""
    _no_parens(_warn_parentheses_missing, "fastapi_endpoint")
    if method.upper() not in METHODS:
        raise exception.InvalidError(f"method must be one of {', '.join(METHODS)}")
    return _web("fastapi", "fastapi_endpoint", method=method.upper(), label=label, docs=docs,
                requires_proxy_auth=requires_proxy_auth)


def asgi_app(_warn_parentheses_missing: Any = None, *, label: str | None = None,
             requires_proxy_auth: bool = False, custom_domains: Any = None) -> Any:
    """Serve the ASGI app the function returns (FastAPI, Starlette, …)."""
    _no_parens(_warn_parentheses_missing, "asgi_app")
    return _web("asgi", "asgi_app", label=label, requires_proxy_auth=requires_proxy_auth)


def wsgi_app(_warn_parentheses_missing: Any = None, *, label: str | None = None,
             requires_proxy_auth: bool = False, custom_domains: Any = None) -> Any:
    """Serve the WSGI app the function returns (Flask, Django, …)."""
    _no_parens(_warn_parentheses_missing, "wsgi_app")
    return _web("wsgi", "wsgi_app", label=label, requires_proxy_auth=requires_proxy_auth)


def web_server(port: int, *, startup_timeout: float = 5.0, label: str | None = None,
               requires_proxy_auth: bool = False, custom_domains: Any = None) -> Any:
    """Serve what listens on ``port`` once the function has started it."""
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise exception.InvalidError(f"port must be an int from 1 to 65535, not {port!r}")
    return _web("server", "web_server", port=port, startup_timeout=float(startup_timeout),
                label=label, requires_proxy_auth=requires_proxy_auth)


def default_label(app_name: str, tag: str) -> str:
    text = re.sub(r"[^a-z0-9-]+", "-", f"{app_name}-{tag}".lower()).strip("-")
    return text[:63].strip("-") or "endpoint"


web_endpoint = fastapi_endpoint  # Modal's earlier name for it
