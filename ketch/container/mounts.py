"""Mounts a container makes itself: a volume's overlay, swapped for a newer version."""

from __future__ import annotations

import ctypes
import errno
import os

from .. import exception


def remount_overlay(mount: str, lower: str, upper: str, work: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.umount2(mount.encode(), 0) != 0:
        code = ctypes.get_errno()
        if code == errno.EBUSY:
            raise exception.InvalidError(
                f"reload() cannot swap the volume at {mount} while files under it are open "
                "(or a process has its working directory there); close them first"
            )
        raise exception.InternalError(f"unmounting {mount}: {os.strerror(code)}")
    options = f"lowerdir={lower},upperdir={upper},workdir={work}".encode()
    if libc.mount(b"overlay", mount.encode(), b"overlay", 0, options) != 0:
        code = ctypes.get_errno()
        raise exception.InternalError(f"mounting the new version at {mount}: {os.strerror(code)}")
