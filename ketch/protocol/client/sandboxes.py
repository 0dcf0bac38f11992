"""Sandboxes, the processes inside them, their files and tunnels; a function container's
forwarded ports.

A sandbox's processes are numbered: 0 is its command, then one per exec. Its status is
"running", "completed", "failed", "terminated" or "timeout".
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from ..definition import SandboxDefinition
from ..message import Answer, Message, Request


class SandboxId(Answer):
    sandbox_id: str


class SandboxCreate(Request):
    """``app_id`` None: a container's own app, else the app "sandboxes" of ``environment``."""

    KIND: ClassVar[str] = "sandbox_create"
    ANSWER: ClassVar[type[Answer]] = SandboxId
    app_id: str | None
    definition: SandboxDefinition
    environment: str = ""  # "": the caller's own


class SandboxInfo(Answer):
    sandbox_id: str
    app_id: str
    name: str | None
    tags: dict[str, str]
    created: float
    runtime: str
    returncode: int | None
    reason: str | None
    status: str
    done: bool
    command: list[str]


class SandboxWait(Request):
    """Wait up to ``timeout`` for it to end."""

    KIND: ClassVar[str] = "sandbox_wait"
    ANSWER: ClassVar[type[Answer]] = SandboxInfo
    sandbox_id: str
    timeout: float | None = None


class SandboxTerminate(Request):
    KIND: ClassVar[str] = "sandbox_terminate"
    ANSWER: ClassVar[type[Answer]] = SandboxInfo
    sandbox_id: str


class SandboxGet(Request):
    KIND: ClassVar[str] = "sandbox_get"
    ANSWER: ClassVar[type[Answer]] = SandboxInfo
    sandbox_id: str


class Sandboxes(Answer):
    sandboxes: list[SandboxInfo]


class SandboxList(Request):
    """Running sandboxes of the environment (or of one app), with all of ``tags``."""

    KIND: ClassVar[str] = "sandbox_list"
    ANSWER: ClassVar[type[Answer]] = Sandboxes
    app_id: str | None = None
    tags: dict[str, str] | None = None
    environment: str = ""  # "": the caller's own


class SandboxTagsSet(Request):
    KIND: ClassVar[str] = "sandbox_tags_set"
    sandbox_id: str
    tags: dict[str, str]


class SandboxFromName(Request):
    KIND: ClassVar[str] = "sandbox_from_name"
    ANSWER: ClassVar[type[Answer]] = SandboxInfo
    app_name: str
    name: str
    environment: str = ""  # "": the caller's own


class TerminalSize(Message):
    rows: int
    cols: int


class ProcessNumber(Answer):
    process: int


Piping = Literal["pipe", "devnull"]


class SandboxExec(Request):
    """``piping``: {stdout, stderr}, each "pipe" or "devnull". ``pty``: run it on a terminal
    of that size (all its output then comes as stdout)."""

    KIND: ClassVar[str] = "sandbox_exec"
    ANSWER: ClassVar[type[Answer]] = ProcessNumber
    sandbox_id: str
    argv: list[str]
    workdir: str | None = None
    env: dict[str, str] | None = None
    timeout: float | None = None
    secrets: list[str] = []
    piping: dict[str, Piping] = {}
    pty: TerminalSize | None = None


class ProcessStdin(Request):
    KIND: ClassVar[str] = "process_stdin"
    sandbox_id: str
    process: int
    data: bytes
    eof: bool = False


class StreamChunk(Answer):
    data: bytes
    cursor: int
    eof: bool


class ProcessOutput(Request):
    KIND: ClassVar[str] = "process_output"
    ANSWER: ClassVar[type[Answer]] = StreamChunk
    sandbox_id: str
    process: int
    stream: Literal["stdout", "stderr"]
    cursor: int
    timeout: float | None = None


class ReturnCode(Answer):
    returncode: int | None  # None while it runs


class ProcessWait(Request):
    KIND: ClassVar[str] = "process_wait"
    ANSWER: ClassVar[type[Answer]] = ReturnCode
    sandbox_id: str
    process: int
    timeout: float | None = None


class ProcessSignal(Request):
    KIND: ClassVar[str] = "process_signal"
    sandbox_id: str
    process: int
    signal: int


class ProcessResize(Request):
    """A new size for the terminal of a process started with ``pty``."""

    KIND: ClassVar[str] = "process_resize"
    sandbox_id: str
    process: int
    rows: int
    cols: int


class FileAnswer(Answer):
    meta: dict[str, Any]  # ``meta["error"]`` when it failed
    data: bytes


class SandboxFile(Request):
    """A file operation inside the sandbox (``meta``: see `ketch.protocol.supervisor`)."""

    KIND: ClassVar[str] = "sandbox_file"
    ANSWER: ClassVar[type[Answer]] = FileAnswer
    sandbox_id: str
    meta: dict[str, Any]
    data: bytes = b""


class Steps(Answer):
    steps: list[dict[str, Any]]


class SandboxSnapshot(Request):
    """Its files as an image (`ketch.Image`'s steps)."""

    KIND: ClassVar[str] = "sandbox_snapshot"
    ANSWER: ClassVar[type[Answer]] = Steps
    sandbox_id: str


class Tunnels(Answer):
    tunnels: dict[int, tuple[str, int]]  # port -> where on the control plane's machine


class SandboxTunnels(Request):
    KIND: ClassVar[str] = "sandbox_tunnels"
    ANSWER: ClassVar[type[Answer]] = Tunnels
    sandbox_id: str


class Readiness(Answer):
    ready: bool
    done: bool
    reason: str | None


class SandboxReady(Request):
    """Wait up to ``timeout`` for its readiness probe."""

    KIND: ClassVar[str] = "sandbox_ready"
    ANSWER: ClassVar[type[Answer]] = Readiness
    sandbox_id: str
    timeout: float | None = None


class Address(Answer):
    host: str
    port: int


class ForwardOpen(Request):
    """Where on the control plane's machine a port of the caller's container is reached."""

    KIND: ClassVar[str] = "forward_open"
    ANSWER: ClassVar[type[Answer]] = Address
    container_id: str
    port: int
    unencrypted: bool = False


class ForwardClose(Request):
    KIND: ClassVar[str] = "forward_close"
    container_id: str
    port: int


__all__ = [
    "Address", "FileAnswer", "ForwardClose", "ForwardOpen", "Piping", "ProcessNumber",
    "ProcessOutput", "ProcessResize", "ProcessSignal", "ProcessStdin", "ProcessWait",
    "Readiness", "ReturnCode", "SandboxCreate", "SandboxExec", "SandboxFile",
    "SandboxFromName", "SandboxGet", "SandboxId", "SandboxInfo", "SandboxList",
    "SandboxReady", "SandboxSnapshot", "SandboxTagsSet", "SandboxTerminate", "SandboxTunnels",
    "SandboxWait", "Sandboxes", "Steps", "StreamChunk", "TerminalSize", "Tunnels",
]
