"""`Server` and ``@app.server()``: an HTTP server that a class starts in its ``@enter``,
served through the control plane's gateway, as Modal's ``modal.Server``.

The class runs in its own containers, like an ``@app.cls`` class with no remote methods: a
container runs the ``@enter`` hooks, waits for the server to listen on ``port`` (up to
``startup_timeout``), and from then the gateway sends it the requests for the server's URL
(``/<label>/``, the label made from the app's and the server's names). Without
``unauthenticated=True`` a request needs a proxy token (``ketch token new --proxy``, in the
``Modal-Key``/``Modal-Secret`` headers), as Modal's servers require proxy auth by default.

Example::

    @app.server(port=8000, unauthenticated=True)
    class Files:
        @ketch.enter()
        def start(self):
            self.proc = subprocess.Popen(["python3", "-m", "http.server", "8000"])

    Files.get_url()                      # http://127.0.0.1:<gateway>/<app>-files
    ketch.Server.from_name("site", "Files").logs.tail(10)
"""

from __future__ import annotations

import inspect
import math
from typing import TYPE_CHECKING, Any

from . import exception
from .client import Client, given
from .cls import parameters
from .definition import build, check_importable
from .functions import Function
from .logs import LogsManager
from .options import reject_unknown, validate
from .partial import Flag, PartialFunction, marked
from .protocol import client as protocol
from .synchronizer import aio
from .types import ServerAutoscalerSettings
from .web import default_label

if TYPE_CHECKING:
    from .app import App

# @app.server()'s keywords that are @app.function()'s too, passed on as they are
SHARED = ("image", "env", "secrets", "gpu", "serialized", "volumes", "cpu", "memory",
          "ephemeral_disk", "min_containers", "max_containers", "buffer_containers",
          "scaledown_window", "startup_timeout", "name", "cloud", "nonpreemptible", "proxy",
          "i6pn", "enable_memory_snapshot", "include_source", "experimental_options")
# Taken for Modal programs, with no effect on one gateway: routing regions, HTTP/2 to the
# container (the gateway speaks HTTP/1.1 to it), scale-up delays, in-flight grace at exit.
ACCEPTED = ("routing_region", "h2_enabled", "scaleup_window", "exit_grace_period")
KEYWORDS = (*SHARED, *ACCEPTED, "port", "unauthenticated", "target_concurrency",
            "compute_region")
# A server handles its own concurrency: the gateway sends one container this many at once.
MAX_REQUESTS = 1000


class Server:
    """A handle on an ``@app.server()`` class: its URL, logs and scaling."""

    def __init__(self, service: Function, user_cls: type | None = None) -> None:
        self._service = service
        self._user_cls = user_cls
        self._client: Client | None = service._client

    @property
    def object_id(self) -> str | None:
        return self._service.object_id

    @property
    def raw_user_object(self) -> Any:
        """The class (what a container, importing the module, finds and runs)."""
        return self._user_cls

    @property
    def app(self) -> App | None:
        return self._service.app

    @property
    def logs(self) -> LogsManager:
        """Its containers' log lines: ``fetch``, ``tail``, ``stream`` (`ketch.logs`)."""
        return self._service.logs

    @aio
    async def get_url(self) -> str | None:
        """The URL at which the gateway serves it."""
        client, function_id = await self._service._resolve()
        return str((await client.request(protocol.WebUrl(function_id=function_id))).url)

    @aio
    async def hydrate(self, client: Any = None) -> Server:
        """Find it on the control plane now rather than on first use."""
        if given(client) is not None:
            self._service._client = self._client = client
        await self._service._resolve()
        return self

    @aio
    async def update_autoscaler(
        self, *, target_concurrency: float | None = None, min_containers: int | None = None,
        max_containers: int | None = None, buffer_containers: int | None = None,
        scaleup_window: int | None = None, scaledown_window: int | None = None,
    ) -> ServerAutoscalerSettings:
        """Change its scaling until the app is deployed again; the settings in force after."""
        given_counts = {"min_containers": min_containers, "max_containers": max_containers,
                        "buffer_containers": buffer_containers,
                        "scaledown_window": scaledown_window}
        settings = {k: v for k, v in validate(
            {k: v for k, v in given_counts.items() if v is not None}).items()
            if given_counts.get(k) is not None}
        if target_concurrency is not None:
            settings["target_inputs"] = _target(target_concurrency)
        client, function_id = await self._service._resolve()
        answer = await client.request(protocol.FunctionUpdateAutoscaler(
            function_id=function_id, settings=protocol.AutoscalerSettings(**settings)))
        now = answer.settings
        return ServerAutoscalerSettings(
            target_concurrency=now.target_inputs, min_containers=now.min_containers,
            max_containers=now.max_containers, buffer_containers=now.buffer_containers,
            scaleup_window=scaleup_window, scaledown_window=now.scaledown_window)

    @classmethod
    def from_name(cls, app_name: str, name: str, *, environment_name: str | None = None,
                  client: Any = None) -> Server:
        """The server ``name`` of the deployed app ``app_name`` (of ``environment_name``,
        else of ``KETCH_ENVIRONMENT`` or the caller's own), found when first used."""
        return cls(Function.from_name(app_name, name, environment_name=environment_name,
                                      client=client))

    def __repr__(self) -> str:
        return f"Server({self._service.tag!r})"


def decorate(app: App, user_cls: Any, kwargs: dict[str, Any]) -> Server:
    """``@app.server(**kwargs)`` applied to ``user_cls``: checked, registered on ``app``."""
    check_class(user_cls, bool(kwargs.get("enable_memory_snapshot")))
    check_importable(user_cls, bool(kwargs.get("serialized")), "server class")
    options = validate({k: kwargs[k] for k in SHARED if k in kwargs}
                       | {"region": kwargs.get("compute_region")})
    tag = kwargs.get("name") or user_cls.__name__
    options["web"] = {
        "kind": "server", "port": kwargs["port"],
        "startup_timeout": float(kwargs["startup_timeout"]),
        "label": default_label(app.name or "app", tag),
        "requires_proxy_auth": not kwargs["unauthenticated"],
    }
    options["max_inputs"] = MAX_REQUESTS
    target = kwargs.get("target_concurrency")
    if target == 0:  # Modal's "no autoscaling": min_containers (at least one) and no more
        fixed = max(options.get("min_containers") or 0, 1)
        options["min_containers"] = options["max_containers"] = fixed
    elif target is not None:
        options["target_inputs"] = _target(target)
    definition = build(user_cls, tag=tag, app_name=app.name or "", options=options,
                       is_class=True, methods={}, is_generator=False, is_async=False,
                       image=app._image_steps(kwargs.get("image")))
    return Server(app._add(tag, user_cls, definition, kwargs), user_cls)


def check_keywords(kwargs: dict[str, Any]) -> None:
    """``@app.server()``'s keywords, checked before the class is seen (as Modal checks them)."""
    reject_unknown({k: v for k, v in kwargs.items() if k not in KEYWORDS}, "@app.server()",
                   KEYWORDS)
    port = kwargs["port"]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise exception.InvalidError(f"port must be an int from 1 to 65535, not {port!r}")
    startup = kwargs["startup_timeout"]
    if isinstance(startup, bool) or not isinstance(startup, (int, float)) or startup <= 0:
        raise exception.InvalidError(f"startup_timeout must be a positive number of seconds, "
                                     f"not {startup!r}")
    grace = kwargs.get("exit_grace_period")
    if grace is not None and not 0 <= grace <= 3600:
        raise exception.InvalidError("exit_grace_period must be from 0 to 3600 seconds")
    if not kwargs.get("routing_region"):
        raise exception.InvalidError("routing_region must be a region name, such as 'us-east'")
    window = kwargs.get("scaleup_window")
    if window is not None and window <= 0:
        raise exception.InvalidError("scaleup_window must be > 0")
    if kwargs.get("target_concurrency") is not None:
        _target(kwargs["target_concurrency"])


def check_class(user_cls: Any, memory_snapshot: bool) -> None:
    """What Modal refuses in a server class, refused at decoration with the fix."""
    if isinstance(user_cls, PartialFunction):
        raise exception.InvalidError(
            "@app.server() classes already serve HTTP: drop the @ketch.web_server / "
            "@ketch.asgi_app decorator from the class")
    if not inspect.isclass(user_cls):
        raise exception.InvalidError("@app.server() decorates a class whose @ketch.enter() "
                                     "method starts the HTTP server")
    name = user_cls.__name__
    if parameters(user_cls):
        raise exception.InvalidError(f"server class {name} cannot use ketch.parameter(): "
                                     "servers take no parameters")
    if getattr(user_cls, "__ketch_concurrent__", None):
        raise exception.InvalidError(f"server class {name} cannot be decorated with "
                                     "@ketch.concurrent(); use target_concurrency= instead")
    if not marked(user_cls, Flag.ENTER_PRE_SNAPSHOT | Flag.ENTER_POST_SNAPSHOT):
        raise exception.InvalidError(f"server class {name} needs an @ketch.enter() method "
                                     "that starts the HTTP server")
    if marked(user_cls, Flag.METHOD) or marked(user_cls, Flag.WEB):
        raise exception.InvalidError(f"server class {name} cannot have @ketch.method() or web "
                                     "endpoint methods: a server exposes only its HTTP server")
    if marked(user_cls, Flag.ENTER_PRE_SNAPSHOT) and not memory_snapshot:
        raise exception.InvalidError("@ketch.enter(snap=True) in a server needs "
                                     "enable_memory_snapshot=True")
    if "__init__" in vars(user_cls):
        raise exception.InvalidError(f"server class {name} cannot have its own __init__; do "
                                     "its setup in an @ketch.enter() method")


def _target(value: Any) -> int:
    """Modal's target_concurrency (requests per container, fractions allowed) as the whole
    number ketch's autoscaler aims for."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise exception.InvalidError(f"target_concurrency must be a number ≥ 0, not {value!r}")
    return max(1, math.ceil(value))

