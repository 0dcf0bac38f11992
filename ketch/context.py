"""Where code is running: locally or in a container, and which input it is working on."""

from __future__ import annotations

import contextvars
import os

_input_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ketch_input", default=None)
_call_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("ketch_call", default=None)


def is_local() -> bool:
    """True outside ketch containers.

    Example::

        if not ketch.is_local():
            import torch  # only installed in the image
    """
    return "KETCH_CONTAINER_ID" not in os.environ


def current_input_id() -> str | None:
    """The id of the input this container is running, or None outside an input."""
    return _input_id.get()


def current_function_call_id() -> str | None:
    """The id of the function call the current input belongs to, or None."""
    return _call_id.get()


def set_current_input(call_id: str, index: int) -> None:
    _call_id.set(call_id)
    _input_id.set(f"in-{call_id[3:]}-{index}")


def interact() -> None:
    """Modal's ``interact()``: a terminal attached to the running function. ketch runs have
    no interactive mode, so, as Modal does for a run without ``-i``, it refuses, naming what to
    use instead."""
    from . import exception

    if is_local():
        raise exception.InvalidError("interact() only works inside a function's container")
    raise exception.InvalidError(
        "interact() needs a run in interactive mode, which ketch does not have: for a shell in "
        "the function's image use `ketch shell FILE.py::function`, or run the code in a Sandbox "
        "and exec into it")
