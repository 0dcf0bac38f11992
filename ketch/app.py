"""`App`: the functions, classes and entrypoints that run together.

Example::

    app = ketch.App("hello")

    @app.function()
    def square(x):
        return x * x

    with app.run():
        print(square.remote(4))
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import config, exception, output, synchronizer
from .client import CURRENT, Client, get_client, given, send_blocking, use
from .cloud_bucket_mount import CloudBucketMount, bucket_wires
from .cls import Cls
from .definition import build, check_importable, finalize
from .definition import snapshot as take_snapshot
from .functions import Function, describe
from .image import resolve_secrets
from .logs import LogsManager
from .options import FUNCTION_KEYWORDS, check_mount_paths, reject_unknown, validate
from .partial import Flag, PartialFunction, marked
from .protocol import client as protocol
from .protocol.definition import FunctionDefinition, replace
from .secret import Secret, ids_for_run
from .web import default_label

if TYPE_CHECKING:
    import asyncio

    from .app_server import Server


class LocalEntrypoint:
    """A function run on the caller's machine by ``ketch run``; see `App.local_entrypoint`."""

    def __init__(self, app: App, raw_f: Callable[..., Any], name: str) -> None:
        self.app = app
        self.raw_f = raw_f
        self.name = name
        self.__doc__ = raw_f.__doc__

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)


class App:
    def __init__(
        self, name: str | None = None, *, image: Any = None, secrets: list[Any] | None = None,
        volumes: dict[str, Any] | None = None, include_source: bool | None = None,
        description: str | None = None, tags: dict[str, str] | None = None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise exception.InvalidError(f"App name must be a string, not {name!r}")
        validate({"image": image, "volumes": volumes, "secrets": secrets})
        self.name = name
        self.description = description or name or ""
        self.image = image
        self.secrets = list(secrets or [])
        self.volumes = dict(volumes or {})
        self._secrets_of: dict[str, list[Secret]] = {}  # tag -> the app's, then its own
        self.tags = dict(tags or {})
        self._functions: dict[str, Function] = {}
        self._classes: dict[str, Cls] = {}
        self._variants: list[Function] = []  # with_options variants of its functions
        self._entrypoints: dict[str, LocalEntrypoint] = {}
        self.app_id: str | None = None
        self.environment_name = ""  # "": KETCH_ENVIRONMENT's, else the control plane's choice

    # -- registration --------------------------------------------------------------------------

    @property
    def registered_functions(self) -> dict[str, Function]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, LocalEntrypoint]:
        return dict(self._entrypoints)

    def function(self, _warn_parentheses_missing: Any = None, **kwargs: Any) -> Callable[[Any], Function]:
        """Register a function to run in containers; takes Modal's ``@app.function`` keywords."""
        _parentheses(_warn_parentheses_missing, "function")
        reject_unknown({k: v for k, v in kwargs.items() if k not in FUNCTION_KEYWORDS},
                       "@app.function()", FUNCTION_KEYWORDS)
        options = validate(kwargs)

        def wrap(f: Any) -> Function:
            raw, options_here = _unwrap(f, dict(options))
            if isinstance(raw, (Function, Cls)) or inspect.isclass(raw):
                raise exception.InvalidError("@app.function() decorates functions; use @app.cls() for classes")
            if not callable(raw):
                raise exception.InvalidError(f"@app.function() needs a function, not {raw!r}")
            check_importable(raw, options_here["serialized"], "function")
            tag = kwargs.get("name") or raw.__name__
            if "web" in options_here:
                web = options_here["web"]
                web["label"] = web.get("label") or default_label(self.name or "app", tag)
            is_gen, is_async = describe(raw)
            if kwargs.get("is_generator") is not None:
                is_gen = bool(kwargs["is_generator"])
            definition = build(raw, tag=tag, app_name=self.name or "", options=options_here,
                               is_class=False, methods={}, is_generator=is_gen, is_async=is_async,
                               image=self._image_steps(kwargs.get("image")))
            return self._add(tag, raw, definition, kwargs)

        return wrap

    def cls(self, _warn_parentheses_missing: Any = None, **kwargs: Any) -> Callable[[type], Cls]:
        """Register a class whose ``@ketch.method`` methods run in containers."""
        _parentheses(_warn_parentheses_missing, "cls")
        reject_unknown({k: v for k, v in kwargs.items() if k not in FUNCTION_KEYWORDS},
                       "@app.cls()", FUNCTION_KEYWORDS)
        options = validate(kwargs)

        def wrap(user_cls: type) -> Cls:
            if not inspect.isclass(user_cls):
                raise exception.InvalidError("@app.cls() decorates classes; use @app.function()")
            check_importable(user_cls, options["serialized"], "class")
            opts = dict(options)
            opts.update({k: v for k, v in (getattr(user_cls, "__ketch_concurrent__", None) or {}).items()})
            check_batched(user_cls)
            methods = {}
            for name, partial in marked(user_cls, Flag.METHOD).items():
                is_gen, is_async = describe(partial.raw_f)
                if partial.params.get("is_generator") is not None:
                    is_gen = bool(partial.params["is_generator"])
                methods[name] = {"is_generator": is_gen, "is_async": is_async}
                if partial.flags & Flag.BATCHED:
                    opts["batch_max_size"] = partial.params["max_batch_size"]
                    opts["batch_wait_ms"] = partial.params["wait_ms"]
            web_methods = {name: dict(partial.params["web"])
                           for name, partial in marked(user_cls, Flag.WEB).items()}
            served = getattr(user_cls, "__ketch_http_server__", None)  # experimental.http_server
            if served and (methods or web_methods):
                raise exception.InvalidError(
                    f"{user_cls.__name__} is an http_server: its @enter starts the server, and "
                    "it may have no @ketch.method() or web endpoint methods")
            if not methods and not web_methods and not served:
                raise exception.InvalidError(
                    f"{user_cls.__name__} has no methods marked with @ketch.method() or a web "
                    "endpoint decorator"
                )
            tag = kwargs.get("name") or user_cls.__name__
            for name, web in web_methods.items():
                web["label"] = web.get("label") or default_label(self.name or "app", f"{tag}-{name}")
            if web_methods:
                opts["web_methods"] = web_methods
            if served:
                opts["web"] = {**served, "label": default_label(self.name or "app", tag)}
            definition = build(user_cls, tag=tag, app_name=self.name or "", options=opts,
                               is_class=True, methods=methods, is_generator=False,
                               is_async=any(m["is_async"] for m in methods.values()),
                               image=self._image_steps(kwargs.get("image")))
            service = self._add(tag, user_cls, definition, kwargs)
            cls = Cls(self, user_cls, service)
            self._classes[tag] = cls
            return cls

        return wrap

    def server(self, _warn_parentheses_missing: Any = None, *, port: int = 8000,
               startup_timeout: int = 30, unauthenticated: bool = False,
               routing_region: str = "us-east", **kwargs: Any) -> Callable[[Any], Server]:
        """Register a class whose ``@ketch.enter()`` starts an HTTP server on ``port``,
        served through the gateway (Modal's ``@app.server()``; see `ketch.app_server`)."""
        from .app_server import check_keywords, decorate

        _parentheses(_warn_parentheses_missing, "server")
        kwargs.update(port=port, startup_timeout=startup_timeout,
                      unauthenticated=unauthenticated, routing_region=routing_region)
        check_keywords(kwargs)
        return lambda user_cls: decorate(self, user_cls, kwargs)

    def local_entrypoint(self, _warn_parentheses_missing: Any = None, *,
                         name: str | None = None) -> Callable[[Callable[..., Any]], LocalEntrypoint]:
        """Register a function that ``ketch run`` calls here, with the app running."""
        _parentheses(_warn_parentheses_missing, "local_entrypoint")

        def wrap(f: Callable[..., Any]) -> LocalEntrypoint:
            entrypoint = LocalEntrypoint(self, f, name or f.__name__)
            self._entrypoints[entrypoint.name] = entrypoint
            return entrypoint

        return wrap

    def include(self, other: App) -> App:
        """Add another app's functions and classes to this one."""
        for tag, function in other._functions.items():
            self._register(tag, function, other._classes.get(tag))
            self._secrets_of[tag] = other._secrets_of.get(tag, [])
        return self

    @property
    def logs(self) -> LogsManager:
        """The lines of every container of this running (or looked-up) app: ``fetch``,
        ``tail``, ``stream`` (until the app stops)."""
        async def object_id() -> str:
            if self.app_id is None:
                raise exception.InvalidError(
                    f"app {self.name!r} is not running here: read its logs inside `with "
                    "app.run():`, or from ketch.App.lookup(name) for a deployed app")
            return self.app_id

        return LogsManager(object_id, None)

    def _add(self, tag: str, raw: Any, definition: FunctionDefinition,
             kwargs: dict[str, Any]) -> Function:
        """Register the function (or a class's service function) made of ``raw`` by a
        decorator with ``kwargs``: its mounts and secrets, the app's with its own."""
        function = Function(self, tag, raw, definition)
        function.mounts, function.shared = self._mounts(kwargs)
        self._register(tag, function)
        self._secrets_of[tag] = [*self.secrets, *(kwargs.get("secrets") or [])]
        return function

    def _mounts(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """A function's mounts, the app's with its own: volumes and buckets by path, and
        network file systems by path; checked together (no path inside another)."""
        mounts = {**self.volumes, **(kwargs.get("volumes") or {}),
                  **(kwargs.get("cloud_bucket_mounts") or {})}
        shared = dict(kwargs.get("network_file_systems") or {})
        check_mount_paths(kwargs.get("runtime"), mounts, shared)
        return mounts, shared

    def _image_steps(self, image: Any) -> list[dict[str, Any]] | None:
        chosen = image if image is not None else self.image
        return chosen.to_wire() if chosen is not None else None

    def _register(self, tag: str, function: Function, cls: Cls | None = None) -> None:
        if tag in self._functions and self._functions[tag].raw_user_object is not function.raw_user_object:
            raise exception.InvalidError(
                f"app {self.name!r} already has a function named {tag!r}; give one of them "
                "another name with name=..."
            )
        self._functions[tag] = function
        if cls is not None:
            self._classes[tag] = cls

    # -- running -------------------------------------------------------------------------------

    def run(self, *, name: str | None = None, client: Any = None,
            show_progress: bool | None = None, detach: bool = False,
            interactive: bool = False, environment_name: str | None = None) -> _RunContext:
        """Run the app for the length of a ``with`` (or ``async with``) block; with
        ``client``, the app and its functions' calls go through that connection."""
        if name:
            self.name = name
        if environment_name:
            self.environment_name = environment_name
        return _RunContext(self, detach, given(client))

    async def _start(self, snapshot: bool = False, detach: bool = False) -> None:
        """Create the app and its functions; ``snapshot`` sends the modules' source along
        (for deploys, whose versions must not change when the files do). Unless ``detach``,
        the server stops the app if this client's connection closes before the client does."""
        if self.app_id is not None:
            raise exception.InvalidError(f"app {self.name!r} is already running")
        client = await get_client()
        environment = self.environment_name or config.environment()
        secret_ids = await ids_for_run(client, self._secrets_of,  # a missing one fails here
                                       environment)
        answer = await client.request(protocol.AppCreate(
            name=self.name or "", description=self.description, environment=environment,
            detach=detach))
        self.app_id = answer.app_id
        for function in self._functions.values():
            definition = finalize(function.definition, function.raw_user_object)
            if snapshot:
                definition = take_snapshot(definition)
            definition = replace(
                definition, volumes=await _volume_ids(function.mounts),
                network_file_systems=await _volume_ids(function.shared),
                cloud_bucket_mounts=await bucket_wires(client, function.mounts, environment),
                secrets=secret_ids.get(function.tag, []),
                image=await resolve_secrets(definition.image, client, environment))
            created = await client.request(protocol.FunctionCreate(app_id=self.app_id,
                                                                   definition=definition))
            function.hydrate_from(created.function_id)
            function.sent_definition = definition
        for variant in self._variants:  # those made before the app ran, at module level
            if variant._variant_of is not None and variant._variant_of.object_id is not None:
                variant.hydrate_from(await variant._variant_of._create_variant(
                    client, self.app_id, variant))

    def _add_variant(self, variant: Function) -> None:
        """A ``with_options`` variant, named by its function and the order it was made in, so
        that the container, importing the same module, finds it among the app's functions."""
        parent = variant._variant_of
        made = sum(1 for v in self._variants if v._variant_of is parent)
        variant.variant_name = f"{variant.tag}#variant{made}"
        self._variants.append(variant)

    def _in_container(self) -> bool:
        import os

        return bool(os.environ.get("KETCH_CONTAINER_ID"))

    @synchronizer.aio
    async def deploy(self, *, name: str | None = None, environment_name: str | None = None,
                     tag: str = "", client: Any = None) -> App:
        """Deploy the app to the ketch server, as ``ketch deploy`` does: its current code
        becomes the deployed version, found by ``Function.from_name``, whose schedules and web
        endpoints outlive this program. Its functions' handles call the deployed ones."""
        use(client)
        if name:
            self.name = name
        if environment_name:
            self.environment_name = environment_name
        if not self.name:
            raise exception.InvalidError(
                "a deployed app needs a name: ketch.App('name'), or app.deploy(name='name')")
        connection = await get_client()
        if connection.embedded:
            raise exception.InvalidError(
                "app.deploy() needs a running ketch server: start one with `ketch server` (on "
                "this machine it is then found by itself), or set KETCH_SERVER=host:port")
        await self._start(snapshot=True)
        await connection.request(protocol.AppDeploy(app_id=self.app_id or ""))
        return self

    async def _stop(self) -> None:
        if self.app_id is None:
            return
        client = await get_client()
        app_id, self.app_id = self.app_id, None
        await client.request(protocol.AppStop(app_id=app_id))
        for function in [*self._functions.values(), *self._variants]:
            function.hydrate_from(None)  # type: ignore[arg-type]

    @staticmethod
    def lookup(name: str, *, create_if_missing: bool = False, environment_name: str | None = None,
               client: Any = None) -> App:
        """The running or deployed app of that name (its sandboxes, say); with
        ``create_if_missing=True`` a new empty one when there is none, which lives as long as
        its control plane (for sandboxes of a program that has no app of its own)."""
        app = App(name)
        app.environment_name = environment_name or ""
        request = protocol.AppLookup(name=name, create_if_missing=create_if_missing,
                                     environment=environment_name or config.environment())
        chosen = given(client)
        answer = (synchronizer.run(chosen.request(request)) if chosen is not None
                  else send_blocking(request))
        app.app_id = answer.app_id
        return app

    def __repr__(self) -> str:
        return f"App({self.name!r})"


class _RunContext:
    def __init__(self, app: App, detach: bool, client: Client | None = None) -> None:
        self.app = app
        self.detach = detach
        self.client = client
        self._logs: asyncio.Task[None] | None = None

    async def _enter(self) -> App:
        import asyncio

        if self.client is not None:
            CURRENT.set(self.client)  # for this task: the app's start and its log watcher
            for function in [*self.app._functions.values(), *self.app._variants]:
                function._client = self.client
        try:
            await self.app._start(detach=self.detach)
        except BaseException:
            await self.app._stop()  # a half-started app must not keep running
            raise
        if output.is_enabled():
            self._logs = asyncio.ensure_future(follow_logs(self.app.app_id or ""))
        return self.app

    async def _exit(self) -> None:
        import asyncio

        if self.client is not None:
            CURRENT.set(self.client)
        client = await get_client()
        if self.detach and not client.embedded:
            self.app.app_id = None  # it keeps running on the server
            if self._logs is not None:
                self._logs.cancel()
            return
        await self.app._stop()
        if self._logs is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._logs, 5.0)

    def __enter__(self) -> App:
        return synchronizer.run(self._enter())

    def __exit__(self, *exc: Any) -> None:
        synchronizer.run(self._exit())

    async def __aenter__(self) -> App:
        return await synchronizer.run_async(self._enter())

    async def __aexit__(self, *exc: Any) -> None:
        await synchronizer.run_async(self._exit())


async def follow_logs(app_id: str) -> None:
    client = await get_client()
    cursor = 0
    while True:
        answer = await client.request(protocol.LogsGet(app_id=app_id, cursor=cursor, timeout=5.0))
        cursor = answer.cursor
        for line in answer.lines:
            output.show_line(line.function, line.container_id, line.stream, line.text)
        if answer.closed and not answer.lines:
            return


async def _volume_ids(mounts: dict[str, Any]) -> dict[str, str]:
    """Mount path -> volume (or network file system) id, finding or creating named ones now."""
    ids = {}
    for path, volume in mounts.items():
        if not isinstance(volume, CloudBucketMount):  # buckets are mounted by the worker
            _, ids[path] = await volume._resolve()
    return ids


def check_batched(user_cls: type) -> None:
    """A class's batched method must be its only remote method: its containers gather every
    input into batches, so inputs of another method would be called as a batch of this one.
    """
    batched = marked(user_cls, Flag.BATCHED)
    if len(batched) > 1:
        raise exception.InvalidError(
            f"{user_cls.__name__} can only have one @ketch.batched method, not "
            f"{', '.join(batched)}; put the others in classes of their own"
        )
    others = [name for name in marked(user_cls, Flag.METHOD) if name not in batched]
    if batched and others:
        raise exception.InvalidError(
            f"{user_cls.__name__} has a @ketch.batched method, {next(iter(batched))}, so it "
            f"cannot have other remote methods ({', '.join(others)}); move them to another class"
        )


def _parentheses(value: Any, decorator: str) -> None:
    if value is not None:
        raise exception.InvalidError(
            f"Did you forget parentheses? Suggestion: `@app.{decorator}()`"
        )


def _unwrap(f: Any, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The raw function under ``@ketch.concurrent``/``@ketch.batched``, and their options."""
    if not isinstance(f, PartialFunction):
        return f, options
    if f.flags & Flag.CONCURRENT:
        options["max_inputs"] = f.params["max_inputs"]
        options["target_inputs"] = f.params.get("target_inputs")
    if f.flags & Flag.BATCHED:
        options["batch_max_size"] = f.params["max_batch_size"]
        options["batch_wait_ms"] = f.params["wait_ms"]
    if f.flags & Flag.WEB:
        options["web"] = dict(f.params["web"])
    return f.raw_f, options
