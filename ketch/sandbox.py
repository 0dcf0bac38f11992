"""`Sandbox`: a container for code nobody reviewed, as Modal's ``modal.Sandbox``.

A sandbox runs under gVisor where runsc is installed, else in the hardened namespace runtime
(docs/sandboxes.md). It sees the image's files and none of the host's data, has no way to the
control plane, and ends at its ``timeout`` (5 minutes unless told), after ``idle_timeout``,
when its command exits, or on ``terminate``.
"""

from __future__ import annotations

import builtins
import sys
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from . import config, exception, options
from .client import CURRENT, get_client, send, use
from .cloud_bucket_mount import CloudBucketMount, bucket_wires
from .container_process import ContainerProcess
from .file_io import FileIO
from .image import Image, resolve_secrets
from .io_streams import StreamReader, StreamWriter
from .protocol import client as protocol
from .protocol.definition import SandboxDefinition
from .protocol.worker import parse_allowlist
from .sandbox_fs import SandboxFilesystem, operation
from .sandbox_snapshot import SandboxSnapshot
from .secret import check_secrets, ids_for_run
from .stream_type import StreamType
from .synchronizer import aio, aio_function, aio_iter_function
from .tunnel import Tunnel

POLL_S = 50.0


class Sandbox:
    """Example::

        app = ketch.App.lookup("interpreter", create_if_missing=True)
        sb = ketch.Sandbox.create(app=app, timeout=600)
        p = sb.exec("python", "-c", "print(6 * 7)")
        assert p.stdout.read() == "42\\n"
        sb.terminate()
    """

    def __init__(self, sandbox_id: str, info: protocol.SandboxInfo | None = None) -> None:
        self._object_id = sandbox_id
        self._info = info
        self._client = CURRENT.get()  # the client= it was made with: its calls use it
        self._stdout: StreamReader[str] = StreamReader(sandbox_id, 0, "stdout")
        self._stderr: StreamReader[str] = StreamReader(sandbox_id, 0, "stderr")
        self._stdin = StreamWriter(sandbox_id, 0)

    @aio_function
    async def create(*entrypoint_args: str, app: Any = None, name: str | None = None,
                     image: Any = None, secrets: Sequence[Any] = (),
                     volumes: dict[str, Any] | None = None, timeout: float | None = None,
                     idle_timeout: float | None = None, workdir: str | None = None,
                     env: dict[str, str | None] | None = None, gpu: Any = None,
                     cpu: float | tuple[float, float] | None = None,
                     memory: int | tuple[int, int] | None = None, block_network: bool = False,
                     cidr_allowlist: Sequence[str] | None = None,
                     outbound_cidr_allowlist: Sequence[str] | None = None,
                     encrypted_ports: Sequence[int] = (), unencrypted_ports: Sequence[int] = (),
                     h2_ports: Sequence[int] = (), readiness_probe: Any = None,
                     ephemeral_disk: int | None = None, runtime: str | None = None,
                     environment_name: str | None = None,
                     cloud: str | None = None, region: str | Sequence[str] | None = None,
                     verbose: bool = False, client: Any = None,
                     _experimental_enable_snapshot: bool = False) -> Sandbox:
        """Start a sandbox running ``entrypoint_args`` (none: it idles until it ends).

        ketch's own: ``ephemeral_disk`` (MiB, default 4096) bounds what it may write;
        ``runtime`` picks "gvisor" or "namespace" (default: gvisor where installed). With
        ``_experimental_enable_snapshot``, a sandbox that cannot be snapshotted (not on
        gVisor) is refused here rather than at its snapshot."""
        use(client)
        definition = _definition(
            entrypoint_args, name=name, image=image, secrets=secrets, volumes=volumes,
            timeout=timeout, idle_timeout=idle_timeout, workdir=workdir, env=env, gpu=gpu,
            cpu=cpu, memory=memory, block_network=block_network,
            cidr_allowlist=cidr_allowlist if cidr_allowlist is not None
            else outbound_cidr_allowlist,
            ports=[*encrypted_ports, *unencrypted_ports, *h2_ports],
            readiness_probe=readiness_probe, runtime=runtime, ephemeral_disk=ephemeral_disk,
            enable_snapshot=bool(_experimental_enable_snapshot))
        connection = await get_client()
        environment = environment_name or (app.environment_name if app is not None else "") \
            or config.environment()
        definition.image = await resolve_secrets(definition.image, connection, environment)
        if secrets:
            definition.secrets = (await ids_for_run(connection, {"": list(secrets)},
                                                    environment))[""]
        if volumes:
            definition.volumes = {path: (await volume._resolve())[1]
                                  for path, volume in volumes.items()
                                  if not isinstance(volume, CloudBucketMount)}
            definition.cloud_bucket_mounts = await bucket_wires(connection, volumes, environment)
        app_id = app.app_id if app is not None else None
        if app is not None and app_id is None:
            app_id = (await connection.request(protocol.AppLookup(
                name=app.name or "", create_if_missing=True, environment=environment))).app_id
        answer = await connection.request(protocol.SandboxCreate(
            app_id=app_id, definition=definition, environment=environment))
        return Sandbox(answer.sandbox_id)

    @aio_function
    async def from_id(sandbox_id: str, client: Any = None) -> Sandbox:
        """A handle on a sandbox this or another program started."""
        use(client)
        return Sandbox(sandbox_id, await send(protocol.SandboxGet(sandbox_id=sandbox_id)))

    @aio_function
    async def from_name(app_name: str, name: str, *, environment_name: str | None = None,
                        client: Any = None) -> Sandbox:
        """The running sandbox created with ``name=`` in the app named ``app_name``."""
        use(client)
        info = await send(protocol.SandboxFromName(
            app_name=app_name, name=name, environment=environment_name or config.environment()))
        return Sandbox(info.sandbox_id, info)

    @aio_iter_function
    async def list(*, app_id: str | None = None, tags: dict[str, str] | None = None,
                   environment_name: str | None = None, client: Any = None
                   ) -> AsyncIterator[builtins.list[Sandbox]]:
        """The running sandboxes of the environment (of one app, with all of ``tags``)."""
        use(client)
        answer = await send(protocol.SandboxList(
            app_id=app_id, tags=tags, environment=environment_name or config.environment()))
        yield [Sandbox(info.sandbox_id, info) for info in answer.sandboxes]

    @property
    def object_id(self) -> str:
        return self._object_id

    @property
    def stdout(self) -> StreamReader[str]:
        return self._stdout

    @property
    def stderr(self) -> StreamReader[str]:
        return self._stderr

    @property
    def stdin(self) -> StreamWriter:
        return self._stdin

    @property
    def returncode(self) -> int | None:
        """Its command's exit status once it has ended (124 after its timeout, 137 when
        terminated, as Modal reports them); None while it runs."""
        return self._info.returncode if self._info is not None and self._info.done else None

    @aio
    async def wait(self, raise_on_termination: bool = True) -> None:
        """Wait for it to end. Raises `SandboxTimeoutError` if its timeout ended it, and
        `SandboxTerminatedError` if it was terminated (unless ``raise_on_termination=False``)."""
        while self._info is None or not self._info.done:
            self._info = await send(protocol.SandboxWait(sandbox_id=self._object_id,
                                                         timeout=POLL_S))
        status = self._info.status
        if status == "timeout":
            raise exception.SandboxTimeoutError(self._info.reason)
        if status == "terminated" and raise_on_termination:
            raise exception.SandboxTerminatedError(self._info.reason)

    @aio
    async def poll(self) -> int | None:
        """Its exit status if it has ended, without waiting; else None."""
        self._info = await send(protocol.SandboxWait(sandbox_id=self._object_id, timeout=0))
        return self.returncode

    @aio
    async def terminate(self, *, wait: bool = False) -> int | None:
        """End it now (a no-op once it has ended); with ``wait``, its exit status."""
        self._info = await send(protocol.SandboxTerminate(sandbox_id=self._object_id))
        return self.returncode if wait else None

    def detach(self) -> None:
        """Let it go on without this handle, which holds no connection of its own: the
        sandbox runs until it ends by itself, its timeout, or ``Sandbox.from_id(id).terminate()``."""

    @aio
    async def set_tags(self, tags: dict[str, str], *, client: Any = None) -> None:
        await send(protocol.SandboxTagsSet(sandbox_id=self._object_id, tags=tags))

    @aio
    async def get_tags(self) -> dict[str, str]:
        self._info = await send(protocol.SandboxGet(sandbox_id=self._object_id))
        return dict(self._info.tags)

    @aio
    async def exec(self, *args: str, stdout: StreamType = StreamType.PIPE,
                   stderr: StreamType = StreamType.PIPE, timeout: float | None = None,
                   workdir: str | None = None, env: dict[str, str | None] | None = None,
                   secrets: Sequence[Any] | None = None, text: bool = True,
                   bufsize: int = -1, pty: bool = False, pty_info: Any = None) -> ContainerProcess[Any]:
        """Run ``args`` in the sandbox, beside what already runs there. With ``pty=True`` it
        runs on a terminal (``pty_info``: ``{"rows", "cols"}``, else this one's size), and
        all its output comes on ``stdout``."""
        argv = _argv(args, "sb.exec")
        if bufsize not in (-1, 1):
            raise exception.InvalidError("bufsize must be -1 (chunks as they come) or 1 (lines)")
        if timeout is not None:
            options._number("timeout", timeout)
        secret_ids: builtins.list[str] = []
        if secrets:
            check_secrets(list(secrets))
            secret_ids = (await ids_for_run(await get_client(), {"": list(secrets)}, ""))[""]
        answer = await send(protocol.SandboxExec(
            sandbox_id=self._object_id, argv=argv, workdir=workdir, env=_env(env),
            timeout=timeout, secrets=secret_ids,
            piping={"stdout": _piping(stdout), "stderr": _piping(stderr)},
            pty=_terminal_size(pty_info) if pty or pty_info is not None else None))
        process: ContainerProcess[Any] = ContainerProcess(
            self._object_id, answer.process, text=text, by_line=bufsize == 1,
            stdout_piped=stdout is not StreamType.DEVNULL,
            stderr_piped=stderr is not StreamType.DEVNULL)
        for kind, reader, target in ((stdout, process.stdout, sys.stdout),
                                     (stderr, process.stderr, sys.stderr)):
            if kind is StreamType.STDOUT:
                import asyncio

                asyncio.ensure_future(_print(reader, target))
        return process

    @aio
    async def tunnels(self, timeout: int = 50) -> dict[int, Tunnel]:
        """Where each of its ``encrypted_ports``/``unencrypted_ports`` is reached, by port."""
        answer = await send(protocol.SandboxTunnels(sandbox_id=self._object_id))
        return {int(port): Tunnel(host, at, host, at)
                for port, (host, at) in answer.tunnels.items()}

    @aio
    async def wait_until_ready(self, *, timeout: float = 300) -> None:
        """Wait for its ``readiness_probe`` to pass (`TimeoutError` after ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            answer = await send(protocol.SandboxReady(sandbox_id=self._object_id,
                                                      timeout=min(left, POLL_S)))
            if answer.ready:
                return
            if answer.done:
                raise exception.SandboxTerminatedError(
                    f"the sandbox ended before it was ready: {answer.reason}")
        raise exception.TimeoutError(f"the sandbox was not ready within {timeout:g} s")

    @aio
    async def _experimental_snapshot(self) -> SandboxSnapshot:
        """Save the sandbox's memory and files (it pauses about a second, then goes on), for
        new sandboxes to start from (`ketch.sandbox_snapshot`). gVisor sandboxes only."""
        answer = await send(protocol.SandboxSnapshotMemory(sandbox_id=self._object_id))
        return SandboxSnapshot(answer.snapshot_id, self._client)

    @aio_function
    async def _experimental_from_snapshot(snapshot: SandboxSnapshot, client: Any = None, *,
                                          name: str | None = None) -> Sandbox:
        """A new sandbox whose processes go on from ``snapshot``, in its app; ``name``
        names it (by default it has none: the original may still run under its own)."""
        if not isinstance(snapshot, SandboxSnapshot):
            raise exception.InvalidError("_experimental_from_snapshot takes a SandboxSnapshot "
                                         f"(sb._experimental_snapshot()), not {snapshot!r}")
        use(client or snapshot._client)
        answer = await send(protocol.SandboxRestore(snapshot_id=snapshot.object_id, name=name))
        return Sandbox(answer.sandbox_id)

    @aio
    async def snapshot_filesystem(self, timeout: int = 55) -> Image:
        """An image of the sandbox's files as they are now (on its image), which later
        sandboxes and functions on this machine can start from."""
        answer = await send(protocol.SandboxSnapshot(sandbox_id=self._object_id))
        return Image(answer.steps)

    # -- files -------------------------------------------------------------------------------

    @property
    def filesystem(self) -> SandboxFilesystem:
        """Whole files in and out: ``read_text``, ``write_bytes``, ``copy_to_local``, …"""
        filesystem = SandboxFilesystem(self._object_id)
        filesystem._client = self._client
        return filesystem


    def open(self, path: str, mode: str = "r") -> FileIO[Any]:
        """A file in the sandbox, as the builtin ``open`` gives one (modes r, w, a; b)."""
        file: FileIO[Any] = FileIO(self._object_id, path, mode)
        file._client = self._client
        return file

    @aio
    async def ls(self, path: str) -> builtins.list[str]:
        meta, _ = await operation(self._object_id, {"op": "ls", "path": path})
        return list(meta["entries"])

    @aio
    async def mkdir(self, path: str, parents: bool = False) -> None:
        await operation(self._object_id, {"op": "mkdir", "path": path, "parents": parents})

    @aio
    async def rm(self, path: str, recursive: bool = False) -> None:
        await operation(self._object_id, {"op": "rm", "path": path, "recursive": recursive})

    def __repr__(self) -> str:
        return f"Sandbox({self._object_id!r})"


async def _print(reader: StreamReader[Any], target: Any) -> None:
    async for chunk in reader:
        target.write(chunk)
        target.flush()


def _terminal_size(pty_info: Any) -> protocol.TerminalSize:
    """``{rows, cols}`` from ``pty_info``: such a dict, or Modal's ``PTYInfo`` (``winsz_rows``,
    ``winsz_cols``); else the size of this process's terminal (80x24 without one)."""
    if isinstance(pty_info, dict):
        rows, cols = pty_info.get("rows"), pty_info.get("cols")
    elif pty_info is not None:
        rows, cols = getattr(pty_info, "winsz_rows", None), getattr(pty_info, "winsz_cols", None)
    else:
        import shutil

        cols, rows = shutil.get_terminal_size()
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 1 << 16
               for n in (rows, cols)):
        raise exception.InvalidError(f"pty_info gives a terminal's size as {{'rows': 24, "
                                     f"'cols': 80}}, not {pty_info!r}")
    return protocol.TerminalSize(rows=rows, cols=cols)  # type: ignore[arg-type]


def _piping(kind: StreamType) -> protocol.Piping:
    if not isinstance(kind, StreamType):
        raise exception.InvalidError(f"stdout/stderr take a ketch.StreamType, not {kind!r}")
    return "devnull" if kind is StreamType.DEVNULL else "pipe"


def _argv(args: Sequence[Any], where: str) -> list[str]:
    bad = [a for a in args if not isinstance(a, str)]
    if bad:
        raise exception.InvalidError(
            f"{where} takes the command as strings, as in {where}(\"python\", \"-c\", "
            f"\"print(1)\"); got {type(bad[0]).__name__} {bad[0]!r}")
    return list(args)


def _env(env: dict[str, str | None] | None) -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in env.items()):
        raise exception.InvalidError("env must be a dict of str to str (or None to leave a "
                                     "variable unset)")
    return {k: v for k, v in env.items() if v is not None}


def _definition(command: Sequence[Any], *, secrets: Sequence[Any], volumes: Any,
                image: Any, ports: list[int], readiness_probe: Any, env: Any,
                **fields: Any) -> SandboxDefinition:
    """The sandbox's definition, checked here (before anything starts) as far as it can be."""
    argv = _argv(command, "Sandbox.create")
    checked = options.validate({"cpu": fields["cpu"], "memory": fields["memory"],
                                "gpu": fields["gpu"], "runtime": fields["runtime"],
                                "volumes": volumes, "image": image,
                                "secrets": list(secrets) if secrets else None})
    for name in ("timeout", "idle_timeout", "ephemeral_disk"):
        if fields[name] is not None:
            options._number(name, fields[name])
    for port in ports:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise exception.InvalidError(f"ports are ints from 1 to 65535, not {port!r}")
    if ports and fields["block_network"]:
        raise exception.InvalidError("a sandbox with block_network=True cannot expose ports; "
                                     "drop the ports, or allow the network")
    allowlist = fields["cidr_allowlist"]
    if allowlist is not None and (isinstance(allowlist, str) or
                                  not all(isinstance(c, str) for c in allowlist)):
        raise exception.InvalidError("cidr_allowlist is a list of CIDR strings, such as "
                                     "['10.0.0.0/8']")
    try:
        parse_allowlist(list(allowlist) if allowlist is not None else None)
    except ValueError as exc:
        raise exception.InvalidError(str(exc)) from None
    return SandboxDefinition(
        command=argv, name=fields["name"], timeout=fields["timeout"],
        idle_timeout=fields["idle_timeout"], workdir=fields["workdir"], env=_env(env),
        cpu=checked.get("cpu"), memory=checked.get("memory"), gpu=checked["gpu"],
        runtime=checked["runtime"], block_network=bool(fields["block_network"]),
        cidr_allowlist=list(allowlist) if allowlist is not None else None,
        image=image.to_wire() if image is not None else None, ports=ports,
        readiness_probe=readiness_probe.to_wire() if readiness_probe is not None else None,
        ephemeral_disk=fields["ephemeral_disk"], enable_snapshot=fields["enable_snapshot"])
