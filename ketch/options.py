"""The keywords of ``@app.function`` and ``@app.cls``: checked at decoration, stored as data.

`validate` turns the keywords into the plain ``options`` dict that travels with a function's
definition, raising `InvalidError` with the fix for anything wrong. Keywords whose features
arrive later (images, secrets, volumes, schedules, …) are checked for type and kept; the list
is in ``docs/compatibility.md``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from . import exception
from .retries import Retries

GPU_TYPES = ("T4", "L4", "A10", "A10G", "L40S", "A100", "A100-40GB", "A100-80GB", "H100",
             "H100!", "H200", "B200", "ANY")
GPU_RE = re.compile(r"^(?P<type>[A-Za-z0-9!-]+?)(:(?P<count>\d+))?$")
MAX_TIMEOUT_S = 24 * 3600
RUNTIMES = ("process", "namespace", "gvisor")

FUNCTION_KEYWORDS = (
    "image", "schedule", "env", "secrets", "gpu", "serialized", "network_file_systems",
    "volumes", "cpu", "memory", "ephemeral_disk", "min_containers", "max_containers",
    "buffer_containers", "scaledown_window", "proxy", "retries", "timeout", "startup_timeout",
    "name", "is_generator", "cloud", "region", "nonpreemptible", "enable_memory_snapshot",
    "scheduler_placement",
    "block_network", "restrict_modal_access", "i6pn", "include_source", "experimental_options",
    "single_use_containers", "max_inputs", "runtime", "cloud_bucket_mounts", "rdma",
    "allow_cross_region_volumes", "concurrency_limit", "keep_warm", "container_idle_timeout",
    "allow_concurrent_inputs",
)


def reject_unknown(unknown: dict[str, Any], decorator: str, known: tuple[str, ...]) -> None:
    for key in unknown:
        close = difflib.get_close_matches(key, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise exception.InvalidError(
            f"{decorator} got an unknown keyword {key!r}.{hint} "
            "See docs/compatibility.md for the keywords ketch accepts."
        )


def _number(name: str, value: Any, *, low: float = 0.0, allow_pair: bool = False) -> Any:
    if allow_pair and isinstance(value, tuple):
        if len(value) != 2:
            raise exception.InvalidError(f"{name} as a tuple must be (request, limit)")
        request, limit = (_number(name, v, low=low) for v in value)
        if limit < request:
            raise exception.InvalidError(f"{name}: the limit {limit} is below the request {request}")
        return [request, limit]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= low:
        pair = " or a (request, limit) tuple" if allow_pair else ""
        raise exception.InvalidError(f"{name} must be a number above {low:g}{pair}, not {value!r}")
    return value


def _gpu(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, list):
        return [_gpu(v) for v in value]
    if not isinstance(value, str):
        raise exception.InvalidError(
            f"gpu must be a string such as 'H100', 'A100-80GB:2' or 'any', not {value!r}. "
            f"Known types: {', '.join(GPU_TYPES)}"
        )
    match = GPU_RE.match(value.strip())
    if not match or match["type"].upper() not in GPU_TYPES:
        raise exception.InvalidError(
            f"unknown gpu {value!r}: use one of {', '.join(GPU_TYPES)}, optionally with a "
            "count, as in 'H100:2'"
        )
    count = int(match["count"] or 1)
    if not 1 <= count <= 8:
        raise exception.InvalidError(f"gpu count must be from 1 to 8, not {count}")
    return f"{match['type'].upper()}:{count}"


def _count(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise exception.InvalidError(f"{name} must be an int ≥ 0, not {value!r}")
    return value


RESERVED_MOUNTS = ("/proc", "/sys", "/dev", "/run/ketch")


def _check_volumes(volumes: Any, keyword: str = "volumes") -> None:
    if volumes is None:
        return
    from .cloud_bucket_mount import CloudBucketMount
    from .network_file_system import NetworkFileSystem
    from .volume import Volume

    kinds: tuple[type, ...]
    if keyword == "network_file_systems":
        kinds, what = (NetworkFileSystem,), "ketch.NetworkFileSystem"
        example = "ketch.NetworkFileSystem.from_name('scratch', create_if_missing=True)"
    else:
        kinds = (CloudBucketMount,) if keyword == "cloud_bucket_mounts" else (
            Volume, CloudBucketMount)
        what = " or ".join(f"ketch.{k.__name__}" for k in kinds)
        example = "ketch.Volume.from_name('data', create_if_missing=True)" if len(
            kinds) > 1 else "ketch.CloudBucketMount('my-bucket', secret=...)"
    if not isinstance(volumes, dict):
        raise exception.InvalidError(f"{keyword} must be a dict of mount path to {what}")
    for path, volume in volumes.items():
        if not isinstance(volume, kinds):
            raise exception.InvalidError(
                f"{keyword}[{path!r}] must be a {what} (for example {example}), "
                f"not {volume!r}")
        if not isinstance(path, str) or not path.startswith("/") or path.rstrip("/") == "":
            raise exception.InvalidError(f"a mount path must be absolute and not /: {path!r}")
        if any(path == p or path.startswith(p + "/") for p in RESERVED_MOUNTS):
            raise exception.InvalidError(f"{keyword} cannot be mounted at {path} (reserved)")


def check_mount_paths(runtime: str | None, *groups: dict[str, Any]) -> None:
    """Raise InvalidError if two mounts (volumes, buckets, network file systems) would sit
    at the same path or one inside another, or if buckets are asked of the process runtime,
    which cannot mount them."""
    from .cloud_bucket_mount import buckets_of

    paths = sorted(((path.rstrip("/"), mount) for group in groups for path, mount in group.items()),
                   key=lambda pair: pair[0])
    for (first, a), (second, b) in zip(paths, paths[1:]):
        if second == first or second.startswith(first + "/"):
            raise exception.InvalidError(
                f"{_mount_name(a)} at {first} and {_mount_name(b)} at {second} clash: mount "
                "each at a path of its own, neither inside the other")
    if runtime == "process" and any(buckets_of(group) for group in groups):
        raise exception.InvalidError(
            "cloud bucket mounts need the namespace runtime (root on Linux), which can mount "
            "them; the process runtime cannot. Drop runtime='process'.")


def _mount_name(mount: Any) -> str:
    name = getattr(mount, "bucket_name", None) or getattr(mount, "name", None)
    return f"{type(mount).__name__} {name!r}" if name else type(mount).__name__


def validate(kw: dict[str, Any]) -> dict[str, Any]:
    """Check the keywords of ``@app.function``; return the wire options."""
    opts: dict[str, Any] = {}
    if kw.get("cpu") is not None:
        opts["cpu"] = _number("cpu", kw["cpu"], allow_pair=True)
    if kw.get("memory") is not None:
        opts["memory"] = _number("memory (MiB)", kw["memory"], allow_pair=True)
    opts["gpu"] = _gpu(kw.get("gpu"))
    if kw.get("timeout") is not None:
        opts["timeout"] = _number("timeout", kw["timeout"])
        if opts["timeout"] > MAX_TIMEOUT_S:
            raise exception.InvalidError(f"timeout must be at most {MAX_TIMEOUT_S} s (24 hours)")
    retries = Retries.from_option(kw.get("retries"))
    opts["retries"] = retries.to_dict() if retries else None
    for name in ("min_containers", "max_containers", "buffer_containers"):
        opts[name] = _count(name, kw.get(name))
    if opts["max_containers"] is None:
        opts["max_containers"] = _count("concurrency_limit", kw.get("concurrency_limit"))
    if opts["min_containers"] is None:
        opts["min_containers"] = _count("keep_warm", kw.get("keep_warm"))
    if opts["max_containers"] is not None and opts["max_containers"] < (opts["min_containers"] or 0):
        raise exception.InvalidError("max_containers must be ≥ min_containers")
    window = kw.get("scaledown_window") or kw.get("container_idle_timeout")
    if window is not None:
        opts["scaledown_window"] = _number("scaledown_window", window)
    if kw.get("env") is not None:
        env = kw["env"]
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise exception.InvalidError("env must be a dict of str to str")
        opts["env"] = dict(env)
    runtime = kw.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        raise exception.InvalidError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    opts["runtime"] = runtime
    if kw.get("max_inputs") is not None:  # Modal's: inputs a container runs before it retires
        limit = _count("max_inputs", kw["max_inputs"])
        if not limit:
            raise exception.InvalidError("max_inputs must be at least 1")
        opts["inputs_per_container"] = limit
    elif kw.get("single_use_containers"):
        opts["inputs_per_container"] = 1
    if kw.get("allow_concurrent_inputs") is not None:
        opts["max_inputs"] = _count("allow_concurrent_inputs", kw["allow_concurrent_inputs"])
    _check_volumes(kw.get("volumes"))
    _check_volumes(kw.get("network_file_systems"), "network_file_systems")
    _check_volumes(kw.get("cloud_bucket_mounts"), "cloud_bucket_mounts")
    check_mount_paths(runtime, *(kw.get(k) or {} for k in ("volumes", "network_file_systems",
                                                          "cloud_bucket_mounts")))
    from .scheduler_placement import placement_of

    opts["placement"] = placement_of(kw)
    proxy = kw.get("proxy")
    if proxy is not None:
        from .proxy import Proxy

        if not isinstance(proxy, Proxy):
            raise exception.InvalidError(
                f"proxy must be a ketch.Proxy (ketch.Proxy.from_name('name')), not {proxy!r}")
        opts["proxy"] = proxy.name
    schedule = kw.get("schedule")
    if schedule is not None:
        from .schedule import Schedule

        if not isinstance(schedule, Schedule):
            raise exception.InvalidError(
                f"schedule must be ketch.Cron('...') or ketch.Period(...), not {schedule!r}"
            )
        opts["schedule"] = schedule.to_wire()
    image = kw.get("image")
    if image is not None:
        from .image import Image

        if not isinstance(image, Image):
            raise exception.InvalidError(
                f"image must be a ketch.Image (for example ketch.Image.debian_slim()), not {image!r}"
            )
    if kw.get("secrets") is not None:
        from .secret import check_secrets

        check_secrets(kw["secrets"])  # kept as objects by the app, sent as ids when it starts
    for flag in ("enable_memory_snapshot", "block_network", "nonpreemptible", "serialized"):
        opts[flag] = bool(kw.get(flag))
    return opts
