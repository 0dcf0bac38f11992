"""`NamedObject`: the handle shared by Dict, Queue, Secret and Volume.

A handle is lazy: ``Dict.from_name("cache")`` contacts nothing until it is used, then finds
(or, with ``create_if_missing=True``, makes) the object on the control plane. ``ephemeral()``
makes an unnamed object that lives until its ``with`` block ends. Handles pickle as their id,
so they can be passed to functions and used inside containers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

from . import config, exception, synchronizer
from .client import Client, get_client, given, send_blocking
from .protocol import client as protocol

ObjT = TypeVar("ObjT", bound="NamedObject")


class NamedObject:
    KIND: protocol.ObjectKind

    def __init__(self, *, object_id: str | None = None, name: str | None = None,
                 create_if_missing: bool = False, environment_name: str | None = None) -> None:
        self._object_id = object_id
        self.name = name
        self._create_if_missing = create_if_missing
        self._environment = environment_name or ""
        self._client: Client | None = None  # the client= it was found with, if any

    @classmethod
    def from_name(cls: type[ObjT], name: str, *, environment_name: str | None = None,
                  create_if_missing: bool = False, client: Any = None) -> ObjT:
        """A handle on the object called ``name`` (of ``environment_name``, else of
        ``KETCH_ENVIRONMENT`` or the caller's own), found when first used (through
        ``client``, when given)."""
        if not isinstance(name, str) or not name:
            raise exception.InvalidError(f"{cls.__name__}.from_name needs a name, not {name!r}")
        handle = cls(name=name, create_if_missing=create_if_missing,
                     environment_name=environment_name)
        handle._client = given(client)
        return handle

    @classmethod
    @contextlib.contextmanager
    def ephemeral(cls: type[ObjT], *, environment_name: str | None = None,
                  **_ignored: Any) -> Iterator[ObjT]:
        """An unnamed object that lives for the length of the ``with`` block."""
        obj = synchronizer.run(cls._create_ephemeral(environment_name))
        try:
            yield obj
        finally:
            synchronizer.run(obj._release())

    @classmethod
    @contextlib.asynccontextmanager
    async def _ephemeral_aio(cls: type[ObjT]) -> AsyncIterator[ObjT]:
        obj = await synchronizer.run_async(cls._create_ephemeral(None))
        try:
            yield obj
        finally:
            await synchronizer.run_async(obj._release())

    @classmethod
    async def _create_ephemeral(cls: type[ObjT], environment_name: str | None) -> ObjT:
        client = await get_client()
        answer = await client.request(protocol.ObjectCreateEphemeral(
            kind=cls.KIND, environment=environment_name or config.environment()))
        return cls(object_id=answer.object_id)

    async def _release(self) -> None:
        if self._object_id is not None:
            client = await get_client()
            await client.request(protocol.ObjectRelease(object_id=self._object_id))

    async def _resolve(self) -> tuple[Client, str]:
        """The client and the object's id, looking the name up on first use."""
        client = self._client or await get_client()
        if self._object_id is None:
            if self.name is None:
                raise exception.InvalidError(f"this {self.KIND} has neither a name nor an id")
            answer = await client.request(protocol.ObjectLookup(
                kind=self.KIND, name=self.name, create_if_missing=self._create_if_missing,
                environment=self._environment or config.environment()))
            self._object_id = answer.object_id
        return client, self._object_id

    @property
    def object_id(self) -> str:
        return synchronizer.run(self._resolve())[1]

    def hydrate(self: ObjT) -> ObjT:
        synchronizer.run(self._resolve())
        return self

    @classmethod
    def delete(cls, name: str, *, environment_name: str | None = None,
               **_ignored: Any) -> None:
        """Delete the object called ``name`` and everything it holds."""
        send_blocking(protocol.ObjectDelete(
            kind=cls.KIND, name=name, environment=environment_name or config.environment()))

    def __reduce__(self) -> tuple[Any, ...]:
        object_id = self._object_id or self.object_id
        return (_rebuild, (type(self), object_id, self.name))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name or self._object_id!r})"


def _rebuild(cls: type[ObjT], object_id: str, name: str | None) -> ObjT:
    return cls(object_id=object_id, name=name)
