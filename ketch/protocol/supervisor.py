"""Frames between a worker and the supervisor inside a sandbox.

A sandbox's first process is its supervisor (`ketch.container.supervisor`). It starts the
sandbox's command and every ``exec``, relays their stdio and exits, and does file operations
inside the sandbox. It talks to the worker over its own stdin (worker → supervisor) and stdout
(supervisor → worker), the one channel that crosses both runtimes' boundaries (gVisor passes a
container's stdio through; namespaces need nothing at all).

Each frame is a 9-byte header ``kind:u8, proc:u32, length:u32`` and ``length`` bytes. ``proc``
names a process of the sandbox (0 is its command) or, for files, a request. Stdio and file
data travel raw. Control payloads are asymmetric on purpose: the worker's (``to``) are
`marshal`-ed, which the supervisor loads in microseconds without importing anything, as it
trusts its worker; the supervisor's (``from``) are JSON, the one format the worker may parse
from a hostile peer.

===============  =========  ==================================================================
kind             way        payload
===============  =========  ==================================================================
``EXEC``         to         ``{argv, env, workdir, stdout, stderr, pty?}`` (stdout and stderr
                            "pipe" or "devnull"; ``pty`` ``{rows, cols}``: on a terminal)
``STDIN``        to         bytes for the process's stdin; empty: close it (EOF; on a
                            terminal, the EOF character)
``SIGNAL``       to         ``{signal}``, sent to the process's group
``FILE``         to         `file_request`: ``{op, path, ...}`` and data (see below)
``RESIZE``       to         ``{rows, cols}``: the new size of the process's terminal
``STARTED``      from       JSON ``{pid}``, or ``{error}`` when it could not start
``STDOUT``       from       output bytes (on a terminal, all of it); empty: the stream ended
``STDERR``       from       the same, for stderr
``EXITED``       from       JSON ``{returncode}`` (-N for signal N), after its output ended
``FILE_DONE``    from       `file_request` shape: ``{..., error?, errno?}`` and data
===============  =========  ==================================================================

A process started with ``pty`` runs on a new pseudo-terminal, as the leader of its own session
with the terminal as its controlling one (so a shell has job control and ^C is SIGINT).

File ops: ``read {path}`` → data; ``write {path, append}`` with data; ``ls {path}`` →
``{entries}``; ``mkdir {path, parents}``; ``rm {path, recursive}``; ``stat {path}`` →
``{size, is_dir}``.

This module imports only the standard library: its source is sent into the sandbox ahead of
the supervisor's, which runs under ``python -S``.
"""

from __future__ import annotations

import marshal
import struct

HEADER = struct.Struct("!BII")
MAX_PAYLOAD = 1 << 20  # a peer that sends more is broken or hostile

EXEC, STDIN, SIGNAL, FILE, RESIZE = 1, 2, 3, 4, 5
STARTED, STDOUT, STDERR, EXITED, FILE_DONE = 64, 65, 66, 67, 68
KINDS = frozenset({EXEC, STDIN, SIGNAL, FILE, RESIZE, STARTED, STDOUT, STDERR, EXITED,
                   FILE_DONE})


class ProtocolError(Exception):
    """The peer sent something that is not a frame of this protocol."""


def frame(kind: int, proc: int, payload: bytes = b"") -> bytes:
    """One frame (control payloads made by `request` or `report`)."""
    return HEADER.pack(kind, proc, len(payload)) + payload


def request(value: dict) -> bytes:  # type: ignore[type-arg]
    """A worker's control payload."""
    return marshal.dumps(value)


def load_request(payload: bytes) -> dict:  # type: ignore[type-arg]
    """A worker's control payload, in the supervisor."""
    return marshal.loads(payload)  # type: ignore[no-any-return]


def report(value: dict) -> bytes:  # type: ignore[type-arg]
    """A supervisor's control payload. The usual ones (a pid, an exit status) hold only
    ints and are written without the json module (and the regular expressions it loads)."""
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value.values()):
        return ("{" + ", ".join(f'"{k}": {v}' for k, v in value.items()) + "}").encode()
    import json

    return json.dumps(value).encode()


def load_report(payload: bytes) -> dict:  # type: ignore[type-arg]
    """A supervisor's control payload, in the worker: `ProtocolError` unless a JSON object."""
    import json

    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise ProtocolError(f"a control frame is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ProtocolError("a control frame is not a JSON object")
    return value


def file_request(meta: bytes, data: bytes = b"") -> bytes:
    """A ``FILE``/``FILE_DONE`` payload: ``meta`` (made by `request` or `report`) with its
    length ahead of it, then raw data."""
    return struct.pack("!I", len(meta)) + meta + data


def split_file_request(payload: bytes) -> tuple[bytes, bytes]:
    """``(meta, data)`` of a `file_request` payload, the meta still encoded."""
    if len(payload) < 4:
        raise ProtocolError("a file frame shorter than its header")
    (size,) = struct.unpack("!I", payload[:4])
    if size > len(payload) - 4:
        raise ProtocolError("a file frame's meta runs past its end")
    return payload[4:4 + size], payload[4 + size:]


class Decoder:
    """Turns bytes as they arrive into ``(kind, proc, payload)`` frames.

    Example::

        decoder = Decoder()
        for kind, proc, payload in decoder.feed(chunk):
            ...
    """

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buffer += data
        frames = []
        while len(self.buffer) >= HEADER.size:
            kind, proc, length = HEADER.unpack_from(self.buffer)
            if kind not in KINDS or length > MAX_PAYLOAD:
                raise ProtocolError(f"a frame of kind {kind} and {length} bytes")
            if len(self.buffer) < HEADER.size + length:
                break
            frames.append((kind, proc, bytes(self.buffer[HEADER.size:HEADER.size + length])))
            del self.buffer[:HEADER.size + length]
        return frames
