"""Named objects: their names and lifetimes, and the requests of dicts, queues, secrets and
network file systems.

Objects live in an environment: ``environment`` "" means the caller's own. Keys and values of
dicts and queues travel pickled, as bytes; a queue's partition None is its default partition.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from ..message import Answer, Message, Request
from .calls import Data

ObjectKind = Literal["dict", "nfs", "queue", "secret", "volume"]


class ObjectFound(Answer):
    object_id: str
    created: bool


class ObjectLookup(Request):
    KIND: ClassVar[str] = "object_lookup"
    ANSWER: ClassVar[type[Answer]] = ObjectFound
    kind: ObjectKind
    name: str
    create_if_missing: bool = False
    environment: str = ""  # "": the caller's own


class ObjectId(Answer):
    object_id: str


class ObjectCreateEphemeral(Request):
    """An unnamed object that lives until released (or its maker's control plane ends)."""

    KIND: ClassVar[str] = "object_create_ephemeral"
    ANSWER: ClassVar[type[Answer]] = ObjectId
    kind: ObjectKind
    environment: str = ""  # "": the caller's own


class ObjectRelease(Request):
    KIND: ClassVar[str] = "object_release"
    object_id: str


class ObjectDelete(Request):
    KIND: ClassVar[str] = "object_delete"
    kind: ObjectKind
    name: str
    environment: str = ""  # "": the caller's own


class ObjectInfo(Message):
    name: str
    id: str
    created: float


class Objects(Answer):
    objects: list[ObjectInfo]


class ObjectList(Request):
    KIND: ClassVar[str] = "object_list"
    ANSWER: ClassVar[type[Answer]] = Objects
    kind: ObjectKind
    environment: str = ""  # "": the caller's own


class ObjectRename(Request):
    KIND: ClassVar[str] = "object_rename"
    kind: ObjectKind
    name: str
    new_name: str
    environment: str = ""  # "": the caller's own


# -- dicts ----------------------------------------------------------------------------------


class Found(Answer):
    found: bool
    value: bytes | None = None


class Created(Answer):
    created: bool


class Length(Answer):
    len: int


class DictGet(Request):
    KIND: ClassVar[str] = "dict_get"
    ANSWER: ClassVar[type[Answer]] = Found
    dict_id: str
    key: bytes


class DictPut(Request):
    """``created`` is False when ``skip_if_exists`` found the key already there."""

    KIND: ClassVar[str] = "dict_put"
    ANSWER: ClassVar[type[Answer]] = Created
    dict_id: str
    key: bytes
    value: bytes
    skip_if_exists: bool = False


class DictUpdate(Request):
    KIND: ClassVar[str] = "dict_update"
    dict_id: str
    items: list[tuple[bytes, bytes]]


class DictPop(Request):
    KIND: ClassVar[str] = "dict_pop"
    ANSWER: ClassVar[type[Answer]] = Found
    dict_id: str
    key: bytes


class DictContains(Request):
    KIND: ClassVar[str] = "dict_contains"
    ANSWER: ClassVar[type[Answer]] = Found
    dict_id: str
    key: bytes


class DictLen(Request):
    KIND: ClassVar[str] = "dict_len"
    ANSWER: ClassVar[type[Answer]] = Length
    dict_id: str


class Items(Answer):
    items: list[tuple[bytes, bytes]]


class DictItems(Request):
    """Its entries in insertion order: every one, or ``limit`` from ``offset`` (a page)."""

    KIND: ClassVar[str] = "dict_items"
    ANSWER: ClassVar[type[Answer]] = Items
    dict_id: str
    offset: int = 0
    limit: int | None = None


class DictClear(Request):
    KIND: ClassVar[str] = "dict_clear"
    dict_id: str


# -- queues -------------------------------------------------------------------------------


class Values(Answer):
    values: list[bytes]


class QueuePut(Request):
    """Waits up to ``timeout`` (None: forever, 0: not at all) for room."""

    KIND: ClassVar[str] = "queue_put"
    queue_id: str
    values: list[bytes]
    partition: str | None = None
    timeout: float | None = None


class QueueGet(Request):
    """Up to ``n`` values, waiting up to ``timeout`` for the first."""

    KIND: ClassVar[str] = "queue_get"
    ANSWER: ClassVar[type[Answer]] = Values
    queue_id: str
    n: int = 1
    partition: str | None = None
    timeout: float | None = None


class QueueLen(Request):
    KIND: ClassVar[str] = "queue_len"
    ANSWER: ClassVar[type[Answer]] = Length
    queue_id: str
    partition: str | None = None
    total: bool = False


class QueueClear(Request):
    KIND: ClassVar[str] = "queue_clear"
    queue_id: str
    partition: str | None = None
    all: bool = False


class QueuePeek(Request):
    """The first ``n`` values, without removing them."""

    KIND: ClassVar[str] = "queue_peek"
    ANSWER: ClassVar[type[Answer]] = Values
    queue_id: str
    n: int = 1
    partition: str | None = None


# -- secrets -----------------------------------------------------------------------------


class SecretId(Answer):
    secret_id: str


class SecretCreate(Request):
    """A named secret, or an ephemeral one when ``name`` is None."""

    KIND: ClassVar[str] = "secret_create"
    ANSWER: ClassVar[type[Answer]] = SecretId
    name: str | None
    values: dict[str, str]
    overwrite: bool = False
    environment: str = ""  # "": the caller's own


class SecretLookup(Request):
    """`NotFoundError` naming what is missing when it lacks ``required_keys``."""

    KIND: ClassVar[str] = "secret_lookup"
    ANSWER: ClassVar[type[Answer]] = SecretId
    name: str
    required_keys: list[str] = []
    environment: str = ""  # "": the caller's own


class KeyNames(Answer):
    keys: list[str]


class SecretKeys(Request):
    """A secret's key names, never their values."""

    KIND: ClassVar[str] = "secret_keys"
    ANSWER: ClassVar[type[Answer]] = KeyNames
    secret_id: str


# -- network file systems: paths are inside the file system --------------------------------


class FileEntry(Message):
    path: str
    type: Literal["file", "directory", "symlink"]
    size: int
    mtime: float


class Entries(Answer):
    entries: list[FileEntry]


class Written(Answer):
    bytes: int


class NfsWrite(Request):
    KIND: ClassVar[str] = "nfs_write"
    ANSWER: ClassVar[type[Answer]] = Written
    nfs_id: str
    path: str
    data: bytes


class NfsRead(Request):
    KIND: ClassVar[str] = "nfs_read"
    ANSWER: ClassVar[type[Answer]] = Data
    nfs_id: str
    path: str


class NfsListdir(Request):
    KIND: ClassVar[str] = "nfs_listdir"
    ANSWER: ClassVar[type[Answer]] = Entries
    nfs_id: str
    path: str
    recursive: bool = False


class NfsRemove(Request):
    KIND: ClassVar[str] = "nfs_remove"
    nfs_id: str
    path: str
    recursive: bool = False


__all__ = [
    "Created", "DictClear", "DictContains", "DictGet", "DictItems", "DictLen", "DictPop",
    "DictPut", "DictUpdate", "Entries", "FileEntry", "Found", "Items", "KeyNames", "Length",
    "NfsListdir", "NfsRead", "NfsRemove", "NfsWrite", "ObjectCreateEphemeral", "ObjectDelete",
    "ObjectFound", "ObjectId", "ObjectInfo", "ObjectKind", "ObjectList", "ObjectLookup",
    "ObjectRelease", "ObjectRename", "Objects", "QueueClear", "QueueGet", "QueueLen",
    "QueuePeek", "QueuePut", "SecretCreate", "SecretId", "SecretKeys", "SecretLookup", "Values",
    "Written",
]
