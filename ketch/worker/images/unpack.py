"""Unpack an OCI layer (a tar, gzip- or zstd-compressed) into a layer folder, as it arrives.

The bytes go through `tar` (and its decompressor) as they are downloaded, so download,
decompression and unpacking overlap, each in its own process; the digest is checked on the
way. GNU tar keeps every name inside the folder: it refuses ``..`` and absolute names and
writes no file through a link the archive made. Owners are kept by number, not by this
machine's user names.

What the archive says in OCI's terms becomes overlayfs's: ``.wh.NAME`` (NAME deleted from the
layers below) a whiteout device, ``.wh..wh..opq`` (the folder hides what lies below it) the
``trusted.overlay.opaque`` attribute. Device nodes are dropped (a container gets its /dev from
ketch, never from an image) and ``trusted.*`` attributes are never taken from an archive.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import stat
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from ... import exception

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def tar_options(media_type: str) -> list[str]:
    """tar's decompression option for a layer's media type."""
    if media_type.endswith(("+gzip", ".gzip")):
        # pigz decompresses with about half gzip's CPU (its reading, writing and checksum in
        # threads of their own): a pull is bound by that CPU and the disk
        return ["--use-compress-program=pigz"] if shutil.which("pigz") else ["--gzip"]
    if media_type.endswith("+zstd"):
        if shutil.which("zstd") is None:
            raise exception.InvalidError("this image has zstd-compressed layers: install zstd "
                                         "(apt install zstd) on the worker")
        return ["--zstd"]
    if media_type.endswith(".tar"):
        return []
    raise exception.InvalidError(f"ketch cannot unpack a layer of type {media_type!r}; it "
                                 "unpacks tar layers, uncompressed, gzip or zstd")


async def unpack(chunks: AsyncIterator[bytes], digest: str, media_type: str, fs: Path,
                 progress: Callable[[int], None]) -> None:
    """Unpack the layer whose compressed bytes ``chunks`` yields into the folder ``fs``;
    raise, leaving ``fs`` to be discarded, if its digest is not ``digest`` or tar fails."""
    options = tar_options(media_type)
    tar = await asyncio.create_subprocess_exec(
        "tar", "-x", "-f", "-", "-C", str(fs), "--numeric-owner", "--same-owner",
        "--same-permissions", "--xattrs", "--xattrs-include=*", "--xattrs-exclude=trusted.*",
        *options, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    assert tar.stdin is not None and tar.stderr is not None
    errors = asyncio.ensure_future(tar.stderr.read())
    digester = hashlib.sha256()
    try:
        async for chunk in chunks:
            digester.update(chunk)
            tar.stdin.write(chunk)
            await tar.stdin.drain()
            progress(len(chunk))
        tar.stdin.close()
        status = await tar.wait()
    except BaseException:
        if tar.returncode is None:
            tar.kill()
            await tar.wait()
        raise
    finally:
        message = (await errors).decode(errors="replace").strip()
    if "sha256:" + digester.hexdigest() != digest:
        raise exception.InvalidError(f"layer {digest} arrived with other bytes than its digest "
                                     "names (a broken mirror or proxy?); pull again")
    if status != 0 and "No space left on device" in message:
        raise exception.ResourceExhaustedError(
            f"layer {digest} does not fit: the disk of {fs.parent.parent} is full. Free space "
            "there (`ketch image prune` removes layers not used for a week), or move "
            "KETCH_HOME to a larger disk")
    if status != 0:
        raise exception.InvalidError(f"layer {digest} could not be unpacked (tar exited "
                                     f"{status}): {message[-500:]}")
    await asyncio.to_thread(to_overlay, fs)


def to_overlay(fs: Path) -> None:
    """Turn the OCI whiteouts under ``fs`` into overlayfs's, and drop device nodes."""
    for folder, dirs, files in os.walk(fs):
        for name in files + dirs:
            path = os.path.join(folder, name)
            if name == OPAQUE:
                os.unlink(path)
                os.setxattr(folder, "trusted.overlay.opaque", b"y")
            elif name.startswith(WHITEOUT):
                os.unlink(path)
                hidden = os.path.join(folder, name[len(WHITEOUT):])
                if not os.path.lexists(hidden):  # re-made in this very layer: it stays
                    os.mknod(hidden, 0o600 | stat.S_IFCHR, os.makedev(0, 0))
            elif name in files:
                info = os.lstat(path)
                device = stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                if device and not (stat.S_ISCHR(info.st_mode) and info.st_rdev == 0):
                    os.unlink(path)  # 0/0 is a whiteout already in overlayfs's form
