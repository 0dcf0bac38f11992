"""The public data types ketch's objects return, as Modal's ``modal.types`` defines them.

``modal.types`` resolves here. Each is plain data: made by ketch from what the control plane
answers, never sent back to it. Types of Modal's cloud (workspace members, proxy-token and
billing summaries) are here for programs that name them in annotations; ketch makes the ones
its own features need (`LogEntry` from ``.logs``, `FileEntry` from volume listings,
`ServerAutoscalerSettings` from ``Server.update_autoscaler``, `BillingReportItem`).

Example::

    from modal.types import LogEntry

    for entry in server.logs.tail(10):
        assert isinstance(entry, LogEntry)
        print(entry.timestamp, entry.source, entry.message, end="")
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import FrozenInstanceError, dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, TypedDict


class InputStatus(enum.IntEnum):
    """Where a function input stands (numbered as Modal's)."""

    PENDING = 0
    SUCCESS = 1
    FAILURE = 2
    TERMINATED = 3
    TIMEOUT = 4
    INIT_FAILURE = 5

    @classmethod
    def _missing_(cls, value: object) -> InputStatus:
        return cls.PENDING


class FileEntryType(enum.IntEnum):
    """What a volume listing's entry is."""

    UNSPECIFIED = 0
    FILE = 1
    DIRECTORY = 2
    SYMLINK = 3
    FIFO = 4
    SOCKET = 5


class FileType(enum.Enum):
    """What a sandbox file system's entry is."""

    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"


class FileWatchEventType(enum.Enum):
    Unknown = "Unknown"
    Access = "Access"
    Create = "Create"
    Modify = "Modify"
    Remove = "Remove"


LogSource = Literal["stdout", "stderr", "system"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One log line of a function, call, app or server. ``object_id`` is the object whose
    ``.logs`` gave it; ``context_ids`` name, narrowest last, where it was printed: for a
    function its call and its container."""

    message: str
    timestamp: datetime
    source: LogSource
    object_id: str
    context_ids: list[str]

    def __str__(self) -> str:
        return self.message


@dataclass
class _ObjectInfo:
    """What does not change over a named object's life: its name, when and by whom it was
    made (ketch keeps no users: ``created_by`` is None)."""

    name: str | None
    created_at: datetime
    created_by: str | None


class DictInfo(_ObjectInfo):
    pass


class QueueInfo(_ObjectInfo):
    pass


class SecretInfo(_ObjectInfo):
    pass


class VolumeInfo(_ObjectInfo):
    pass


class VolumeCreateOptions(TypedDict, total=False):
    experimental_options: dict[str, Any]


@dataclass(frozen=True)
class FunctionStats:
    backlog: int
    num_total_runners: int
    num_running_inputs: int
    input_headroom: int


@dataclass
class InputInfo:
    input_id: str
    function_call_id: str
    task_id: str
    status: InputStatus
    function_name: str
    module_name: str
    children: list[InputInfo]


@dataclass(frozen=True)
class FileEntry:
    """A file or folder of a volume or network file system listing."""

    path: str
    type: FileEntryType
    mtime: int
    size: int


@dataclass(frozen=True)
class FileInfo:
    name: str
    path: str
    type: FileType
    size: int
    mode: int
    permissions: str
    owner: str
    group: str
    modified_time: float
    symlink_target: str | None

    def is_file(self) -> bool:
        return self.type == FileType.FILE

    def is_dir(self) -> bool:
        return self.type == FileType.DIRECTORY

    def is_symlink(self) -> bool:
        return self.type == FileType.SYMLINK


@dataclass
class FileWatchEvent:
    paths: list[str]
    type: FileWatchEventType


@dataclass(frozen=True)
class SandboxConnectCredentials:
    url: str
    token: str


@dataclass(frozen=True)
class WorkspaceMemberInfo:
    name: str
    email: str
    user_id: str
    role: str
    joined_at: datetime
    last_active_at: datetime | None


@dataclass(frozen=True)
class TokenData:
    token_id: str
    token_secret: str


@dataclass(frozen=True)
class ProxyTokenInfo:
    token_id: str
    created_at: datetime
    scoped: bool


@dataclass(frozen=True)
class WorkspaceSettings:
    default_environment: str
    image_builder_version: str


@dataclass(slots=True, frozen=True)
class BillingReportItem:
    """What one object cost in one interval. Read as a dataclass or, as Modal allows, as a
    read-only mapping (``item["cost"]``, ``dict(item.items())``)."""

    object_id: str
    description: str
    environment_name: str
    interval_start: datetime
    cost: Decimal
    cost_by_resource: dict[str, Decimal]
    tags: dict[str, str]

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def __setitem__(self, key: str, _: Any) -> None:
        raise FrozenInstanceError(f"cannot assign to field {key!r}")

    def keys(self) -> list[str]:
        return [f.name for f in fields(self)]

    def values(self) -> Iterator[Any]:
        return (getattr(self, key) for key in self.keys())

    def items(self) -> Iterator[tuple[str, Any]]:
        return ((key, getattr(self, key)) for key in self.keys())


@dataclass(slots=True, frozen=True)
class EnvironmentBillingSummary:
    start: datetime
    end: datetime
    metered_cost: Decimal
    metered_cost_breakdown: dict[str, Decimal]


@dataclass(slots=True, frozen=True)
class WorkspaceBillingSummary(EnvironmentBillingSummary):
    adjustments: dict[str, Decimal]
    billed_cost: Decimal


@dataclass(slots=True, frozen=True)
class FunctionAutoscalerSettings:
    min_containers: int | None
    max_containers: int | None
    scaledown_window: int | None
    buffer_containers: int | None


@dataclass(slots=True, frozen=True)
class ServerAutoscalerSettings:
    target_concurrency: int | float | None
    min_containers: int | None
    max_containers: int | None
    buffer_containers: int | None
    scaleup_window: int | None
    scaledown_window: int | None
