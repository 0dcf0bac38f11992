"""A thread-based connection end for the container agent, which keeps its imports small.

One thread calls `receive` in a loop; any thread may `send` or make a `request`, whose answer
that reading thread hands over.
"""

from __future__ import annotations

import collections
import itertools
import socket
import threading
from typing import Any

import msgspec

from .. import exception
from .message import decode as decode_message
from .wire import ERR, HEADER, MAX_FRAME, OK, decode, encode, error_from_wire, plain


class BlockingPeer:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rb", buffering=1 << 16)
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._answers: dict[int, tuple[str, msgspec.Raw] | None] = {}
        self._cond = threading.Condition()
        self.closed = False
        self._early: collections.deque[tuple[str, int, msgspec.Raw]] = collections.deque()

    def send(self, kind: str, body: Any, request_id: int = 0) -> None:
        frame = encode(kind, request_id, body)
        with self._send_lock:
            self._sock.sendall(frame)

    def receive(self) -> tuple[str, int, msgspec.Raw] | None:
        """Read the next frame that is not an answer (its body still encoded: decode it as its
        kind's type); None once the connection is closed."""
        if self._early:
            return self._early.popleft()
        while True:
            frame = self._read_frame()
            if frame is None or frame[0] not in (OK, ERR):
                return frame
            self._deliver(*frame)

    def request(self, kind: str, body: Any, answer_type: Any = Any, *,
                read_here: bool = False) -> Any:
        """Send a request and wait for its answer, decoded as ``answer_type``.

        With ``read_here`` the calling thread reads the answer itself (used before the reading
        thread starts); frames that arrive before it are kept for `receive`.
        """
        request_id = next(self._ids)
        with self._cond:
            self._answers[request_id] = None
        self.send(kind, body, request_id)
        while read_here and self._answers[request_id] is None:
            frame = self._read_frame()
            if frame is None:
                break
            if frame[0] in (OK, ERR):
                self._deliver(*frame)
            else:
                self._early.append(frame)
        with self._cond:
            while self._answers[request_id] is None and not self.closed:
                self._cond.wait()
            answer = self._answers.pop(request_id)
        if answer is None:
            raise exception.ConnectionError("the control plane closed the connection")
        answer_kind, answer_body = answer
        if answer_kind == ERR:
            raise error_from_wire(plain(answer_body))
        return decode_message(answer_body, answer_type, "answer")

    def _read_frame(self) -> tuple[str, int, msgspec.Raw] | None:
        header = self._file.read(HEADER.size)
        if len(header) < HEADER.size:
            self._mark_closed()
            return None
        (size,) = HEADER.unpack(header)
        if size > MAX_FRAME:
            self._mark_closed()
            return None
        return decode(self._file.read(size))

    def _deliver(self, kind: str, request_id: int, body: msgspec.Raw) -> None:
        with self._cond:
            if request_id in self._answers:
                self._answers[request_id] = (kind, body)
                self._cond.notify_all()

    def _mark_closed(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def close(self) -> None:
        self._mark_closed()
        try:
            self._sock.close()
        except OSError:
            pass


def connect(address: str) -> BlockingPeer:
    from .wire import parse_address

    family, host, port = parse_address(address)
    if family == "unix":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(host)
    else:
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return BlockingPeer(sock)
