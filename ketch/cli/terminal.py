"""Our stdio attached to a process in a sandbox, for ``ketch sandbox exec`` and ``ketch shell``.

With ``tty`` the process runs on a terminal of its own in the sandbox, and ours is put in raw
mode, so that every key reaches it as typed (^C, ^D and ^Z included); a change of our window's
size is passed on (SIGWINCH), and our terminal is restored however it ends. Without, its
stdout and stderr come out on ours, and our stdin goes to its stdin, up to its end.

Example::

    code = run_attached("sb-1a2b3c", ["bash"], tty=sys.stdin.isatty())
    sys.exit(code)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from .. import exception, synchronizer
from ..client import send, send_blocking
from ..container_process import ContainerProcess
from ..protocol import client as protocol


def run_attached(sandbox_id: str, argv: list[str], *, tty: bool,
                 env: dict[str, str] | None = None, workdir: str | None = None) -> int:
    """Run ``argv`` in the sandbox with our stdio; its exit status as a shell gives it (128 + N
    when signal N ended it)."""
    size = terminal_size() if tty else None
    if tty:
        env = {"TERM": os.environ.get("TERM") or "xterm-256color", **(env or {})}
    number = send_blocking(protocol.SandboxExec(
        sandbox_id=sandbox_id, argv=argv, workdir=workdir, env=env,
        piping={"stdout": "pipe", "stderr": "pipe"}, pty=size)).process
    process: ContainerProcess[bytes] = ContainerProcess(sandbox_id, number, text=False)
    with raw_terminal(sandbox_id, number) if tty else contextlib.nullcontext():
        threading.Thread(target=forward_stdin, args=(process, not tty), daemon=True,
                         name="ketch-stdin").start()
        try:
            code = synchronizer.run(relay(process))
        except KeyboardInterrupt:  # without a tty, ^C is ours: it stops the process too
            process.terminate()
            return 130
    return code if code >= 0 else 128 - code


def terminal_size() -> protocol.TerminalSize:
    cols, rows = shutil.get_terminal_size((80, 24))
    return protocol.TerminalSize(rows=max(rows, 1), cols=max(cols, 1))


@contextlib.contextmanager
def raw_terminal(sandbox_id: str, number: int) -> Iterator[None]:
    """Our terminal in raw mode, its size changes sent to the process's, until the end."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    loop = synchronizer.loop()

    def resized(*_: Any) -> None:
        size = terminal_size()
        asyncio.run_coroutine_threadsafe(
            send(protocol.ProcessResize(sandbox_id=sandbox_id, process=number, rows=size.rows,
                                        cols=size.cols)), loop)

    previous = signal.signal(signal.SIGWINCH, resized)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, previous)


def forward_stdin(process: ContainerProcess[bytes], send_eof: bool) -> None:
    """Our stdin to the process's, as it comes (in a thread: a read may block for good)."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, ValueError, OSError):  # no stdin at all: the process gets EOF
        fd = -1
    while True:
        try:
            data = os.read(fd, 1 << 16) if fd >= 0 else b""
        except OSError:
            data = b""
        try:
            if data:
                process.stdin.write(data)
            elif send_eof:
                process.stdin.write_eof()
            else:
                return
            process.stdin.drain()
        except exception.Error:  # the process or its sandbox is gone
            return
        if not data:
            return


async def relay(process: ContainerProcess[bytes]) -> int:
    """Copy the process's output to ours until it ends; its exit status."""
    await asyncio.gather(_copy(process, process.stdout, sys.stdout.buffer),
                         _copy(process, process.stderr, sys.stderr.buffer))
    return await process.wait.aio()  # type: ignore[no-any-return]


async def _copy(process: ContainerProcess[bytes], reader: Any, target: BinaryIO) -> None:
    async for chunk in reader:
        try:
            target.write(chunk)
            target.flush()
        except BrokenPipeError:  # nobody reads our output any more: stop the process
            await process.terminate.aio()
            return
