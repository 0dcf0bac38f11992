"""The first process inside a sandbox: it runs the sandbox's command and each ``exec``.

It speaks `ketch.protocol.supervisor` frames over its stdin and stdout, with one thread and a
selector: it never blocks on a slow reader, and stops reading a process's output while more
than `BACKLOG` bytes wait to go out, so a flood backs up into the process's own pipe instead
of into memory. It holds no secret and no privilege the sandbox's code lacks: what it does,
that code could do itself.

Run as ``python -S -c SOURCE`` where SOURCE is `source()`: the protocol module's text followed
by this one's, so that nothing needs to be installed inside the sandbox. The sandbox's command
is process 0, started by an ``EXEC`` frame like any other; the sandbox ends when it exits.
"""

from __future__ import annotations

import os
import selectors
import signal
import struct
import subprocess
import time
from collections.abc import Callable

try:
    from ketch.protocol.supervisor import (
        EXEC,
        EXITED,
        FILE,
        FILE_DONE,
        RESIZE,
        SIGNAL,
        STARTED,
        STDERR,
        STDIN,
        STDOUT,
        Decoder,
        file_request,
        frame,
        load_request,
        report,
        split_file_request,
    )
except ImportError:  # inside a sandbox: the protocol's source came first
    pass

BACKLOG = 4 << 20
CHUNK = 1 << 16
# An exited process whose pipes a child of its own still holds is reported this much later.
LINGER_S = 1.0


class Proc:
    """A started process. The supervisor owns its ends of the process's stdio as bare fds:
    ``stdin`` (a pipe's, or a copy of its terminal's master), and each output's read end
    (registered with the selector, closed at its end)."""

    def __init__(self, number: int, popen: subprocess.Popen[bytes], stdin: int,
                 open_streams: int, on_terminal: bool) -> None:
        self.number = number
        self.popen = popen
        self.stdin: int | None = stdin  # None once closed
        self.on_terminal = on_terminal
        self.open_streams = open_streams
        self.status: int | None = None
        self.exited_at = 0.0
        self.stdin_queue = bytearray()
        self.stdin_closing = False


def guard() -> None:
    """Make this process non-dumpable: the sandbox's code runs as the same user, and would
    otherwise open its memory and its channel to the worker through /proc/<pid>/."""
    import ctypes

    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0


class Supervisor:
    def __init__(self) -> None:
        guard()
        self.selector = selectors.DefaultSelector()
        self.procs: dict[int, Proc] = {}
        self.by_pid: dict[int, Proc] = {}
        self.outgoing = bytearray()
        self.decoder = Decoder()
        self.paused: list[tuple[int, Proc, int]] = []
        self.sigchld_r, sigchld_w = os.pipe()
        os.set_blocking(sigchld_w, False)
        signal.set_wakeup_fd(sigchld_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        os.set_blocking(0, False)
        os.set_blocking(1, False)
        self.selector.register(0, selectors.EVENT_READ, ("channel", None, 0))
        self.selector.register(self.sigchld_r, selectors.EVENT_READ, ("sigchld", None, 0))

    # -- to the worker ---------------------------------------------------------------------

    def send(self, kind: int, proc: int, payload: bytes | dict = b"") -> None:  # type: ignore[type-arg]
        self.outgoing += frame(kind, proc, report(payload) if isinstance(payload, dict)
                               else payload)
        self.flush()

    def flush(self) -> None:
        while self.outgoing:
            try:
                written = os.write(1, self.outgoing)
            except BlockingIOError:
                break
            del self.outgoing[:written]
        self._want_write(1, bool(self.outgoing))
        if len(self.outgoing) < BACKLOG and self.paused:
            for fd, proc, kind in self.paused:
                self.selector.register(fd, selectors.EVENT_READ, ("output", proc, kind))
            self.paused = []

    def _want_write(self, fd: int, want: bool) -> None:
        key = self.selector.get_map().get(fd)
        events = (key.events if key else 0) & ~selectors.EVENT_WRITE
        if want:
            events |= selectors.EVENT_WRITE
        data = key.data if key else ("out", None, 0)
        if key and events:
            self.selector.modify(fd, events, data)
        elif key:
            self.selector.unregister(fd)
        elif events:
            self.selector.register(fd, events, data)

    # -- processes -------------------------------------------------------------------------

    def start(self, number: int, argv: list[str], env: dict[str, str] | None = None,
              workdir: str | None = None, stdout: str = "pipe", stderr: str = "pipe",
              terminal: dict | None = None) -> None:  # type: ignore[type-arg]
        """Start a process: on pipes, or with ``terminal`` (``{rows, cols}``) on a new
        pseudo-terminal whose master carries all its output as STDOUT."""
        environment = {**os.environ, **(env or {})}
        theirs: list[int] = []  # the child's ends, closed here once it has started
        ours: list[int] = []
        outputs: list[tuple[int, int]] = []  # (our read end, STDOUT or STDERR)
        preexec = None
        try:
            if terminal is not None:
                master, slave = os.openpty()
                ours.append(master)
                theirs.append(slave)
                resize(master, terminal)
                stdin = os.dup(master)  # its own fd, so the selector can watch it for writing
                ours.append(stdin)
                stdio = [slave, slave, slave]
                outputs.append((master, STDOUT))
                environment.setdefault("TERM", "xterm-256color")
                preexec = controlling_terminal()
            else:
                child_stdin, stdin = os.pipe()
                theirs.append(child_stdin)
                ours.append(stdin)
                stdio = [child_stdin]
                for mode, kind in ((stdout, STDOUT), (stderr, STDERR)):
                    if mode == "devnull":
                        stdio.append(subprocess.DEVNULL)
                        continue
                    read_end, write_end = os.pipe()
                    ours.append(read_end)
                    theirs.append(write_end)
                    stdio.append(write_end)
                    outputs.append((read_end, kind))
            popen = subprocess.Popen(
                argv, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2], env=environment,
                cwd=workdir or None, start_new_session=True, preexec_fn=preexec,
            )
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            for fd in ours:
                os.close(fd)
            self.send(STARTED, number, {"error": f"cannot run {argv[:1]}: {exc}"})
            return
        finally:
            for fd in theirs:
                os.close(fd)
        proc = Proc(number, popen, stdin, len(outputs), terminal is not None)
        self.procs[number] = proc
        self.by_pid[popen.pid] = proc
        for kind in (STDOUT, STDERR):
            if all(k != kind for _, k in outputs):
                self.send(kind, number, b"")
        for fd, kind in outputs:
            os.set_blocking(fd, False)
            self.selector.register(fd, selectors.EVENT_READ, ("output", proc, kind))
        os.set_blocking(stdin, False)
        self.send(STARTED, number, {"pid": popen.pid})

    def read_output(self, fd: int, proc: Proc, kind: int) -> None:
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.send(kind, proc.number, data)
        if not data:
            self.selector.unregister(fd)
            os.close(fd)
            proc.open_streams -= 1
            self.maybe_exited(proc)
        elif len(self.outgoing) >= BACKLOG:
            self.selector.unregister(fd)
            self.paused.append((fd, proc, kind))

    def write_stdin(self, proc: Proc, data: bytes) -> None:
        if not data:
            if proc.on_terminal:  # a terminal's EOF is a character; the terminal stays
                data = b"\x04"
            else:
                proc.stdin_closing = True
        proc.stdin_queue += data
        self.pump_stdin(proc)

    def pump_stdin(self, proc: Proc) -> None:
        fd = proc.stdin
        if fd is None:
            return
        try:
            while proc.stdin_queue:
                written = os.write(fd, proc.stdin_queue)
                del proc.stdin_queue[:written]
        except BlockingIOError:
            pass
        except OSError:  # the process closed its stdin: what it does not read is dropped
            proc.stdin_queue.clear()
        registered = fd in self.selector.get_map()
        if proc.stdin_queue and not registered:
            self.selector.register(fd, selectors.EVENT_WRITE, ("stdin", proc, 0))
        elif not proc.stdin_queue:
            if registered:
                self.selector.unregister(fd)
            if proc.stdin_closing:
                self.close_stdin(proc)

    def close_stdin(self, proc: Proc) -> None:
        fd, proc.stdin = proc.stdin, None
        if fd is not None:
            if fd in self.selector.get_map():
                self.selector.unregister(fd)
            os.close(fd)

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            proc = self.by_pid.pop(pid, None)
            if proc is not None:  # else an orphan we adopted as pid 1
                proc.status = os.waitstatus_to_exitcode(status)
                proc.popen.returncode = proc.status
                proc.exited_at = time.monotonic()
                self.maybe_exited(proc)

    def maybe_exited(self, proc: Proc, force: bool = False) -> None:
        if proc.status is None or (proc.open_streams and not force):
            return
        self.procs.pop(proc.number, None)
        self.close_stdin(proc)
        self.send(EXITED, proc.number, {"returncode": proc.status})
        if proc.number == 0:  # the sandbox's command: the sandbox ends with it
            self.finish(proc.status)

    def finish(self, status: int) -> None:
        os.set_blocking(1, True)
        while self.outgoing:
            del self.outgoing[:os.write(1, self.outgoing)]
        for other in self.procs.values():
            self.signal(other, signal.SIGKILL)
        os._exit(status if status >= 0 else 128 - status)

    def signal(self, proc: Proc, signum: int) -> None:
        try:
            os.killpg(proc.popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass

    # -- the channel -----------------------------------------------------------------------

    def read_channel(self) -> None:
        try:
            data = os.read(0, CHUNK)
        except BlockingIOError:
            return
        if not data:  # the worker is gone: so is the sandbox
            for proc in list(self.procs.values()):
                self.signal(proc, signal.SIGKILL)
            os._exit(0)
        for kind, number, payload in self.decoder.feed(data):
            self.handle(kind, number, payload)

    def handle(self, kind: int, number: int, payload: bytes) -> None:
        if kind == EXEC:
            request = load_request(payload)
            self.start(number, request["argv"], request.get("env"), request.get("workdir"),
                       request.get("stdout", "pipe"), request.get("stderr", "pipe"),
                       request.get("pty"))
        elif kind == FILE:
            meta, data = split_file_request(payload)
            self.send(FILE_DONE, number, file_op(load_request(meta), data))
        elif number in self.procs:
            proc = self.procs[number]
            if kind == STDIN:
                self.write_stdin(proc, payload)
            elif kind == SIGNAL:
                self.signal(proc, int(load_request(payload)["signal"]))
            elif kind == RESIZE and proc.on_terminal and proc.stdin is not None:
                resize(proc.stdin, load_request(payload))

    def run(self) -> None:
        while True:
            timeout = LINGER_S if any(p.status is not None for p in self.procs.values()) else None
            for key, events in self.selector.select(timeout):
                role, proc, kind = key.data
                if events & selectors.EVENT_WRITE and key.fd == 1:
                    self.flush()
                if not events & selectors.EVENT_READ and role != "stdin":
                    continue
                if role == "channel":
                    self.read_channel()
                elif role == "sigchld":
                    os.read(self.sigchld_r, 512)
                    self.reap()
                elif role == "output":
                    self.read_output(key.fd, proc, kind)
                elif role == "stdin":
                    self.pump_stdin(proc)
            now = time.monotonic()
            for proc in list(self.procs.values()):
                if proc.status is not None and now - proc.exited_at >= LINGER_S:
                    self.maybe_exited(proc, force=True)


def resize(fd: int, size: dict) -> None:  # type: ignore[type-arg]
    """Set the size of the terminal of ``fd`` to ``{rows, cols}`` (its foreground process
    group gets SIGWINCH from the kernel)."""
    import fcntl
    import termios

    rows, cols = (min(max(int(size.get(k, d)), 1), 0xFFFF) for k, d in (("rows", 24), ("cols", 80)))
    try:
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    except OSError:  # the terminal is gone: nothing to resize
        pass


def controlling_terminal() -> Callable[[], None]:
    """What the child runs between fork and exec to make its terminal (its stdin, by then)
    its controlling one: being a session leader (``start_new_session``) is not enough, as the
    kernel gives a controlling terminal only on an open(), not to an inherited fd. The
    supervisor has one thread, so running Python in the forked child is safe."""
    import fcntl
    import termios

    def take() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    return take


def file_op(meta: dict, data: bytes) -> bytes:  # type: ignore[type-arg]
    """Do one file operation inside the sandbox; a `file_request` payload with the result."""
    op, path = meta.get("op"), str(meta.get("path", ""))
    try:
        if op == "read":
            with open(path, "rb") as f:
                f.seek(int(meta.get("offset", 0)))
                return file_request(report({}), f.read(int(meta.get("length", 1 << 19))))
        if op == "write":
            if meta.get("parents"):
                make_parents(path)
            with open(path, "ab" if meta.get("append") else "wb") as f:
                f.write(data)
            return file_request(report({}))
        if op == "ls":
            return file_request(report({"entries": sorted(os.listdir(path))}))
        if op == "mkdir":
            if meta.get("parents"):
                os.makedirs(path, exist_ok=True)
            else:
                os.mkdir(path)
            return file_request(report({}))
        if op == "rm":
            if os.path.isdir(path) and not os.path.islink(path):
                import shutil

                shutil.rmtree(path) if meta.get("recursive") else os.rmdir(path)
            else:
                os.unlink(path)
            return file_request(report({}))
        if op == "connect":  # a readiness probe: is something listening on this port here?
            import socket

            with socket.create_connection(("127.0.0.1", int(meta["port"])), timeout=1):
                return file_request(report({}))
        if op == "stat":
            info = os.stat(path)
            return file_request(report({"size": info.st_size, "is_dir": os.path.isdir(path)}))
        return file_request(report({"error": f"unknown file operation {op!r}", "errno": 0}))
    except OSError as exc:
        return file_request(report({"error": f"{path}: {exc.strerror}", "errno": exc.errno or 0}))


def make_parents(path: str) -> None:
    """The folders above ``path``; ENOTDIR when one of them is a file."""
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(20, "Not a directory", folder) from None


def source() -> str:
    """The program to pass as ``python -S -c``: the protocol's source, then this module's."""
    from pathlib import Path

    here = Path(__file__)
    protocol = (here.parents[1] / "protocol" / "supervisor.py").read_text()
    own = here.read_text().replace("from __future__ import annotations\n", "", 1)
    return protocol + "\n" + own


if __name__ == "__main__":
    Supervisor().run()
