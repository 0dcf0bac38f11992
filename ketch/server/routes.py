"""Every request kind the control plane answers: its message type, who may make it, what it
acts on, and the method that answers it.

A kind missing here is refused; so is a caller its scope does not admit (`ketch.server.access`).
Each handler is ``async def handler(self, request, caller) -> answer`` on the service named
before the dot. ``writes=False`` marks the kinds a read-only token may make.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ..protocol import client as m
from ..protocol.message import Request
from .access import Scope, Target
from .apps import AppService
from .auth import Tokens
from .call_service import CallService
from .deployments import Deployments
from .dicts import DictService
from .environments import Environments
from .forwards import Forwards
from .log_queries import LogQueries
from .metering import Meter
from .network_file_systems import NetworkFileSystems
from .objects import NamedObjects
from .queues import QueueService
from .sandbox_snapshots import SandboxSnapshots
from .sandboxes import SandboxService
from .vault import SecretService
from .volumes import VolumeService

Handler = Callable[[Any, Any, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    request: type[Request]
    scope: Scope
    handler: Handler
    on: Target = Target("")
    writes: bool = True
    service: type = field(init=False)

    def __post_init__(self) -> None:
        owner, _, _ = self.handler.__qualname__.rpartition(".")
        object.__setattr__(self, "service", getattr(sys.modules[self.handler.__module__], owner))


ENV = Target("environment")
APP = Target("app", "app_id")
FUNCTION = Target("function", "function_id")
CALL = Target("call", "call_id")
SANDBOX = Target("sandbox", "sandbox_id")
CONTAINER = Target("container", "container_id")
BLOB = Target("blob", "blob_id")
DICT = Target("object", "dict_id")
QUEUE = Target("object", "queue_id")
VOLUME = Target("object", "volume_id")
NFS = Target("object", "nfs_id")
SNAPSHOT = Target("snapshot", "snapshot_id")

S = Scope
ROUTES: tuple[Route, ...] = (
    # apps and functions
    Route(m.AppCreate, S.USER, AppService.app_create, ENV),
    Route(m.AppLookup, S.ENVIRONMENT, AppService.app_lookup, ENV),
    Route(m.AppStop, S.USER, AppService.app_stop, APP),
    Route(m.FunctionCreate, S.USER, AppService.function_create, APP),
    Route(m.FunctionBind, S.ENVIRONMENT, AppService.function_bind, FUNCTION),
    Route(m.FunctionUpdateAutoscaler, S.APP, AppService.function_update_autoscaler, FUNCTION),
    Route(m.WebUrl, S.ENVIRONMENT, AppService.web_url, FUNCTION, writes=False),
    Route(m.LogsGet, S.USER, AppService.logs_get, APP, writes=False),
    # stored lines: a container reads only those of its own app
    Route(m.LogsQuery, S.APP, LogQueries.logs_query, Target("logs", "object_id"),
          writes=False),
    # deployments
    Route(m.FunctionLookup, S.ENVIRONMENT, Deployments.function_lookup, ENV, writes=False),
    Route(m.AppDeploy, S.USER, Deployments.app_deploy, APP),
    Route(m.AppList, S.USER, Deployments.app_list, ENV, writes=False),
    Route(m.AppGet, S.USER, Deployments.app_get, APP, writes=False),
    Route(m.AppStopByName, S.USER, Deployments.app_stop_by_name, ENV),
    Route(m.AppHistory, S.USER, Deployments.app_history, ENV, writes=False),
    Route(m.AppRollback, S.USER, Deployments.app_rollback, ENV),
    Route(m.AppLogs, S.USER, Deployments.app_logs, ENV, writes=False),
    Route(m.UsageQuery, S.USER, Meter.usage_query, ENV, writes=False),
    # calls and their payloads
    Route(m.CallCreate, S.ENVIRONMENT, CallService.call_create, FUNCTION),
    Route(m.InputsPut, S.CREATOR, CallService.inputs_put, CALL),
    Route(m.InputsDone, S.CREATOR, CallService.inputs_done, CALL),
    Route(m.OutputsGet, S.ENVIRONMENT, CallService.outputs_get, CALL, writes=False),
    Route(m.CallCancel, S.ENVIRONMENT, CallService.call_cancel, CALL),
    Route(m.CallForget, S.CREATOR, CallService.call_forget, CALL, writes=False),
    Route(m.BlobPut, S.ENVIRONMENT, CallService.blob_put, ENV),
    Route(m.BlobGet, S.ENVIRONMENT, CallService.blob_get, BLOB, writes=False),
    # the caller itself, tokens and environments
    Route(m.ClientHello, S.ENVIRONMENT, Tokens.client_hello, ENV, writes=False),
    Route(m.TokenCreate, S.ADMIN, Tokens.token_create),
    Route(m.TokenList, S.ADMIN, Tokens.token_list, writes=False),
    Route(m.TokenRevoke, S.ADMIN, Tokens.token_revoke),
    Route(m.TokenGrant, S.ADMIN, Tokens.token_grant),
    Route(m.EnvironmentRoles, S.ADMIN, Tokens.environment_roles, writes=False),
    Route(m.EnvironmentCreate, S.ADMIN, Environments.environment_create),
    Route(m.EnvironmentDelete, S.ADMIN, Environments.environment_delete),
    Route(m.EnvironmentList, S.USER, Environments.environment_list, writes=False),
    Route(m.EnvironmentGet, S.ENVIRONMENT, Environments.environment_get, ENV, writes=False),
    Route(m.EnvironmentUpdate, S.ADMIN, Environments.environment_update),
    Route(m.BillingRates, S.USER, Meter.billing_rates, writes=False),
    # named objects
    Route(m.ObjectLookup, S.ENVIRONMENT, NamedObjects.object_lookup, ENV),
    Route(m.ObjectCreateEphemeral, S.ENVIRONMENT, NamedObjects.object_create_ephemeral, ENV),
    Route(m.ObjectRelease, S.ENVIRONMENT, NamedObjects.object_release,
          Target("object", "object_id")),
    Route(m.ObjectDelete, S.ENVIRONMENT, NamedObjects.object_delete, ENV),
    Route(m.ObjectList, S.ENVIRONMENT, NamedObjects.object_list, ENV, writes=False),
    Route(m.ObjectRename, S.ENVIRONMENT, NamedObjects.object_rename, ENV),
    Route(m.DictGet, S.ENVIRONMENT, DictService.dict_get, DICT, writes=False),
    Route(m.DictPut, S.ENVIRONMENT, DictService.dict_put, DICT),
    Route(m.DictUpdate, S.ENVIRONMENT, DictService.dict_update, DICT),
    Route(m.DictPop, S.ENVIRONMENT, DictService.dict_pop, DICT),
    Route(m.DictContains, S.ENVIRONMENT, DictService.dict_contains, DICT, writes=False),
    Route(m.DictLen, S.ENVIRONMENT, DictService.dict_len, DICT, writes=False),
    Route(m.DictItems, S.ENVIRONMENT, DictService.dict_items, DICT, writes=False),
    Route(m.DictClear, S.ENVIRONMENT, DictService.dict_clear, DICT),
    Route(m.QueuePut, S.ENVIRONMENT, QueueService.queue_put, QUEUE),
    Route(m.QueueGet, S.ENVIRONMENT, QueueService.queue_get, QUEUE),
    Route(m.QueueLen, S.ENVIRONMENT, QueueService.queue_len, QUEUE, writes=False),
    Route(m.QueueClear, S.ENVIRONMENT, QueueService.queue_clear, QUEUE),
    Route(m.QueuePeek, S.ENVIRONMENT, QueueService.queue_peek, QUEUE, writes=False),
    Route(m.SecretCreate, S.ENVIRONMENT, SecretService.secret_create, ENV),
    Route(m.SecretLookup, S.ENVIRONMENT, SecretService.secret_lookup, ENV, writes=False),
    Route(m.SecretKeys, S.USER, SecretService.secret_keys, Target("object", "secret_id"),
          writes=False),
    Route(m.VolumeListdir, S.ENVIRONMENT, VolumeService.volume_listdir, VOLUME, writes=False),
    Route(m.VolumeRead, S.ENVIRONMENT, VolumeService.volume_read, VOLUME, writes=False),
    Route(m.VolumeUpload, S.ENVIRONMENT, VolumeService.volume_upload, VOLUME),
    Route(m.VolumeUploadCommit, S.ENVIRONMENT, VolumeService.volume_upload_commit, VOLUME),
    Route(m.VolumeRemove, S.ENVIRONMENT, VolumeService.volume_remove, VOLUME),
    Route(m.VolumeCopy, S.ENVIRONMENT, VolumeService.volume_copy, VOLUME),
    Route(m.VolumeCommit, S.CONTAINER, VolumeService.volume_commit, CONTAINER),
    Route(m.VolumeReload, S.CONTAINER, VolumeService.volume_reload, CONTAINER),
    Route(m.NfsWrite, S.ENVIRONMENT, NetworkFileSystems.nfs_write, NFS),
    Route(m.NfsRead, S.ENVIRONMENT, NetworkFileSystems.nfs_read, NFS, writes=False),
    Route(m.NfsListdir, S.ENVIRONMENT, NetworkFileSystems.nfs_listdir, NFS, writes=False),
    Route(m.NfsRemove, S.ENVIRONMENT, NetworkFileSystems.nfs_remove, NFS),
    # sandboxes: a container makes them in its own app, and reaches any of its environment
    Route(m.SandboxCreate, S.APP, SandboxService.sandbox_create, APP),
    Route(m.SandboxGet, S.ENVIRONMENT, SandboxService.sandbox_get, SANDBOX, writes=False),
    Route(m.SandboxWait, S.ENVIRONMENT, SandboxService.sandbox_wait, SANDBOX, writes=False),
    Route(m.SandboxTerminate, S.ENVIRONMENT, SandboxService.sandbox_terminate, SANDBOX),
    Route(m.SandboxList, S.ENVIRONMENT, SandboxService.sandbox_list, ENV, writes=False),
    Route(m.SandboxTagsSet, S.ENVIRONMENT, SandboxService.sandbox_tags_set, SANDBOX),
    Route(m.SandboxFromName, S.ENVIRONMENT, SandboxService.sandbox_from_name, ENV,
          writes=False),
    Route(m.SandboxExec, S.ENVIRONMENT, SandboxService.sandbox_exec, SANDBOX),
    Route(m.ProcessStdin, S.ENVIRONMENT, SandboxService.process_stdin, SANDBOX),
    Route(m.ProcessOutput, S.ENVIRONMENT, SandboxService.process_output, SANDBOX,
          writes=False),
    Route(m.ProcessWait, S.ENVIRONMENT, SandboxService.process_wait, SANDBOX, writes=False),
    Route(m.ProcessSignal, S.ENVIRONMENT, SandboxService.process_signal, SANDBOX),
    Route(m.ProcessResize, S.ENVIRONMENT, SandboxService.process_resize, SANDBOX),
    Route(m.SandboxFile, S.ENVIRONMENT, SandboxService.sandbox_file, SANDBOX),
    Route(m.SandboxSnapshot, S.ENVIRONMENT, SandboxService.sandbox_snapshot, SANDBOX),
    Route(m.SandboxTunnels, S.ENVIRONMENT, SandboxService.sandbox_tunnels, SANDBOX,
          writes=False),
    Route(m.SandboxReady, S.ENVIRONMENT, SandboxService.sandbox_ready, SANDBOX, writes=False),
    Route(m.SandboxSnapshotMemory, S.ENVIRONMENT, SandboxSnapshots.sandbox_snapshot_memory,
          SANDBOX),
    Route(m.SandboxSnapshotGet, S.ENVIRONMENT, SandboxSnapshots.sandbox_snapshot_get,
          SNAPSHOT, writes=False),
    Route(m.SandboxRestore, S.ENVIRONMENT, SandboxSnapshots.sandbox_restore, SNAPSHOT),
    Route(m.ForwardOpen, S.CONTAINER, Forwards.forward_open, CONTAINER),
    Route(m.ForwardClose, S.CONTAINER, Forwards.forward_close, CONTAINER),
)
BY_KIND: dict[str, Route] = {route.request.KIND: route for route in ROUTES}
