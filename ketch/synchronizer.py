"""Async written once, a blocking form generated: every SDK call runs on one background loop.

The SDK's I/O (and the embedded control plane) lives on an event loop in a daemon thread.
`aio` makes an ``async def`` method callable both ways: ``obj.method(...)`` blocks,
``await obj.method.aio(...)`` does not. `aio_iter` does the same for async generators that
yield lists, so a blocking iteration crosses threads once per list, not once per item.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import exception

if TYPE_CHECKING:  # asyncio is imported on first use: containers that never call out skip it
    import asyncio

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    import asyncio

    global _loop
    with _lock:
        if _loop is None:
            new_loop = asyncio.new_event_loop()
            thread = threading.Thread(target=new_loop.run_forever, name="ketch", daemon=True)
            thread.start()
            _loop = new_loop
    return _loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the SDK loop and block until it is done."""
    import asyncio

    target = loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is target:
        coro.close()
        raise exception.InvalidError("a blocking ketch call was made on ketch's own event loop")
    return asyncio.run_coroutine_threadsafe(coro, target).result()


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the SDK loop from any event loop."""
    import asyncio

    target = loop()
    if asyncio.get_running_loop() is target:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, target))


def iterate(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator living on the SDK loop from blocking code."""
    try:
        while True:
            try:
                yield run(agen.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            run(aclose())


async def aiterate(agen: AsyncIterator[T]) -> AsyncIterator[T]:
    """Drive an async iterator living on the SDK loop from another event loop."""
    try:
        while True:
            try:
                yield await run_async(agen.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(agen, "aclose", None)
        if aclose is not None:
            await run_async(aclose())


class _Bound(Generic[T]):
    def __init__(self, fn: Callable[..., Any], obj: Any, is_iter: bool) -> None:
        self._fn = fn
        self._obj = obj
        self._is_iter = is_iter
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._fn(self._obj, *args, **kwargs)
        return _flatten(iterate(result)) if self._is_iter else run(result)

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        result = self._fn(self._obj, *args, **kwargs)
        return _aflatten(aiterate(result)) if self._is_iter else run_async(result)


def _flatten(batches: Iterator[list[Any]]) -> Iterator[Any]:
    for batch in batches:
        yield from batch


async def _aflatten(batches: AsyncIterator[list[Any]]) -> AsyncIterator[Any]:
    async for batch in batches:
        for item in batch:
            yield item


class aio(Generic[T]):
    """Decorate an ``async def`` method: blocking when called, awaitable through ``.aio``."""

    _is_iter = False

    def __init__(self, fn: Callable[..., Awaitable[T]] | Callable[..., AsyncIterator[Any]]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return _Bound(self._fn, obj, self._is_iter)


class aio_iter(aio[Any]):
    """Decorate an ``async def`` generator method that yields lists: calling it gives an
    iterator over the lists' items, and ``.aio`` an async one."""

    _is_iter = True


class aio_iter_function:
    """Wrap a module-level ``async def`` generator that yields lists: calling it gives an
    iterator over the lists' items, and ``.aio`` an async one."""

    def __init__(self, fn: Callable[..., AsyncIterator[list[Any]]]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return _flatten(iterate(self._fn(*args, **kwargs)))

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        return _aflatten(aiterate(self._fn(*args, **kwargs)))


class aio_function(Generic[T]):
    """Wrap a module-level ``async def``: blocking when called, awaitable through ``.aio``."""

    def __init__(self, fn: Callable[..., Awaitable[T]]) -> None:
        self._fn = fn
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        return run(self._fn(*args, **kwargs))  # type: ignore[arg-type]

    def aio(self, *args: Any, **kwargs: Any) -> Awaitable[T]:
        return run_async(self._fn(*args, **kwargs))  # type: ignore[arg-type]
