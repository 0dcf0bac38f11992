"""What describes a function to the control plane and its containers: `FunctionDefinition`
and its `FunctionOptions`.

A definition is made by the SDK at decoration (`ketch.definition`, from the keywords checked by
`ketch.options`), sent when the app starts, stored with the function (and with each deployed
version), and handed to every container in its ``Welcome``. Unlike the protocols' messages it
travels as a map of its fields: it is kept in the store, and a definition stored by an earlier
version of ketch must still read (a field it lacks takes its default; one this version does not
know is ignored).

Example::

    definition = FunctionDefinition(name="square", module_name="app", qualname="square",
                                    options=FunctionOptions(cpu=1.0, timeout=60))
    definition.options.timeout            # 60
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

R = TypeVar("R", bound=msgspec.Struct)

Amount = int | float | list[int | float]  # a number, or [request, limit]
Gpu = str | list[str]  # "H100:2", or a list to fall back through


class Record(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stored, evolving record: a map of its fields, defaults left out."""


class RetryPolicy(Record):
    """`ketch.Retries` as data: attempt N waits ``initial_delay * backoff_coefficient **
    (N - 1)`` seconds, at most ``max_delay``."""

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before ``attempt`` (1 for the first retry)."""
        return min(self.initial_delay * self.backoff_coefficient ** (attempt - 1),
                   self.max_delay)


class FunctionOptions(Record):
    """The keywords of ``@app.function`` and ``@app.cls`` as the control plane reads them."""

    cpu: Amount | None = None  # cores
    memory: Amount | None = None  # MiB
    gpu: Gpu | None = None
    timeout: int | float | None = None  # seconds an input may run
    retries: RetryPolicy | None = None
    min_containers: int | None = None
    max_containers: int | None = None
    buffer_containers: int | None = None
    scaledown_window: int | float | None = None
    env: dict[str, str] = {}
    runtime: str | None = None  # "process", "namespace", "gvisor"; None: the worker's default
    inputs_per_container: int | None = None  # Modal's max_inputs: it retires after that many
    max_inputs: int | None = None  # inputs a container runs at once (@concurrent)
    target_inputs: int | None = None
    batch_max_size: int | None = None  # @batched
    batch_wait_ms: int | None = None
    placement: dict[str, Any] | None = None  # `ketch.SchedulerPlacement`'s labels
    proxy: str | None = None  # a `ketch.Proxy`'s name
    schedule: dict[str, Any] | None = None  # `ketch.Cron` or `ketch.Period` as data
    web: dict[str, Any] | None = None  # a web endpoint's settings (`ketch.web`)
    web_methods: dict[str, dict[str, Any]] | None = None  # a class's web methods, by name
    enable_memory_snapshot: bool = False
    block_network: bool = False
    nonpreemptible: bool = False
    serialized: bool = False

    @property
    def concurrency(self) -> int:
        """Inputs one container runs at once."""
        return self.batch_max_size or self.max_inputs or 1

    @property
    def serves_web(self) -> bool:
        return bool(self.web or self.web_methods)


class MethodInfo(Record):
    is_generator: bool = False
    is_async: bool = False


class FunctionDefinition(Record):
    """A function (or class) to run: where its code is, how it is called, what it asks for."""

    name: str  # its tag in the app: the function's name, or Class (a class's service)
    app_name: str = ""
    module_name: str = ""
    module_file: str | None = None
    qualname: str = ""
    sys_path: list[str] = []  # what makes the module importable
    serialized: bytes | None = None  # the pickled function, with serialized=True
    source: dict[str, str] | None = None  # a deployed version's module files, by path
    is_class: bool = False
    is_generator: bool = False
    is_async: bool = False
    methods: dict[str, MethodInfo] = {}
    options: FunctionOptions = msgspec.field(default_factory=FunctionOptions)
    image: list[dict[str, Any]] | None = None  # `ketch.Image`'s steps
    volumes: dict[str, str] = {}  # mount path -> volume id, filled in when the app starts
    network_file_systems: dict[str, str] = {}  # mount path -> network file system id
    cloud_bucket_mounts: list[dict[str, Any]] = []  # `ketch.CloudBucketMount`s as data
    secrets: list[str] = []  # secret ids (never values), filled in when the app starts


class SandboxDefinition(Record):
    """What `Sandbox.create` asks for, checked by the SDK and again by the control plane."""

    command: list[str] = []  # none: the sandbox idles until it ends
    name: str | None = None
    timeout: float | None = None  # seconds; None: the control plane's default
    idle_timeout: float | None = None
    workdir: str | None = None
    env: dict[str, str] = {}
    cpu: Amount | None = None
    memory: Amount | None = None
    gpu: Gpu | None = None
    runtime: str | None = None  # "gvisor" or "namespace"; None: gVisor where installed
    block_network: bool = False
    cidr_allowlist: list[str] | None = None  # None: anywhere but the host itself
    image: list[dict[str, Any]] | None = None
    ports: list[int] = []  # tunnelled to the caller
    readiness_probe: dict[str, Any] | None = None
    secrets: list[str] = []  # ids
    volumes: dict[str, str] = {}  # mount path -> volume id
    cloud_bucket_mounts: list[dict[str, Any]] = []
    ephemeral_disk: int | float | None = None  # MiB it may write
    enable_snapshot: bool = False


class MemorySnapshot(Record):
    """What a zygote loads ahead for a function with ``enable_memory_snapshot``: its
    definition and, for a bound class, the parameters its instance is made with."""

    definition: FunctionDefinition
    params: bytes | None = None


def replace(record: R, **changes: Any) -> R:
    """A copy of a record with some fields changed."""
    return msgspec.structs.replace(record, **changes)
