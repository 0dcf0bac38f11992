"""A gVisor sandbox's memory and files saved to a folder, and a new sandbox started from them:
Modal's sandbox memory snapshots, on runsc's ``checkpoint`` and ``restore``.

A snapshot folder holds ``memory/`` (runsc's checkpoint image: every process of the sandbox,
its sentry's kernel state and its file systems' cached state) and ``files/`` (a copy of the
sandbox's writable layer, what it changed of its image, /tmp included) and ``shm/`` (its
/dev/shm). Saving pauses the sandbox, checkpoints it (``--leave-running``), copies its files
and lets it go on: the files match the memory. The memory is saved uncompressed: it takes disk
as large as the sandbox's memory, and in exchange a 256 MiB sandbox pauses 0.6 s rather than
2.1 s (runsc's default flate) and restores in 0.6 s rather than 1.2 s
(bench/snapshot_bench.py). Restoring copies the files into the new
sandbox's writable layer before its root is mounted, then runs ``runsc restore`` where a new
sandbox runs ``runsc run``: its processes go on where the snapshot left them, on the new
sandbox's stdin and stdout (its supervisor's channel) and network.

Example::

    await checkpoint(runsc, handle, folder)          # the sandbox pauses for about a second
    await restore_files(folder, setup)               # before the new sandbox's launch
    runsc_action = restore_action(folder, bundle, container_id)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from .. import exception
from .sandboxing import SandboxSetup

Runsc = Callable[..., list[str]]  # the runsc command line for a sandbox's state, and args
READY_S = 10.0  # a sandbox just created may not have its runsc state yet


async def checkpoint(runsc: Runsc, runsc_id: str, setup: SandboxSetup, folder: Path) -> None:
    """Save the running sandbox ``runsc_id`` to ``folder``; it goes on running."""
    await _until_running(runsc, runsc_id)
    await _run(runsc("pause", runsc_id), "pausing the sandbox")
    try:
        await _run(runsc("checkpoint", "--leave-running", "--compression=none",
                         f"--image-path={folder / 'memory'}",
                         runsc_id), "checkpointing the sandbox")
        for part, inside in (("files", setup.disk / "upper"), ("shm", setup.disk / "shm")):
            await _copy(inside, folder / part)
    finally:
        await _run(runsc("resume", runsc_id), "resuming the sandbox", check=False)


async def restore_files(folder: Path, setup: SandboxSetup) -> None:
    """The snapshot's files into a new sandbox's writable layer, before its root is mounted."""
    for part, inside in (("files", setup.disk / "upper"), ("shm", setup.disk / "shm")):
        if (folder / part).is_dir():
            await _copy(folder / part, inside)


def restore_action(folder: Path, bundle: Path, container_id: str) -> list[str]:
    """runsc's subcommand for a sandbox restored from ``folder`` (in place of ``run``)."""
    return ["restore", f"--image-path={folder / 'memory'}", "--bundle", str(bundle),
            container_id]


async def _until_running(runsc: Runsc, runsc_id: str) -> None:
    deadline = time.monotonic() + READY_S
    while True:
        process = await asyncio.create_subprocess_exec(
            *runsc("state", runsc_id), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        out, _ = await process.communicate()
        if b'"running"' in out:
            return
        if time.monotonic() > deadline:
            raise exception.ExecutionError("the sandbox is not running under gVisor (runsc "
                                           "state says otherwise); it cannot be snapshotted")
        await asyncio.sleep(0.05)


async def _run(command: list[str], what: str, check: bool = True) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    _, err = await process.communicate()
    if check and process.returncode != 0:
        reason = err.decode(errors="replace").strip().splitlines()
        raise exception.ExecutionError(f"{what} failed: runsc said "
                                       f"{reason[-1] if reason else process.returncode}")


async def _copy(source: Path, target: Path) -> None:
    """``source``'s tree into ``target`` as it is: owners, modes, links, overlay whiteouts
    (device nodes) and opaque folders (xattrs) — what ``cp -a`` keeps and shutil does not."""
    target.mkdir(parents=True, exist_ok=True)
    await _run(["cp", "-a", f"{source}/.", str(target)], f"copying {source}")
