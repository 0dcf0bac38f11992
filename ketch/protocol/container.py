"""Messages between a container's agent and the control plane.

The agent connects, sends ``hello`` (a request) and gets its function's definition back. From
then on the control plane pushes ``inputs`` notices and the agent pushes ``outputs`` notices,
each carrying a batch of records; the agent also sends ``heartbeat`` notices and, when it must
stop on its own (an input ran past its timeout), an ``exiting`` notice before it exits. The
control plane asks it to stop with a ``shutdown`` notice and to drop inputs with ``cancel``.
The agent fetches large payloads with the ``blob_get`` request and stores large results with
``blob_put``. A web endpoint's agent serves HTTP instead of taking inputs, and says where with
a ``web_ready`` notice (a port, and the socket the gateway hands it connections on).

Records are plain lists, which keeps a batch of thousands cheap to encode:

- input:  ``[call_id, index, method, args, blob_id, attempt]`` (``args`` is None when the
  payload is a blob; ``method`` is None for plain functions)
- output: ``[call_id, index, status, data, blob_id, duration_s]`` with a status from `Status`
"""

from __future__ import annotations

from typing import Any

HELLO = "hello"
INPUTS = "inputs"
OUTPUTS = "outputs"
HEARTBEAT = "heartbeat"
EXITING = "exiting"
SHUTDOWN = "shutdown"
CANCEL = "cancel"
BLOB_GET = "blob_get"
BLOB_PUT = "blob_put"
WEB_READY = "web_ready"

HEARTBEAT_INTERVAL_S = 2.0


class Status:
    """The outcome carried by an output record (and passed on to callers)."""

    OK = "ok"  # data: the pickled return value
    ERROR = "error"  # data: a pickled `ketch.serialization.RemoteFailure`
    TIMEOUT = "timeout"  # data: message text, utf-8
    DIED = "died"  # data: message text, utf-8 (only the control plane makes these)
    CANCELLED = "cancelled"  # data: message text, utf-8 (only the control plane makes these)
    GEN_ITEM = "gen_item"  # data: one pickled yielded value; more records for the input follow
    GEN_DONE = "gen_done"  # the generator finished; data is None

    FAILURES = frozenset({ERROR, TIMEOUT, DIED})
    FINAL = frozenset({OK, ERROR, TIMEOUT, DIED, CANCELLED, GEN_DONE})


def hello(container_id: str, token: str) -> tuple[str, dict[str, Any]]:
    return HELLO, {"container_id": container_id, "token": token}


def hello_answer(
    definition: dict[str, Any], params: bytes | None, app_id: str, app_functions: dict[str, str]
) -> dict[str, Any]:
    """The function to serve, and the ids of its app's functions (so it can call them)."""
    return {"definition": definition, "params": params, "app_id": app_id,
            "app_functions": app_functions}


def input_record(
    call_id: str, index: int, method: str | None, args: bytes | None, blob_id: str | None,
    attempt: int,
) -> list[Any]:
    return [call_id, index, method, args, blob_id, attempt]


def output_record(
    call_id: str, index: int, status: str, data: bytes | None, blob_id: str | None = None,
    duration_s: float = 0.0,
) -> list[Any]:
    return [call_id, index, status, data, blob_id, duration_s]


def inputs(records: list[list[Any]]) -> tuple[str, list[list[Any]]]:
    return INPUTS, records


def outputs(records: list[list[Any]]) -> tuple[str, list[list[Any]]]:
    return OUTPUTS, records


def heartbeat(running: int) -> tuple[str, dict[str, Any]]:
    return HEARTBEAT, {"running": running}


def exiting(reason: str, requeue_others: bool) -> tuple[str, dict[str, Any]]:
    return EXITING, {"reason": reason, "requeue_others": requeue_others}


def web_ready(port: int, handoff: str | None = None) -> tuple[str, dict[str, Any]]:
    """A web endpoint's container serves HTTP on 127.0.0.1:``port`` from now on, and takes
    client connections on the abstract socket ``handoff`` (`ketch.protocol.handoff`)."""
    return WEB_READY, {"port": port, "handoff": handoff}


def shutdown() -> tuple[str, dict[str, Any]]:
    return SHUTDOWN, {}


def cancel(keys: list[list[Any]]) -> tuple[str, list[list[Any]]]:
    """Ask the agent to drop these ``[call_id, index]`` inputs."""
    return CANCEL, keys


def blob_get(blob_id: str) -> tuple[str, dict[str, Any]]:
    return BLOB_GET, {"blob_id": blob_id}


def blob_put(data: bytes) -> tuple[str, dict[str, Any]]:
    return BLOB_PUT, {"data": data}
