"""How arguments, results and exceptions travel: cloudpickle, with limits and clear errors.

Payloads up to `MAX_INLINE` bytes travel inside messages; larger ones, up to `MAX_PAYLOAD`,
travel as blobs. An exception travels as a `RemoteFailure`, which keeps the remote traceback
as text so the caller sees where it happened even when the exception type cannot be rebuilt.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import cloudpickle

from . import exception

MAX_INLINE = 2 * 1024 * 1024
MAX_PAYLOAD = 512 * 1024 * 1024


def serialize(obj: Any, what: str = "value") -> bytes:
    try:
        data = cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise exception.SerializationError(
            f"the {what} cannot be pickled ({type(exc).__name__}: {exc}); pass plain data, or "
            "objects whose classes are defined at the top level of an importable module"
        ) from exc
    if len(data) > MAX_PAYLOAD:
        raise exception.RequestSizeError(
            f"the {what} is {len(data) / 2**20:.0f} MiB once pickled, over ketch's limit of "
            f"{MAX_PAYLOAD // 2**20} MiB; put large data in a Volume and pass its path instead"
        )
    return data


def deserialize(data: bytes, what: str = "value") -> Any:
    try:
        return pickle.loads(data)
    except Exception as exc:
        raise exception.DeserializationError(
            f"the {what} could not be unpickled here ({type(exc).__name__}: {exc}); make sure "
            "the modules it needs are installed and importable on both sides"
        ) from exc


class RemoteTraceback(Exception):
    """Carries the text of a remote traceback; set as the ``__cause__`` of a re-raised error."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return "\n\nRemote traceback:\n" + self.text


class RemoteFailure:
    """An exception raised in a container, made safe to send."""

    def __init__(self, exc: BaseException) -> None:
        self.type_name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        self.message = str(exc)
        self.traceback = "".join(traceback.format_exception(exc))
        try:
            self.pickled: bytes | None = cloudpickle.dumps(exc)
            pickle.loads(self.pickled)
        except Exception:
            self.pickled = None

    def rebuild(self) -> BaseException:
        exc: BaseException | None = None
        if self.pickled is not None:
            try:
                exc = pickle.loads(self.pickled)
            except Exception:
                exc = None
        if exc is None:
            exc = exception.RemoteError(f"{self.type_name}: {self.message}")
        exc.__cause__ = RemoteTraceback(self.traceback)
        return exc


def pack_exception(exc: BaseException) -> bytes:
    return cloudpickle.dumps(RemoteFailure(exc))


def unpack_exception(data: bytes) -> BaseException:
    failure = deserialize(data, "remote exception")
    if isinstance(failure, RemoteFailure):
        return failure.rebuild()
    return exception.RemoteError(repr(failure))
