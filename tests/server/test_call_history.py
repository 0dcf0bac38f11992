"""`CallHistory`: a call's inputs as the dashboard lists them, and the bounds on what is kept."""

from __future__ import annotations

from ketch.protocol.client import OutputRecord
from ketch.protocol.container import Status
from ketch.serialization import pack_exception
from ketch.server import call_history
from ketch.server.call_history import CallHistory, failure_text
from ketch.server.changes import Changes


def out(index: int, status: str, data: bytes) -> OutputRecord:
    return OutputRecord(index=index, status=status, data=data)


def failure(message: str) -> bytes:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return pack_exception(exc)


def test_a_calls_inputs_with_attempts_durations_and_failures():
    changes = Changes()
    history = CallHistory(changes)
    history.created("fc-1", "ap-1", "fu-1", "square", "map")
    assert history.get("fc-1").status == "running"
    assert changes.version == 1
    history.ran("fc-1", 0, 1, 0.25)
    history.ran("fc-1", 1, 3, 0.5)
    history.finished("fc-1", "fu-1", [out(0, Status.OK, b""),
                                      out(1, Status.ERROR, failure("bad 1"))], done=False)
    history.finished("fc-1", "fu-1", [out(2, Status.CANCELLED, b"cancelled")], done=True)
    details, kept = history.inputs("fc-1", 0, 10)
    assert kept == 3
    assert [(d.index, d.status, d.attempts, d.duration_s) for d in details] == [
        (0, Status.OK, 1, 0.25), (1, Status.ERROR, 3, 0.5), (2, Status.CANCELLED, 1, None)]
    assert "ValueError: bad 1" in failure_text(details[1].status, details[1].failure)
    assert history.get("fc-1").status == "failed"
    assert [d.index for d in history.inputs("fc-1", 1, 1)[0]] == [1]


def test_a_huge_call_keeps_a_bounded_number_of_details_and_failures(monkeypatch):
    monkeypatch.setattr(call_history, "MAX_INPUTS", 5)
    monkeypatch.setattr(call_history, "MAX_FAILURES", 2)
    history = CallHistory(Changes())
    history.created("fc-1", "ap-1", "fu-1", "square", "map")
    for i in range(20):
        history.ran("fc-1", i, 1, 0.1)
    history.finished("fc-1", "fu-1", [out(i, Status.ERROR, failure(f"bad {i}"))
                                      for i in range(20)], done=True)
    details, kept = history.inputs("fc-1", 0, 100)
    assert kept == 5 and history.get("fc-1").inputs == 20
    assert [d.failure is not None for d in details] == [True, True, False, False, False]
    assert "not kept here" in failure_text(details[4].status, details[4].failure)
