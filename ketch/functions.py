"""`Function`: a handle on a decorated function, callable remotely, locally or over inputs.

``modal.functions`` resolves here, so it also exports `FunctionCall` and `gather`.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from . import config, exception
from .client import Client, get_client, given
from .definition import typed_options
from .function_call import FunctionCall, gather
from .invocation import input_record, outcome, pack_args
from .logs import LogsManager
from .protocol import client as protocol
from .protocol.container import Status
from .protocol.definition import FunctionDefinition, replace
from .synchronizer import aio, aio_iter

if TYPE_CHECKING:
    from .app import App

__all__ = ["Function", "FunctionCall", "gather"]


class Function:
    """A function registered on an app with ``@app.function``.

    Example::

        @app.function()
        def square(x):
            return x * x

        square.remote(4)            # 16, run in a container
        list(square.map([1, 2]))    # [1, 4]
    """

    def __init__(
        self, app: App | None, tag: str, raw_f: Any, definition: FunctionDefinition,
        *, method: str | None = None, service: Function | None = None,
    ) -> None:
        self.app = app
        self.tag = tag
        self.raw_user_object = raw_f
        self.definition = definition
        self._method = method
        self._service = service  # the class's service function, for methods
        self._object_id: str | None = None
        self._params: bytes | None = None
        self._bound: dict[tuple[str, bytes], str] = {}  # for a class: (id, params) -> bound id
        self._variant_of: Function | None = None
        # for from_name: (app name, tag, environment; "" for KETCH_ENVIRONMENT's or the caller's)
        self._deployed: tuple[str, str, str] | None = None
        self.variant_name: str | None = None  # a with_options variant's name in its app
        self.sent_definition: FunctionDefinition | None = None  # as the running app sent it
        self.mounts: dict[str, Any] = {}  # mount path -> ketch.Volume, set by the app
        self.shared: dict[str, Any] = {}  # mount path -> ketch.NetworkFileSystem
        self._client: Client | None = service._client if service is not None else None
        self.__doc__ = getattr(raw_f, "__doc__", None)

    # -- identity ------------------------------------------------------------------------------

    @property
    def object_id(self) -> str | None:
        return self._object_id

    @property
    def logs(self) -> LogsManager:
        """Its containers' log lines: ``fetch``, ``tail``, ``stream`` (`ketch.logs`)."""
        async def object_id() -> str:
            return (await (self._service or self)._resolve())[1]  # a method logs as its class

        return LogsManager(object_id, self._client)

    def get_raw_f(self) -> Callable[..., Any]:
        return self.raw_user_object  # type: ignore[no-any-return]

    @property
    def is_generator(self) -> bool:
        if self._method is not None:
            definition = (self._service or self).definition  # as resolved, for from_name
            return definition.methods[self._method].is_generator
        return self.definition.is_generator

    def hydrate_from(self, function_id: str) -> None:
        self._object_id = function_id

    async def _resolve(self) -> tuple[Client, str]:
        client = self._client or await get_client()
        if self._service is not None:
            return client, await self._service._bound_id(client, self._params)
        if self._object_id is None and self._deployed is not None:
            app_name, tag, environment = self._deployed
            answer = await client.request(protocol.FunctionLookup(
                app_name=app_name, tag=tag, environment=environment or config.environment()))
            self._object_id, self.definition = answer.function_id, answer.definition
        if self._object_id is None and self._variant_of is not None:
            parent_client, _ = await self._variant_of._resolve()
            app_id = self._variant_of.app.app_id if self._variant_of.app else None
            if app_id is None:
                raise exception.InvalidError(f"{self.tag}: the app is not running")
            if self.app is not None and self.app._in_container():
                raise exception.InvalidError(
                    f"{self.tag}.with_options(...) was made inside a container, which may not "
                    "create functions: make the variant at the top level of the module, so it "
                    "is created with the app")
            self._object_id = await self._variant_of._create_variant(parent_client, app_id, self)
        if self._object_id is None:
            raise exception.InvalidError(
                f"{self.tag}.remote() was called outside a running app. Run the program with "
                "`ketch run FILE`, or wrap the calls in `with app.run():`."
            )
        return client, self._object_id

    async def _bound_id(self, client: Client, params: bytes | None) -> str:
        """The id of this class bound to ``params``; asked of the control plane once per
        parameter set and app run, not on every method call."""
        _, function_id = await self._resolve()
        if params is None:
            return function_id
        key = (function_id, params)
        if key not in self._bound:
            answer = await client.request(protocol.FunctionBind(function_id=function_id,
                                                                params=params))
            self._bound[key] = str(answer.function_id)
        return self._bound[key]

    # -- calls ---------------------------------------------------------------------------------

    async def _check(self, want_generator: bool, verb: str) -> None:
        await self._resolve()  # a handle from from_name learns what it is here
        if self.is_generator and not want_generator:
            raise exception.InvalidError(
                f"{self.tag} is a generator function: use .remote_gen() instead of .{verb}()"
            )
        if want_generator and not self.is_generator:
            raise exception.InvalidError(
                f"{self.tag} is not a generator function: use .remote() instead of .{verb}()"
            )

    async def _start(self, kind: protocol.CallKind, args: tuple[Any, ...], kwargs: dict[str, Any],
                     wait: float | None = 0.0) -> tuple[Client, protocol.CallStarted]:
        """Start a call with one input; its answer holds what came out within ``wait``."""
        payload = pack_args(args, kwargs)
        client, function_id = await self._resolve()
        record = await input_record(client, 0, self._method, payload, self.environment_name)
        answer = await client.request(protocol.CallCreate(function_id=function_id, kind=kind,
                                                          records=[record], timeout=wait))
        return client, answer

    @aio
    async def remote(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function in a container and return its result."""
        await self._check(False, "remote")
        client, started = await self._start("remote", args, kwargs, wait=None)
        answer: protocol.CallStarted | protocol.Outputs = started
        while not answer.outputs:  # in a round trip of its own only when the first had none
            answer = await client.request(protocol.OutputsGet(call_id=started.call_id,
                                                              cursor=0))
        return await outcome(client, answer.outputs[0])

    @aio_iter
    async def remote_gen(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Run a generator function in a container, yielding its values as they come."""
        await self._check(True, "remote_gen")
        client, started = await self._start("remote", args, kwargs, wait=None)
        answer: protocol.CallStarted | protocol.Outputs = started
        while True:
            if not answer.outputs and not answer.done:
                answer = await client.request(protocol.OutputsGet(call_id=started.call_id,
                                                                  cursor=answer.cursor))
                continue
            items = []
            for record in answer.outputs:
                if record.status == Status.GEN_DONE:
                    break
                items.append(await outcome(client, record))
            if items:
                yield items
            if answer.done or len(items) < len(answer.outputs):
                return
            answer = await client.request(protocol.OutputsGet(call_id=started.call_id,
                                                              cursor=answer.cursor))

    @aio
    async def spawn(self, *args: Any, **kwargs: Any) -> FunctionCall:
        """Start the function and return a `FunctionCall` without waiting for it."""
        await self._check(False, "spawn")
        _, started = await self._start("spawn", args, kwargs)
        return FunctionCall(started.call_id)

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function here, in this process."""
        return self.raw_user_object(*args, **kwargs)

    @aio_iter
    async def map(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True, return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """Run the function over inputs in parallel, yielding results (in order by default)."""
        await self._check(False, "map")
        if not input_iterators:
            raise exception.InvalidError("map() needs at least one iterable of inputs")
        from .mapping import map_outputs

        client, function_id = await self._resolve()
        async for value in map_outputs(
            client, function_id, self._method, zip(*input_iterators), kwargs or {},
            self.environment_name, order_outputs=order_outputs, return_exceptions=return_exceptions,
            wrap=wrap_returned_exceptions,
        ):
            yield value  # a list of results

    @aio_iter
    async def starmap(
        self, input_iterator: Iterable[tuple[Any, ...]], *, kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True, return_exceptions: bool = False,
        wrap_returned_exceptions: bool = True,
    ) -> AsyncIterator[Any]:
        """Like `map`, with each input a tuple of positional arguments."""
        await self._check(False, "starmap")
        from .mapping import map_outputs

        client, function_id = await self._resolve()
        async for value in map_outputs(
            client, function_id, self._method, (tuple(a) for a in input_iterator), kwargs or {},
            self.environment_name, order_outputs=order_outputs, return_exceptions=return_exceptions,
            wrap=wrap_returned_exceptions,
        ):
            yield value  # a list of results

    @aio
    async def for_each(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None,
        ignore_exceptions: bool = False,
    ) -> None:
        """Run the function over inputs for their side effects, discarding results."""
        await self._check(False, "for_each")
        from .mapping import map_outputs

        client, function_id = await self._resolve()
        async for _ in map_outputs(
            client, function_id, self._method, zip(*input_iterators), kwargs or {},
            self.environment_name, order_outputs=False, return_exceptions=ignore_exceptions, wrap=False,
        ):
            pass

    @aio
    async def spawn_map(
        self, *input_iterators: Iterable[Any], kwargs: dict[str, Any] | None = None
    ) -> FunctionCall:
        """Start the function over inputs and return at once; results stay retrievable."""
        await self._check(False, "spawn_map")
        from .mapping import start_call

        client, function_id = await self._resolve()
        call_id, feeding, feeder = await start_call(
            client, function_id, "spawn", self._method, zip(*input_iterators), kwargs or {},
            self.environment_name)
        await feeding
        return FunctionCall(call_id, feeder.count)

    @classmethod
    def from_name(cls, app_name: str, name: str, *, environment_name: str | None = None,
                  client: Any = None) -> Function:
        """A deployed app's function, found when first called.

        Example::

            square = ketch.Function.from_name("hello", "square")
            square.remote(4)
        """
        handle = cls(None, name, None, FunctionDefinition(name=name))
        handle._deployed = (app_name, name, environment_name or "")
        handle._client = given(client)
        return handle

    @property
    def environment_name(self) -> str:
        """The environment its app runs in, as far as this handle knows ("": the caller's)."""
        if self._service is not None:
            return self._service.environment_name
        if self._deployed is not None:
            return self._deployed[2] or config.environment()
        return (self.app.environment_name if self.app is not None else "") \
            or config.environment()

    @aio
    async def update_autoscaler(
        self, *, min_containers: int | None = None, max_containers: int | None = None,
        buffer_containers: int | None = None, scaledown_window: int | None = None,
    ) -> None:
        """Change this function's scaling now (until the app is deployed again)."""
        from .options import validate

        given = {"min_containers": min_containers, "max_containers": max_containers,
                 "buffer_containers": buffer_containers, "scaledown_window": scaledown_window}
        given = {k: v for k, v in given.items() if v is not None}
        checked = validate(given)
        client, function_id = await self._resolve()
        settings = {k: checked[k] for k in given}
        await client.request(protocol.FunctionUpdateAutoscaler(
            function_id=function_id, settings=protocol.AutoscalerSettings(**settings)))

    @aio
    async def get_web_url(self) -> str:
        """The URL of this web endpoint on the gateway."""
        client, function_id = await self._resolve()
        if self._service is not None:  # a class's web method: the class's unbound function
            function_id = (await self._service._resolve())[1]
        answer = await client.request(protocol.WebUrl(function_id=function_id,
                                                      method=self._method))
        return str(answer.url)

    @aio
    async def _web_urls(self) -> dict[str, str]:
        """Each web endpoint this function serves and its URL, by name: its tag, and for a
        class each web method as ``Class.method`` (what ``ketch serve`` and ``deploy`` list)."""
        options = self.definition.options
        if not options.serves_web:
            return {}
        client, function_id = await self._resolve()
        named: dict[str, str | None] = {self.tag: None} if options.web else {}
        named.update({f"{self.tag}.{m}": m for m in options.web_methods or {}})
        return {name: str((await client.request(protocol.WebUrl(function_id=function_id,
                                                                method=method))).url)
                for name, method in named.items()}

    # -- variants ------------------------------------------------------------------------------

    def with_options(self, **options: Any) -> Function:
        """A variant of this function with other resources, retries, timeout or scaling."""
        from .options import FUNCTION_KEYWORDS, reject_unknown, validate

        known = {k: options.pop(k) for k in list(options) if k in FUNCTION_KEYWORDS}
        reject_unknown(options, "with_options()", FUNCTION_KEYWORDS)
        changed = {k: v for k, v in validate(known).items() if k in _given(known)}
        merged = typed_options({**msgspec.to_builtins(self.definition.options), **changed})
        variant = Function(self.app, self.tag, self.raw_user_object,
                           replace(self.definition, options=merged), method=self._method)
        variant._variant_of = self
        variant.mounts = {**self.mounts, **(known.get("volumes") or {})}
        variant.shared = dict(self.shared)
        if self.app is not None:  # made with the app's functions, so containers find it too
            self.app._add_variant(variant)
        return variant

    async def _create_variant(self, client: Client, app_id: str, variant: Function) -> str:
        """Create ``variant`` of this (created) function in the app: the id."""
        from .app import _volume_ids
        from .cloud_bucket_mount import bucket_wires

        parent = self.sent_definition or self.definition
        # the function's schedule and web endpoint stay its own: a variant is for calls
        options = replace(variant.definition.options, schedule=None, web=None, web_methods=None)
        definition = replace(parent, options=options,  # the function's secrets
                             volumes=await _volume_ids(variant.mounts),
                             cloud_bucket_mounts=await bucket_wires(client, variant.mounts,
                                                                    self.environment_name),
                             name=variant.variant_name or parent.name)
        answer = await client.request(protocol.FunctionCreate(app_id=app_id,
                                                              definition=definition))
        return str(answer.function_id)

    def __repr__(self) -> str:
        return f"Function({self.tag!r})"


def _given(known: dict[str, Any]) -> set[str]:
    """Option names that ``known`` sets (so with_options leaves the rest alone)."""
    names = set(known)
    aliases = {"concurrency_limit": "max_containers", "keep_warm": "min_containers",
               "container_idle_timeout": "scaledown_window"}
    return names | {aliases[k] for k in known if k in aliases}


def describe(raw_f: Any) -> tuple[bool, bool]:
    """(is_generator, is_async) of a function."""
    is_gen = inspect.isgeneratorfunction(raw_f) or inspect.isasyncgenfunction(raw_f)
    is_async = inspect.iscoroutinefunction(raw_f) or inspect.isasyncgenfunction(raw_f)
    return is_gen, is_async
