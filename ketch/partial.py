"""Decorators that mark functions and methods: ``@enter``, ``@exit``, ``@method``,
``@concurrent`` and ``@batched``.

Each returns a `PartialFunction`: the raw function plus what was asked of it. ``@app.function``
and ``@app.cls`` read these marks. Read on an instance, a `PartialFunction` is the plain bound
method, so ``self.other(...)`` inside a class works as in ordinary Python.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from typing import Any

from . import exception


class Flag(enum.IntFlag):
    METHOD = 1
    ENTER_PRE_SNAPSHOT = 2
    ENTER_POST_SNAPSHOT = 4
    EXIT = 8
    CONCURRENT = 16
    BATCHED = 32
    WEB = 64


# An instance of an @app.cls class made by ketch (in its container, or for `.local`) keeps its
# `Obj` here, so that its methods seen through `self` are handles, as they are in Modal.
HANDLES = "_ketch_obj"


def own_method(instance: Any, name: str) -> Callable[..., Any]:
    """The instance's method ``name`` itself, bound: what runs when it is called."""
    for klass in type(instance).__mro__:
        value = vars(klass).get(name)
        if isinstance(value, PartialFunction):
            return value.raw_f.__get__(instance, type(instance))  # type: ignore[no-any-return]
        if value is not None:
            break
    return getattr(instance, name)  # type: ignore[no-any-return]


class PartialFunction:
    def __init__(self, raw_f: Callable[..., Any], flags: Flag, **params: Any) -> None:
        self.raw_f = raw_f
        self.flags = flags
        self.params = params
        self.__doc__ = raw_f.__doc__
        self.__name__ = getattr(raw_f, "__name__", "function")

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        handles = getattr(obj, "__dict__", {}).get(HANDLES)
        if handles is not None and self.flags & (Flag.METHOD | Flag.WEB):
            # `self.run.local(...)` / `.remote(...)` in the class's own code, as in Modal
            return getattr(handles, self.raw_f.__name__)
        return self.raw_f.__get__(obj, objtype)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.raw_f(*args, **kwargs)

    def add(self, flags: Flag, **params: Any) -> PartialFunction:
        return PartialFunction(self.raw_f, self.flags | flags, **{**self.params, **params})


def _mark(f: Any, flags: Flag, decorator: str, **params: Any) -> PartialFunction:
    if isinstance(f, PartialFunction):
        return f.add(flags, **params)
    if not callable(f):
        raise exception.InvalidError(
            f"@ketch.{decorator} must decorate a function. Did you forget parentheses? "
            f"Suggestion: `@ketch.{decorator}()`"
        )
    return PartialFunction(f, flags, **params)


def _no_parens(f: Any, decorator: str) -> None:
    if f is not None:
        raise exception.InvalidError(
            f"@ketch.{decorator} needs parentheses: write `@ketch.{decorator}()`"
        )


def method(_warn_parentheses_missing: Any = None, *, is_generator: bool | None = None) -> Any:
    """Mark a method of an ``@app.cls`` class as callable remotely."""
    _no_parens(_warn_parentheses_missing, "method")
    return lambda f: _mark(f, Flag.METHOD, "method", is_generator=is_generator)


def enter(_warn_parentheses_missing: Any = None, *, snap: bool = False) -> Any:
    """Mark a method to run once when a container starts, before any input."""
    _no_parens(_warn_parentheses_missing, "enter")
    flag = Flag.ENTER_PRE_SNAPSHOT if snap else Flag.ENTER_POST_SNAPSHOT
    return lambda f: _mark(f, flag, "enter")


def exit(_warn_parentheses_missing: Any = None) -> Any:
    """Mark a method to run once when a container shuts down."""
    _no_parens(_warn_parentheses_missing, "exit")
    return lambda f: _mark(f, Flag.EXIT, "exit")


def concurrent(
    _warn_parentheses_missing: Any = None, *, max_inputs: int, target_inputs: int | None = None
) -> Any:
    """Let one container run up to ``max_inputs`` inputs at once.

    Example::

        @app.function()
        @ketch.concurrent(max_inputs=10)
        async def fetch(url): ...
    """
    _no_parens(_warn_parentheses_missing, "concurrent")
    if not isinstance(max_inputs, int) or max_inputs < 1:
        raise exception.InvalidError(f"max_inputs must be an int ≥ 1, not {max_inputs!r}")
    if target_inputs is not None and not (1 <= target_inputs <= max_inputs):
        raise exception.InvalidError("target_inputs must be between 1 and max_inputs")

    def wrap(f: Any) -> Any:
        if inspect.isclass(f):
            concurrency = {"max_inputs": max_inputs, "target_inputs": target_inputs}
            f.__ketch_concurrent__ = concurrency  # type: ignore[attr-defined]
            return f
        return _mark(f, Flag.CONCURRENT, "concurrent", max_inputs=max_inputs,
                     target_inputs=target_inputs)

    return wrap


def batched(_warn_parentheses_missing: Any = None, *, max_batch_size: int, wait_ms: int) -> Any:
    """Call the function with lists of up to ``max_batch_size`` inputs, gathered for up to
    ``wait_ms`` milliseconds; it must return a list of as many results.

    On an ``@app.cls`` class the batched method is the class's remote method, as in Modal: it
    needs no ``@ketch.method()``.

    Example::

        @app.cls()
        class Model:
            @ketch.batched(max_batch_size=8, wait_ms=100)
            def predict(self, xs: list[int]) -> list[int]:
                return [x * 2 for x in xs]
    """
    _no_parens(_warn_parentheses_missing, "batched")
    if not isinstance(max_batch_size, int) or not 1 <= max_batch_size <= 1000:
        raise exception.InvalidError("max_batch_size must be an int between 1 and 1000")
    if not isinstance(wait_ms, int) or not 0 <= wait_ms < 10 * 60 * 1000:
        raise exception.InvalidError("wait_ms must be an int between 0 and 600000")
    # a batched method is called remotely, so it carries METHOD as Modal's CALLABLE_INTERFACE
    return lambda f: _mark(f, Flag.METHOD | Flag.BATCHED, "batched", max_batch_size=max_batch_size,
                           wait_ms=wait_ms)


def marked(cls: type, flag: Flag) -> dict[str, PartialFunction]:
    """The class's methods carrying ``flag``, by name, in definition order."""
    found: dict[str, PartialFunction] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, PartialFunction) and value.flags & flag:
                found[name] = value
    return found


def hooks(instance: Any, *flags: Flag) -> list[Callable[[], Any]]:
    """The instance's bound methods marked with any of ``flags``, in flag order."""
    return [own_method(instance, name) for flag in flags for name in marked(type(instance), flag)]


def run_hooks(bound: list[Callable[[], Any]]) -> None:
    """Call each hook; coroutine hooks run to completion on a fresh event loop."""
    for hook in bound:
        result = hook()
        if inspect.isawaitable(result):
            import asyncio

            asyncio.run(_await(result))


async def _await(awaitable: Any) -> Any:
    return await awaitable
