"""Function calls: create one, feed it inputs, read its outputs, cancel it; large payloads.

A call's inputs are `InputRecord`s; what comes back are `OutputRecord`s, read with a cursor
(``outputs_get``) until ``done``. Payloads over the inline limit travel as blobs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ..message import Answer, Message, Request

CallKind = Literal["remote", "map", "spawn"]


class InputRecord(Message):
    """One input: ``args`` is the pickled ``(args, kwargs)``, or None when it is the blob
    ``blob_id``; ``method`` names a class's method (None for plain functions)."""

    index: int
    method: str | None
    args: bytes | None
    blob_id: str | None


class OutputRecord(Message):
    """One outcome, status from `ketch.protocol.container.Status`; ``data`` is None when it
    is the blob ``blob_id``."""

    index: int
    status: str
    data: bytes | None
    blob_id: str | None = None


class CallStarted(Answer):
    """The call, and the outputs it had within the request's ``timeout`` (as `Outputs`)."""

    call_id: str
    outputs: list[OutputRecord] = []
    cursor: int = 0
    done: bool = False


class CallCreate(Request):
    """Start a call; with ``records``, these are all its inputs, and the answer waits up to
    ``timeout`` for the first outputs (0: not at all; None: until one comes), so that a
    ``.remote`` is one round trip."""

    KIND: ClassVar[str] = "call_create"
    ANSWER: ClassVar[type[Answer]] = CallStarted
    function_id: str
    kind: CallKind
    records: list[InputRecord] | None = None
    timeout: float | None = 0.0


class InputsPut(Request):
    KIND: ClassVar[str] = "inputs_put"
    call_id: str
    records: list[InputRecord]


class InputsDone(Request):
    """The call has ``count`` inputs in all."""

    KIND: ClassVar[str] = "inputs_done"
    call_id: str
    count: int


class Outputs(Answer):
    outputs: list[OutputRecord]
    cursor: int
    done: bool


class OutputsGet(Request):
    """Outputs after ``cursor``, waiting up to ``timeout`` (None: until one comes)."""

    KIND: ClassVar[str] = "outputs_get"
    ANSWER: ClassVar[type[Answer]] = Outputs
    call_id: str
    cursor: int
    timeout: float | None = None


class CallCancel(Request):
    KIND: ClassVar[str] = "call_cancel"
    call_id: str
    terminate_containers: bool = False


class CallForget(Request):
    """The caller will read no more of this call's outputs."""

    KIND: ClassVar[str] = "call_forget"
    call_id: str


class BlobId(Answer):
    blob_id: str


class BlobPut(Request):
    """A payload too large to travel inline, kept for the functions of ``environment``."""

    KIND: ClassVar[str] = "blob_put"
    ANSWER: ClassVar[type[Answer]] = BlobId
    data: bytes
    environment: str = ""  # "": the caller's own


class Data(Answer):
    data: bytes


class BlobGet(Request):
    KIND: ClassVar[str] = "blob_get"
    ANSWER: ClassVar[type[Answer]] = Data
    blob_id: str


__all__ = [
    "BlobGet", "BlobId", "BlobPut", "CallCancel", "CallCreate", "CallForget", "CallStarted",
    "CallKind", "Data", "InputRecord", "InputsDone", "InputsPut", "OutputRecord", "Outputs",
    "OutputsGet",
]
