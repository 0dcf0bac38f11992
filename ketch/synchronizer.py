"""Async written once, a blocking form generated: every SDK call runs on one background loop.

The SDK's I/O (and the embedded control plane) lives on an event loop in a daemon thread.
`aio` makes an ``async def`` method callable both ways: ``obj.method(...)`` blocks,
``await obj.method.aio(...)`` does not. `aio_iter` does the same for async generators that
yield lists, so a blocking iteration crosses threads once per list, not once per item.

No blocking call waits on a loop that can no longer run: once the interpreter is finalizing
its daemon threads are frozen, so calls then raise `ClientClosed`, and an iterator left
unfinished by the program is dropped at exit rather than closed on the loop.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from . import exception

if TYPE_CHECKING:  # asyncio is imported on first use: containers that never call out skip it
    import asyncio

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None
_lock = threading.Lock()

# How often a blocking call looks up from its wait to check that the loop still runs.
_CHECK_S = 1.0


def loop() -> asyncio.AbstractEventLoop:
    import asyncio

    global _loop, _thread
    with _lock:
        if _loop is None:
            new_loop = asyncio.new_event_loop()
            thread = threading.Thread(target=new_loop.run_forever, name="ketch", daemon=True)
            thread.start()
            _loop, _thread = new_loop, thread
    return _loop


def _loop_stopped() -> bool:
    """Whether the SDK loop can no longer run what is sent to it: its thread ended, or the
    interpreter is finalizing, which freezes daemon threads for good."""
    return sys.is_finalizing() or (_thread is not None and not _thread.is_alive())


def _closed_error() -> exception.ClientClosed:
    return exception.ClientClosed(
        "ketch's event loop has stopped (the interpreter is exiting), so this call cannot run; "
        "make ketch calls before the program ends, e.g. finish or close iterators first"
    )


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the SDK loop and block until it is done.

    Example::

        info = synchronizer.run(send(request))
    """
    target = loop()
    if _on(target):
        coro.close()
        raise exception.InvalidError("a blocking ketch call was made on ketch's own event loop")
    if _loop_stopped():
        coro.close()
        raise _closed_error()
    # A bare lock released by the task's end, rather than run_coroutine_threadsafe's chained
    # futures: every blocking call crosses here twice, and this halves what the crossing costs.
    done = threading.Lock()
    done.acquire()
    ended: list[asyncio.Future[T] | BaseException] = []

    def end(outcome: asyncio.Future[T] | BaseException) -> None:
        ended.append(outcome)
        done.release()

    def start() -> None:
        try:
            target.create_task(coro).add_done_callback(end)
        except BaseException as exc:
            end(exc)

    target.call_soon_threadsafe(start)
    # wait in slices: a loop that stops meanwhile would otherwise leave this waiting forever
    while not done.acquire(timeout=_CHECK_S):
        if _loop_stopped():
            raise _closed_error()
    if isinstance(ended[0], BaseException):
        raise ended[0]
    return ended[0].result()


async def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the SDK loop from any event loop."""
    import asyncio

    target = loop()
    if asyncio.get_running_loop() is target:
        return await coro
    if _loop_stopped():
        coro.close()
        raise _closed_error()
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, target))


def _on(target: asyncio.AbstractEventLoop) -> bool:
    """Whether this code runs on the loop ``target`` (a blocking wait there would never end)."""
    import asyncio

    try:
        return asyncio.get_running_loop() is target
    except RuntimeError:
        return False


def iterate(agen: AsyncIterator[T]) -> Iterator[T]:
    """Drive an async iterator living on the SDK loop from blocking code."""
    try:
        while True:
            try:
                yield run(agen.__anext__())  # type: ignore[arg-type]
            except StopAsyncIteration:
                return
    finally:
        _close_unfinished(agen)


def _close_unfinished(agen: AsyncIterator[Any]) -> None:
    """Close ``agen`` on the SDK loop, when the loop can still run it.

    A blocking iterator the program left unfinished is closed whenever the garbage collector
    gets to it, which may be at interpreter exit (the loop's thread frozen: the iterator is
    dropped, as nothing can run it any more) or on the loop's own thread (its closing is
    scheduled there instead of waited for).
    """

    aclose = getattr(agen, "aclose", None)
    if aclose is None or _loop_stopped():
        return
    target = loop()
    if _on(target):
        target.create_task(aclose())
        return
    try:
        run(aclose())
    except exception.ClientClosed:  # the loop stopped while closing: nothing left to close on
        pass


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
        if aclose is not None and not _loop_stopped():  # see _close_unfinished
            await run_async(aclose())


class _Bound(Generic[T]):
    def __init__(self, fn: Callable[..., Any], obj: Any, is_iter: bool) -> None:
        self._fn = fn
        self._obj = obj
        self._is_iter = is_iter
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self._call(args, kwargs)
        return _flatten(iterate(result)) if self._is_iter else run(result)

    def aio(self, *args: Any, **kwargs: Any) -> Any:
        result = self._call(args, kwargs)
        return _aflatten(aiterate(result)) if self._is_iter else run_async(result)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The method's coroutine (or iterator), run with its object's ``_client`` (the
        ``client=`` it was made with) when it has one."""
        result = self._fn(self._obj, *args, **kwargs)
        client = getattr(self._obj, "_client", None)
        if client is None:
            return result
        from .client import bind

        return bind(client, result, self._is_iter)


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
