"""``sb.filesystem``: whole files in and out of a running sandbox, as Modal's
``modal.sandbox_fs``.

Each operation runs inside the sandbox (its view, its limits), in pieces of at most half a
MiB. Paths in the sandbox must be absolute. A failure inside raises
`SandboxFilesystemNotFoundError`, `SandboxFilesystemIsADirectoryError` or
`SandboxFilesystemNotADirectoryError` (each also the builtin error of that name), or
`SandboxFilesystemError`.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any

from . import exception
from .client import CURRENT, send
from .protocol import client as protocol
from .synchronizer import aio

CHUNK = 1 << 19
ERRORS: dict[int, type[exception.SandboxFilesystemError]] = {
    errno.ENOENT: exception.SandboxFilesystemNotFoundError,
    errno.EISDIR: exception.SandboxFilesystemIsADirectoryError,
    errno.ENOTDIR: exception.SandboxFilesystemNotADirectoryError,
}


async def operation(sandbox_id: str, meta: dict[str, Any],
                    data: bytes = b"") -> tuple[dict[str, Any], bytes]:
    """One operation inside the sandbox (`ketch.protocol.supervisor`'s file ops): its result
    and data, or the `SandboxFilesystemError` its failure maps to."""
    answer = await send(protocol.SandboxFile(sandbox_id=sandbox_id, meta=meta, data=data))
    result = answer.meta
    if "error" in result:
        error = ERRORS.get(result.get("errno") or 0, exception.SandboxFilesystemError)
        raise error(result["error"])
    return result, answer.data


class SandboxFilesystem:
    """Example::

        sb.filesystem.write_text("print('hi')", "/work/main.py")   # makes /work too
        assert sb.filesystem.read_text("/work/main.py") == "print('hi')"
        sb.filesystem.copy_to_local("/work/main.py", "main.py")
    """

    def __init__(self, sandbox_id: str) -> None:
        self._sandbox_id = sandbox_id
        self._client = CURRENT.get()  # the client= of the call that made it, if any

    async def _op(self, meta: dict[str, Any], data: bytes = b"") -> tuple[dict[str, Any], bytes]:
        path = meta["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise exception.InvalidError(
                f"sb.filesystem takes absolute remote_path values, not {path!r}")
        return await operation(self._sandbox_id, meta, data)

    @aio
    async def read_bytes(self, remote_path: str) -> bytes:
        data = bytearray()
        while True:
            _, chunk = await self._op({"op": "read", "path": remote_path, "offset": len(data),
                                       "length": CHUNK})
            data += chunk
            if len(chunk) < CHUNK:
                return bytes(data)

    @aio
    async def read_text(self, remote_path: str) -> str:
        return (await self.read_bytes.aio(remote_path)).decode()

    @aio
    async def write_bytes(self, data: bytes | bytearray | memoryview, remote_path: str) -> None:
        """Write ``data`` as the file ``remote_path``, making the folders above it."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"write_bytes takes bytes, not {type(data).__name__}")
        data = bytes(data)
        for start in range(0, max(len(data), 1), CHUNK):
            await self._op({"op": "write", "path": remote_path, "append": start > 0,
                            "parents": True}, data[start:start + CHUNK])

    @aio
    async def write_text(self, data: str, remote_path: str) -> None:
        if not isinstance(data, str):
            raise TypeError(f"write_text takes str, not {type(data).__name__}")
        await self.write_bytes.aio(data.encode(), remote_path)

    @aio
    async def make_directory(self, remote_path: str) -> None:
        """Make the folder ``remote_path`` and those above it (nothing if it exists)."""
        await self._op({"op": "mkdir", "path": remote_path, "parents": True})

    @aio
    async def copy_from_local(self, local_path: str | os.PathLike[str], remote_path: str) -> None:
        local = Path(local_path)
        if local.is_dir():
            raise IsADirectoryError(errno.EISDIR, "copy_from_local copies a file", str(local))
        await self.write_bytes.aio(local.read_bytes(), remote_path)

    @aio
    async def copy_to_local(self, remote_path: str, local_path: str | os.PathLike[str]) -> None:
        """Copy the sandbox's file to ``local_path`` (making its folders); a local file of that
        name is replaced only once the whole file has arrived."""
        data = await self.read_bytes.aio(remote_path)
        local = Path(local_path)
        local.parent.mkdir(parents=True, exist_ok=True)
        if local.is_dir():
            raise IsADirectoryError(errno.EISDIR, "copy_to_local writes a file", str(local))
        fd, tmp = tempfile.mkstemp(dir=local.parent, prefix=".ketch-sandbox-fs-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, local)
        except BaseException:
            os.unlink(tmp)
            raise
