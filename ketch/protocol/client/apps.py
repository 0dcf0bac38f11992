"""Apps, their functions and deployments; logs, usage and web endpoints.

A request that names an app by name takes ``environment``: "" means the caller's own (a
container's environment, or the default of the token's).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ..definition import FunctionDefinition
from ..message import Answer, Empty, Message, Request


class AppId(Answer):
    app_id: str


class FunctionId(Answer):
    function_id: str


class Version(Answer):
    version: int


class AppCreate(Request):
    KIND: ClassVar[str] = "app_create"
    ANSWER: ClassVar[type[Answer]] = AppId
    name: str
    description: str = ""
    environment: str = ""  # "": the caller's own
    detach: bool = False  # else it stops when the connection that created it closes


class AppLookup(Request):
    """The running app of that name (deployed, or made by an earlier lookup), else a new one
    with ``create_if_missing``."""

    KIND: ClassVar[str] = "app_lookup"
    ANSWER: ClassVar[type[Answer]] = AppId
    name: str
    create_if_missing: bool = False
    environment: str = ""  # "": the caller's own


class AppStop(Request):
    KIND: ClassVar[str] = "app_stop"
    app_id: str


class FunctionCreate(Request):
    KIND: ClassVar[str] = "function_create"
    ANSWER: ClassVar[type[Answer]] = FunctionId
    app_id: str
    definition: FunctionDefinition


class FunctionBind(Request):
    """A class bound to parameters (pickled kwargs): its own function, made once."""

    KIND: ClassVar[str] = "function_bind"
    ANSWER: ClassVar[type[Answer]] = FunctionId
    function_id: str
    params: bytes


class FunctionFound(Answer):
    function_id: str
    definition: FunctionDefinition


class FunctionLookup(Request):
    """A deployed app's function."""

    KIND: ClassVar[str] = "function_lookup"
    ANSWER: ClassVar[type[Answer]] = FunctionFound
    app_name: str
    tag: str
    environment: str = ""  # "": the caller's own


class AutoscalerSettings(Message):
    """None: left as it is. ``target_inputs``: the inputs (for a server, requests) one
    container aims to hold at once."""

    min_containers: int | None = None
    max_containers: int | None = None
    buffer_containers: int | None = None
    scaledown_window: float | None = None
    target_inputs: int | None = None


class AutoscalerNow(Answer):
    settings: AutoscalerSettings  # all of them, as they are after the change


class FunctionUpdateAutoscaler(Request):
    """Override the autoscaler's settings until the next deploy."""

    KIND: ClassVar[str] = "function_update_autoscaler"
    ANSWER: ClassVar[type[Answer]] = AutoscalerNow
    function_id: str
    settings: AutoscalerSettings


class Url(Answer):
    url: str


class WebUrl(Request):
    """The URL of a web endpoint (a class's web method with ``method``)."""

    KIND: ClassVar[str] = "web_url"
    ANSWER: ClassVar[type[Answer]] = Url
    function_id: str
    method: str | None = None


class AppDeploy(Request):
    """Make a running app (created and filled with functions) the deployed version of its name,
    stopping the version it replaces."""

    KIND: ClassVar[str] = "app_deploy"
    ANSWER: ClassVar[type[Answer]] = Version
    app_id: str


class AppInfo(Message):
    app_id: str
    name: str
    state: str  # "deployed", "running" or "stopped"
    version: int | None
    created: float
    stopped: float | None = None
    environment: str = "main"


class Apps(Answer):
    apps: list[AppInfo]


class AppList(Request):
    """The environment's running and deployed apps; with ``stopped``, every app it has had,
    newest first, ``limit`` of them from ``offset`` (a page)."""

    KIND: ClassVar[str] = "app_list"
    ANSWER: ClassVar[type[Answer]] = Apps
    environment: str = ""  # "": the caller's own
    stopped: bool = False
    offset: int = 0
    limit: int | None = None


class AppFound(Answer):
    app: AppInfo


class AppGet(Request):
    """One app, running, deployed or stopped."""

    KIND: ClassVar[str] = "app_get"
    ANSWER: ClassVar[type[Answer]] = AppFound
    app_id: str


class AppStopByName(Request):
    KIND: ClassVar[str] = "app_stop_by_name"
    name: str
    environment: str = ""  # "": the caller's own


class VersionInfo(Message):
    version: int
    app_id: str
    created: float
    state: str
    rolled_back_from: int | None


class Versions(Answer):
    versions: list[VersionInfo]


class AppHistory(Request):
    KIND: ClassVar[str] = "app_history"
    ANSWER: ClassVar[type[Answer]] = Versions
    name: str
    environment: str = ""  # "": the caller's own


class RolledBack(Answer):
    version: int
    from_version: int


class AppRollback(Request):
    """Deploy an earlier version's functions again, as a new version (None: the one before)."""

    KIND: ClassVar[str] = "app_rollback"
    ANSWER: ClassVar[type[Answer]] = RolledBack
    name: str
    version: int | None = None
    environment: str = ""  # "": the caller's own


class StoredLine(Message):
    ts: float
    function: str
    container_id: str
    stream: str
    text: str


class StoredLines(Answer):
    lines: list[StoredLine]
    cursor: int


class AppLogs(Request):
    """Stored log lines of the app's versions, after ``cursor`` (or since ``since``), waiting up
    to ``timeout`` for some."""

    KIND: ClassVar[str] = "app_logs"
    ANSWER: ClassVar[type[Answer]] = StoredLines
    name: str
    since: float | None = None
    function: str | None = None
    cursor: int | None = None
    timeout: float | None = None
    environment: str = ""  # "": the caller's own


class LogLine(Message):
    """A line of a running app's output, as its watchers see it."""

    function: str
    container_id: str
    stream: str
    text: str


class LogLines(Answer):
    lines: list[LogLine]
    cursor: int
    closed: bool


class LogsGet(Request):
    """A running app's live output after ``cursor``, waiting up to ``timeout`` for some."""

    KIND: ClassVar[str] = "logs_get"
    ANSWER: ClassVar[type[Answer]] = LogLines
    app_id: str
    cursor: int
    timeout: float | None = None


class UsageRow(Message):
    group: str
    first_hour: float
    cpu_s: float
    memory_gib_s: float
    gpu_s: float
    cost: float
    gpu_types: str | None


class UsageRows(Answer):
    rows: list[UsageRow]


class UsageQuery(Request):
    """Usage totals of the environment's apps (or one app), grouped by ``group_by``."""

    KIND: ClassVar[str] = "usage_query"
    ANSWER: ClassVar[type[Answer]] = UsageRows
    group_by: Literal["app", "function", "call", "day", "hour", "app_day", "app_hour"]
    since: float | None = None
    until: float | None = None
    app_id: str | None = None
    environment: str = ""  # "": the caller's own


__all__ = [
    "AppCreate", "AppDeploy", "AppFound", "AppGet", "AppHistory", "AppId", "AppInfo", "AppList",
    "AppLogs",
    "AppLookup", "AppRollback", "AppStop", "AppStopByName", "Apps", "AutoscalerNow",
    "AutoscalerSettings", "Empty", "FunctionBind", "FunctionCreate", "FunctionFound", "FunctionId", "FunctionLookup",
    "FunctionUpdateAutoscaler", "LogLine", "LogLines", "LogsGet", "RolledBack", "StoredLine",
    "StoredLines", "Url", "UsageQuery", "UsageRow", "UsageRows", "Version", "VersionInfo",
    "Versions", "WebUrl",
]
