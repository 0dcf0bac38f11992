"""Volumes: their files from anywhere, and commit and reload from the containers that mount
them. Paths are inside the volume."""

from __future__ import annotations

from typing import ClassVar

from ..message import Answer, Request
from .apps import Version
from .objects import Entries


class VolumeListdir(Request):
    KIND: ClassVar[str] = "volume_listdir"
    ANSWER: ClassVar[type[Answer]] = Entries
    volume_id: str
    path: str
    recursive: bool = False


class Chunk(Answer):
    data: bytes
    size: int  # the whole file's


class VolumeRead(Request):
    KIND: ClassVar[str] = "volume_read"
    ANSWER: ClassVar[type[Answer]] = Chunk
    volume_id: str
    path: str
    offset: int
    length: int


class UploadId(Answer):
    upload_id: str


class VolumeUpload(Request):
    """Write a chunk of a file into an upload (a new one when ``upload_id`` is None)."""

    KIND: ClassVar[str] = "volume_upload"
    ANSWER: ClassVar[type[Answer]] = UploadId
    volume_id: str
    path: str
    offset: int
    data: bytes
    upload_id: str | None = None


class VolumeUploadCommit(Request):
    """Make an upload's files part of the volume (a new version). Without ``force`` an upload
    that would overwrite a file fails."""

    KIND: ClassVar[str] = "volume_upload_commit"
    ANSWER: ClassVar[type[Answer]] = Version
    volume_id: str
    upload_id: str
    force: bool = False


class VolumeRemove(Request):
    KIND: ClassVar[str] = "volume_remove"
    volume_id: str
    path: str
    recursive: bool = False


class VolumeCopy(Request):
    KIND: ClassVar[str] = "volume_copy"
    volume_id: str
    src_paths: list[str]
    dst_path: str


class VolumeCommit(Request):
    """From a container: make its changes under the volume's mount the volume's latest state."""

    KIND: ClassVar[str] = "volume_commit"
    ANSWER: ClassVar[type[Answer]] = Version
    volume_id: str
    container_id: str


class Remount(Answer):
    """Where the latest version is, and the fresh layer to mount over it."""

    version: int
    lower: str
    upper: str
    work: str


class VolumeReload(Request):
    """From a container: the latest version, to mount it in place of its own."""

    KIND: ClassVar[str] = "volume_reload"
    ANSWER: ClassVar[type[Answer]] = Remount
    volume_id: str
    container_id: str


__all__ = [
    "Chunk", "Remount", "UploadId", "VolumeCommit", "VolumeCopy", "VolumeListdir",
    "VolumeRead", "VolumeReload", "VolumeRemove", "VolumeUpload", "VolumeUploadCommit",
]
