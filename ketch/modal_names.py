"""Modal's public submodules and the names each exports, mapped to ketch's objects.

`SUBMODULES` is the one table: for each Modal submodule, the ketch module behind it (None: a
module is made for it) and Modal's public names there. A name is looked up, in order:

- as ``Name=module:attribute``, where the table says where it is kept (a ketch module, or the
  Modal submodule of one of Modal's top-level names);
- in the ketch module behind the submodule, then among ketch's top-level objects;
- else it is an `unimplemented` placeholder: importing it works, using it (calling it, reading
  its attributes) raises `UnimplementedError` naming it.

Example::

    resolve("gpu", "A100")        # a placeholder: modal.gpu.A100() raises UnimplementedError
    resolve("functions", "gather") is ketch.function_call.gather

``modal.server`` (the module of Modal's ``Server``, from 2026) is left out: ``modal`` is
``ketch``, and ``ketch.server`` is ketch's control plane; ``modal.Server`` is
``ketch.app_server.Server``.

The names are those Modal's client defines without an underscore in ``modal/<submodule>.py``
through 1.x, less type variables, module-internal constants and protobuf helpers.
"""

from __future__ import annotations

import importlib
import types
from typing import Any

from .exception import UnimplementedError

SUBMODULES: dict[str, tuple[str | None, str]] = {
    # Modal's top-level names that ketch lacks: the same objects as in their submodules
    "": ("ketch", "Client Server forward interact CloudBucketMount SandboxSnapshot "
                  "Environment Workspace"),
    "app": ("ketch.app", "App LocalEntrypoint"),
    "billing": ("ketch.billing", "workspace_billing_report WorkspaceBillingReportItem "
                                 "BillingReportItem"),
    "call_graph": (None, "InputInfo InputStatus"),
    "client": ("ketch.client", "Client"),
    "cloud_bucket_mount": ("ketch.cloud_bucket_mount", "CloudBucketMount"),
    "cls": ("ketch.cls", "Cls Obj parameter is_parameter"),
    "config": ("ketch.config", "Config config config_profiles config_set_active_profile logger"),
    "container_process": ("ketch.container_process", "ContainerProcess"),
    "dict": ("ketch.dict", "Dict DictManager DictInfo"),
    "environments": ("ketch.environments", "Environment EnvironmentSettings "
                                           "create_environment delete_environment "
                                           "list_environments update_environment"),
    "exception": ("ketch.exception", "simulate_preemption"),  # its classes are all in ketch's
    "experimental": (None, "stop_fetching_inputs get_local_input_concurrency "
                           "set_local_input_concurrency get_cluster_info get_fabric_peers "
                           "clustered AppInfo list_deployed_apps AppLifecycle get_app_lifecycle "
                           "stop_app get_app_objects image_delete raw_dockerfile_image "
                           "raw_registry_image "
                           "http_server=ketch.flash:http_server"),
    "experimental.flash": (None, "FlashManager flash_forward FlashPrometheusAutoscaler "
                                 "flash_prometheus_autoscaler flash_get_containers "
                                 "http_server=ketch.flash:http_server"),
    "experimental.ipython": (None, "ModalMagics load_ipython_extension"),
    "file_io": ("ketch.file_io", "FileIO FileWatchEvent FileWatchEventType ls mkdir rm watch "
                                 "delete_bytes replace_bytes"),
    "file_pattern_matcher": ("ketch.file_pattern_matcher", "FilePatternMatcher NON_PYTHON_FILES"),
    "functions": ("ketch.functions", "Function FunctionCall gather=ketch.function_call:gather"),
    "gpu": (None, "T4 L4 A10G A100 H100 L40S Any parse_gpu_config"),
    "image": ("ketch.image", "Image DockerfileSpec ImageBuilderVersion"),
    "io_streams": ("ketch.io_streams", "StreamReader StreamWriter"),
    "mount": (None, "Mount NonLocalMountError create_client_mount create_client_dependency_mounts "
                    "client_mount_name python_standalone_mount_name"),
    "network_file_system": ("ketch.network_file_system", "NetworkFileSystem"),
    "object": ("ketch.object", "Object=ketch.object:NamedObject"),
    "output": ("ketch.output", "enable_output OutputManager"),
    "parallel_map": (None, "SynchronizedQueue InputPreprocessor InputPumper SyncInputPumper "
                           "AsyncInputPumper"),
    "partial_function": ("ketch.partial", "PartialFunction method enter exit batched concurrent "
                                          "web_endpoint fastapi_endpoint asgi_app wsgi_app "
                                          "web_server"),
    "proxy": ("ketch.proxy", "Proxy"),
    "queue": ("ketch.queue", "Queue QueueManager QueueInfo"),
    "retries": ("ketch.retries", "Retries RetryManager"),
    "runner": (None, "DeployResult run_app serve_update deploy_app interactive_shell"),
    "running_app": (None, "RunningApp"),
    "sandbox": ("ketch.sandbox", "Sandbox Probe SandboxConnectCredentials SandboxVersion "
                                 "SidecarContainer SidecarManager DefaultSandboxNameOverride"),
    "sandbox_fs": ("ketch.sandbox_fs", "SandboxFilesystem"),
    "schedule": ("ketch.schedule", "Schedule Cron Period"),
    "scheduler_placement": ("ketch.scheduler_placement", "SchedulerPlacement"),
    "secret": ("ketch.secret", "Secret SecretManager SecretInfo"),
    "serving": (None, "serve_app"),
    "snapshot": ("ketch.sandbox_snapshot", "SandboxSnapshot"),
    "stream_type": ("ketch.stream_type", "StreamType"),
    "token_flow": (None, "TokenFlow"),
    "types": ("ketch.types", "InputStatus InputInfo FileEntry FileEntryType FileType FileInfo "
                             "FileWatchEvent FileWatchEventType LogSource LogEntry DictInfo "
                             "QueueInfo SecretInfo VolumeInfo VolumeCreateOptions FunctionStats "
                             "SandboxConnectCredentials WorkspaceMemberInfo TokenData "
                             "ProxyTokenInfo WorkspaceSettings BillingReportItem "
                             "WorkspaceBillingSummary EnvironmentBillingSummary "
                             "FunctionAutoscalerSettings ServerAutoscalerSettings"),
    "volume": ("ketch.volume", "Volume VolumeManager VolumeInfo FileEntry FileEntryType "
                               "VolumeUploadContextManager AbstractVolumeUploadContextManager"),
    "workspace": ("ketch.workspace", "Workspace WorkspaceMembersManager "
                                     "WorkspaceProxyTokenManager WorkspaceSettingsManager "
                                     "WorkspaceSettings WorkspaceMemberInfo TokenData "
                                     "ProxyTokenInfo"),
}

# What to do instead, for the names of a submodule that a Modal program is likely to reach for.
HINTS = {
    "gpu": 'name the GPU as a string instead, e.g. @app.function(gpu="A100:2")',
    "mount": "use Image.add_local_dir / add_local_file / add_local_python_source instead",
    "runner": "use `with app.run():` or the `ketch deploy` command instead",
}


def names(submodule: str) -> dict[str, str | None]:
    """Modal's names in ``submodule``, each with where ketch keeps it when the table says."""
    found: dict[str, str | None] = {}
    for entry in SUBMODULES[submodule][1].split():
        name, _, where = entry.partition("=")
        found[name] = where or None
    return found


def resolve(submodule: str, name: str) -> Any:
    """The ketch object for Modal's ``modal.<submodule>.<name>``.

    Raises AttributeError for a name Modal does not export there.
    """
    table = names(submodule)
    qualified = f"modal.{submodule}.{name}" if submodule else f"modal.{name}"
    if name not in table:
        raise AttributeError(f"module {qualified.rpartition('.')[0]!r} has no attribute {name!r}")
    where = table[name]
    if where is not None:
        module, _, attribute = where.partition(":")
        return getattr(importlib.import_module(module), attribute)
    target = SUBMODULES[submodule][0]
    for module_name in (target, "ketch"):
        if module_name is None:
            continue
        value = importlib.import_module(module_name).__dict__.get(name)
        if value is not None and not isinstance(value, types.ModuleType):
            return value
    return unimplemented(qualified, HINTS.get(submodule.partition(".")[0]))


class _Unimplemented(type):
    """The type of placeholders: importing one works, calling it or reading its attributes
    raises (dunder look-ups raise AttributeError, so introspection and ``hasattr`` still work)."""

    _ketch_name: str
    _ketch_hint: str | None

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        raise cls._ketch_error()

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") or name.startswith("_ketch"):
            raise AttributeError(name)
        raise cls._ketch_error()

    def _ketch_error(cls) -> UnimplementedError:
        return UnimplementedError(
            f"{cls._ketch_name} is part of Modal's API that ketch does not implement; "
            + (cls._ketch_hint or "leave it out of programs run on ketch")
        )


def unimplemented(qualified: str, hint: str | None = None) -> Any:
    """A placeholder for Modal's ``qualified`` name, which ketch does not provide.

    Example::

        A100 = unimplemented("modal.gpu.A100")
        A100()   # raises UnimplementedError: modal.gpu.A100 is part of Modal's API that ...
    """
    module, _, name = qualified.rpartition(".")
    return _Unimplemented(name, (), {"__module__": module, "__qualname__": name,
                                     "__doc__": f"Modal's {qualified}; not in ketch.",
                                     "_ketch_name": qualified, "_ketch_hint": hint})
