"""The stored log lines of one app, function, server or function call (`LogsQuery`), for the
SDK's ``.logs`` (Modal's ``fetch``, ``tail`` and ``stream``).

Lines outlive their app (the control plane keeps them 7 days). A line's ``source`` is
``stdout``, ``stderr`` or ``system`` (ketch's own notes about the object); ``id`` orders lines
and is where a later query goes on from (``after``).
"""

from __future__ import annotations

from typing import ClassVar

from ..message import Answer, Message, Request


class LogRecord(Message):
    id: int
    ts: float
    source: str
    text: str
    container_id: str
    call_id: str | None
    function: str = ""  # the name of the function that printed it


class LogRecords(Answer):
    """``cursor``: where the next query goes on from; ``done``: no more lines will come (the
    app stopped, the call finished); ``now``: the control plane's clock."""

    lines: list[LogRecord]
    cursor: int
    done: bool
    now: float


class LogsQuery(Request):
    """The lines of an app (``ap-``: all of them), a function or server (``fu-``: those it
    printed) or a call (``fc-``: those printed while a container ran it alone), after line
    ``after`` (or the ``tail`` newest, before line ``before`` if given), narrowed by time,
    ``source``, container, call (an app's or function's lines printed for ``call_id``) and
    ``search`` text, waiting up to ``timeout`` for some."""

    KIND: ClassVar[str] = "logs_query"
    ANSWER: ClassVar[type[Answer]] = LogRecords
    object_id: str
    since: float | None = None
    until: float | None = None
    source: str | None = None
    search: str = ""
    tail: int | None = None
    after: int | None = None
    timeout: float | None = None
    container_id: str | None = None
    call_id: str | None = None
    before: int | None = None


__all__ = ["LogRecord", "LogRecords", "LogsQuery"]
