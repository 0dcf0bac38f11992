"""Messages between a container's agent and the control plane.

The agent connects, sends ``hello`` (a request) and gets its function's definition back
(`Welcome`). From then on the control plane pushes ``inputs`` notices and the agent pushes
``outputs`` notices, each a batch of records; the agent also sends ``heartbeat`` notices and,
when it must stop on its own (an input ran past its timeout), an ``exiting`` notice before it
exits. The control plane asks it to stop with a ``shutdown`` notice and to drop inputs with
``cancel``. The agent fetches large payloads with the ``blob_get`` request and stores large
results with ``blob_put`` (the client protocol's messages; the blobs are its environment's). A
web endpoint's agent serves HTTP instead of taking inputs, and says where with ``web_ready``
(a port, and the socket the gateway hands it connections on).

`FRAMES` gives the type of each kind's body; records are array-like messages, which keeps a
batch of thousands as cheap to encode as plain lists.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .client import BlobGet, BlobId, BlobPut, Data
from .definition import FunctionDefinition
from .message import Answer, Message

HELLO = "hello"
INPUTS = "inputs"
OUTPUTS = "outputs"
HEARTBEAT = "heartbeat"
EXITING = "exiting"
SHUTDOWN = "shutdown"
CANCEL = "cancel"
BLOB_GET = BlobGet.KIND
BLOB_PUT = BlobPut.KIND
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


class Input(Message):
    """One input to run: ``args`` is the pickled ``(args, kwargs)``, or None when it is the
    blob ``blob_id``; ``method`` is None for plain functions; ``attempt`` counts from 0."""

    call_id: str
    index: int
    method: str | None
    args: bytes | None
    blob_id: str | None
    attempt: int = 0


class Output(Message):
    """One outcome, status from `Status`; ``data`` is None when it is the blob ``blob_id``."""

    call_id: str
    index: int
    status: str
    data: bytes | None
    blob_id: str | None = None
    duration_s: float = 0.0


class Welcome(Answer):
    """The function to serve, and the ids of its app's functions (so it can call them)."""

    definition: FunctionDefinition
    params: bytes | None
    app_id: str
    app_functions: dict[str, str]


class Hello(Message):
    ANSWER: ClassVar[type[Answer]] = Welcome
    container_id: str
    token: str


class Heartbeat(Message):
    running: int  # inputs it runs now


class Exiting(Message):
    """It stops on its own; ``requeue_others``: its inputs not running go back to the queue.
    ``failure``: a pickled exception, when it could not start (every queued input gets it)."""

    reason: str
    requeue_others: bool
    failure: bytes | None = None


class WebReady(Message):
    """It serves HTTP on 127.0.0.1:``port`` from now on, and takes client connections on the
    abstract socket ``handoff`` (`ketch.protocol.handoff`), None when it cannot; a class's
    web_server methods each serve on their own port, in ``servers`` by method name."""

    port: int
    handoff: str | None = None
    servers: dict[str, int] = {}


class Shutdown(Message):
    pass


Key = tuple[str, int]  # (call_id, index)

FRAMES: dict[str, Any] = {
    HELLO: Hello, INPUTS: list[Input], OUTPUTS: list[Output], HEARTBEAT: Heartbeat,
    EXITING: Exiting, SHUTDOWN: Shutdown, CANCEL: list[Key], BLOB_GET: BlobGet,
    BLOB_PUT: BlobPut, WEB_READY: WebReady,
}
ANSWERS: dict[str, Any] = {HELLO: Welcome, BLOB_GET: Data, BLOB_PUT: BlobId}
