"""The recent calls of each app, and every function's count of finished inputs.

The dashboard lists an app's calls with their status, duration and first failure, and a call's
inputs with their status, attempts, duration and failure; `/metrics` reads the counts. Each app
keeps its newest `MAX_CALLS` calls in memory, and each call the details of its first
`MAX_INPUTS` finished inputs (a map of a million inputs costs one record and a thousand
details), with the failures of at most `MAX_FAILURES` of them. A failure is kept as the bytes the
container sent and read only when a page shows it: with `failure_text`, which never runs the
container's pickle (it may be forged) but reads the `RemoteFailure`'s fields alone.
"""

from __future__ import annotations

import collections
import io
import pickle
import time
from dataclasses import dataclass, field
from typing import Any

from ..protocol.client import OutputRecord
from ..protocol.container import Status
from .changes import Changes

MAX_CALLS = 10_000
MAX_INPUTS = 1000  # inputs of a call whose details are kept
MAX_FAILURES = 20  # failed inputs of a call whose exception and traceback are kept
MAX_FAILURE_BYTES = 256 << 10  # a larger failure is named, not kept


class InputDetail:
    """One finished input of a call: how it ended, after how many attempts, in how long."""

    __slots__ = ("index", "status", "attempts", "duration_s", "failure")

    def __init__(self, index: int, attempts: int = 1, duration_s: float | None = None) -> None:
        self.index = index
        self.status = ""
        self.attempts = attempts
        self.duration_s = duration_s
        self.failure: bytes | None = None  # the container's bytes, for `failure_text`


@dataclass
class CallRecord:
    """One call as the dashboard shows it."""

    id: str
    app_id: str
    function_id: str
    function_name: str
    kind: str
    created: float
    ended: float | None = None
    inputs: int = 0  # finished inputs, by status below
    counts: dict[str, int] = field(default_factory=dict)
    failure: tuple[str, bytes | None] | None = None  # status and data of the first failure
    details: dict[int, InputDetail] = field(default_factory=dict)
    unsettled: int = 0  # details `ran` made whose status `finished` has yet to set
    failures_kept: int = 0

    @property
    def status(self) -> str:
        """``failed``, ``cancelled``, ``done`` once it ended, else ``running``."""
        if self.ended is None:
            return "running"
        if any(self.counts.get(s) for s in Status.FAILURES):
            return "failed"
        return "cancelled" if self.counts.get(Status.CANCELLED) else "done"

    @property
    def duration_s(self) -> float:
        return (self.ended or time.time()) - self.created


class CallHistory:
    """Example::

        history.created("fc-1", "ap-1", "fu-1", "square", "remote")
        history.finished("fc-1", "fu-1", [[0, "ok", b"...", None]], done=True)
        page = history.page("ap-1", offset=0, limit=50)
    """

    def __init__(self, changes: Changes, max_calls: int = MAX_CALLS) -> None:
        self._changes = changes
        self._max = max_calls
        self._apps: dict[str, collections.deque[CallRecord]] = {}
        self._calls: dict[str, CallRecord] = {}
        self.totals: dict[str, collections.Counter[str]] = {}  # function id: status: inputs

    def created(self, call_id: str, app_id: str, function_id: str, function_name: str,
                kind: str) -> None:
        calls = self._apps.setdefault(app_id, collections.deque())
        if len(calls) >= self._max:
            self._calls.pop(calls.popleft().id, None)
        record = CallRecord(call_id, app_id, function_id, function_name, kind, time.time())
        calls.append(record)
        self._calls[call_id] = record
        self._changes.note("calls", app_id)

    def ran(self, call_id: str, index: int, attempts: int, duration_s: float | None) -> None:
        """An input's final output is in, from its ``attempts``-th run, which took
        ``duration_s`` in its container (`finished` then says how it ended)."""
        record = self._calls.get(call_id)
        if record is not None and index not in record.details \
                and len(record.details) < MAX_INPUTS:
            record.details[index] = InputDetail(index, attempts, duration_s)
            record.unsettled += 1

    def finished(self, call_id: str, function_id: str, records: list[OutputRecord],
                 done: bool) -> None:
        """Outputs of a call; ``done`` once it has them all."""
        tally = collections.Counter(r.status for r in records if r.status in Status.FINAL)
        self.totals.setdefault(function_id, collections.Counter()).update(tally)
        record = self._calls.get(call_id)
        if record is None:  # a call from before a restart: counted, not listed
            return
        record.inputs += sum(tally.values())
        for status, n in tally.items():
            record.counts[status] = record.counts.get(status, 0) + n
        if record.failure is None and any(s in Status.FAILURES for s in tally):
            status, data = next((r.status, r.data) for r in records
                                if r.status in Status.FAILURES)
            kept = data if isinstance(data, bytes) and len(data) <= MAX_FAILURE_BYTES else None
            record.failure = (status, kept)
        if record.unsettled or len(record.details) < MAX_INPUTS or (
                record.failures_kept < MAX_FAILURES
                and any(s in Status.FAILURES for s in tally)):  # else a map's inputs cost nothing
            self._detail(record, records)
        if done and record.ended is None:
            record.ended = time.time()
        self._changes.note("calls", record.app_id)

    @staticmethod
    def _detail(record: CallRecord, records: list[OutputRecord]) -> None:
        for output in records:
            index, status, data = output.index, output.status, output.data
            if status not in Status.FINAL:
                continue
            detail = record.details.get(index)
            if detail is None:  # ended without running: cancelled, or its container died
                if len(record.details) >= MAX_INPUTS:
                    continue
                detail = record.details[index] = InputDetail(index)
            elif not detail.status:
                record.unsettled -= 1
            detail.status = status
            if status in Status.FAILURES and record.failures_kept < MAX_FAILURES \
                    and isinstance(data, bytes) and len(data) <= MAX_FAILURE_BYTES:
                detail.failure = data
                record.failures_kept += 1

    def page(self, app_id: str, offset: int, limit: int) -> tuple[list[CallRecord], int]:
        """The app's calls newest first, ``limit`` from ``offset``, and how many it has."""
        calls = self._apps.get(app_id) or collections.deque()
        total = len(calls)
        start = max(0, total - offset - limit)
        return list(reversed([calls[i] for i in range(start, max(start, total - offset))])), total

    def get(self, call_id: str) -> CallRecord | None:
        return self._calls.get(call_id)

    def inputs(self, call_id: str, offset: int, limit: int) -> tuple[list[InputDetail], int]:
        """A call's finished inputs whose details are kept, by index, ``limit`` from
        ``offset``, and how many are kept."""
        record = self._calls.get(call_id)
        if record is None:
            return [], 0
        indexes = sorted(record.details)
        return [record.details[i] for i in indexes[offset:offset + limit]], len(indexes)


class _FailureOnly(pickle.Unpickler):
    """Unpickles a `RemoteFailure`'s plain fields; any other class or callable is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("ketch.serialization", "RemoteFailure"):
            from ..serialization import RemoteFailure

            return RemoteFailure
        if (module, name) == ("copyreg", "__newobj__"):
            return _newobj
        raise pickle.UnpicklingError(f"{module}.{name} is not read here")


def _newobj(cls: Any, *args: Any) -> Any:
    return cls.__new__(cls)


def failure_text(status: str, data: bytes | None) -> str:
    """The exception and remote traceback of a failed input, as text for a page."""
    if data is None:
        return (f"{status}: the failure is not kept here (it was over 256 KiB, or its call "
                "had failed many times before); the caller received it")
    if status != Status.ERROR:
        return data.decode("utf-8", "replace")
    try:
        failure = _FailureOnly(io.BytesIO(data)).load()
        return f"{failure.type_name}: {failure.message}\n\n{failure.traceback}"
    except Exception as exc:  # noqa: BLE001 - a container's bytes: anything may be wrong
        return f"the failure could not be read ({type(exc).__name__}: {exc})"
