"""Memory snapshots of gVisor sandboxes: save one while it runs, look one up, restore one as
a new sandbox whose processes go on from there."""

from __future__ import annotations

from typing import ClassVar

from ..message import Answer, Request
from .sandboxes import SandboxId


class SnapshotId(Answer):
    snapshot_id: str


class SandboxSnapshotMemory(Request):
    """Save a running gVisor sandbox's memory and files (it goes on running)."""

    KIND: ClassVar[str] = "sandbox_snapshot_memory"
    ANSWER: ClassVar[type[Answer]] = SnapshotId
    sandbox_id: str


class SnapshotInfo(Answer):
    snapshot_id: str
    created: float
    source: str  # the sandbox it was taken from


class SandboxSnapshotGet(Request):
    KIND: ClassVar[str] = "sandbox_snapshot_get"
    ANSWER: ClassVar[type[Answer]] = SnapshotInfo
    snapshot_id: str


class SandboxRestore(Request):
    """A new sandbox from a memory snapshot, its processes going on from there."""

    KIND: ClassVar[str] = "sandbox_restore"
    ANSWER: ClassVar[type[Answer]] = SandboxId
    snapshot_id: str
    name: str | None = None


__all__ = ["SandboxRestore", "SandboxSnapshotGet", "SandboxSnapshotMemory", "SnapshotId",
           "SnapshotInfo"]
