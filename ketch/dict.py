"""`Dict`: a distributed dictionary kept by the control plane, as Modal's ``modal.Dict``.

Keys and values are pickled with cloudpickle; two keys are the same key when they pickle to the
same bytes (so ``1`` and ``1.0`` are different keys, unlike in a Python dict). Entries are kept
in the control plane's SQLite file: they outlive the process that wrote them and a restart of
the control plane.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from . import synchronizer
from .object import NamedObject
from .protocol import client as protocol
from .serialization import deserialize, serialize
from .synchronizer import aio, aio_iter

_MISSING = object()


class Dict(NamedObject):
    """A dictionary that functions, containers and other programs share.

    Example::

        d = ketch.Dict.from_name("cache", create_if_missing=True)
        d["answer"] = 42
        d.put("pi", 3.14, skip_if_exists=True)
        assert d.get("answer") == 42 and "pi" in d

        with ketch.Dict.ephemeral() as scratch:   # gone when the block ends
            scratch.update(a=1, b=2)
            assert list(scratch.items()) == [("a", 1), ("b", 2)]

        value = await d.get.aio("answer")   # in async code: every method has a .aio form
    """

    KIND = "dict"

    @aio
    async def get(self, key: Any, default: Any = None) -> Any:
        """The value of ``key``, or ``default`` when there is none."""
        return await self._get(key, default)

    @aio
    async def put(self, key: Any, value: Any, *, skip_if_exists: bool = False) -> bool:
        """Set ``key`` to ``value``. With ``skip_if_exists``, leave a key already there alone
        and return False."""
        client, dict_id = await self._resolve()
        answer = await client.request(protocol.DictPut(
            dict_id=dict_id, key=serialize(key, "dict key"),
            value=serialize(value, "dict value"), skip_if_exists=skip_if_exists))
        return bool(answer.created)

    @aio
    async def update(self, other: Mapping[Any, Any] | None = None, /, **kwargs: Any) -> None:
        """Set many keys at once, as ``dict.update`` does (all or none are written)."""
        pairs = {**(other or {}), **kwargs}
        items = [(serialize(k, "dict key"), serialize(v, "dict value")) for k, v in pairs.items()]
        client, dict_id = await self._resolve()
        await client.request(protocol.DictUpdate(dict_id=dict_id, items=items))

    @aio
    async def pop(self, key: Any) -> Any:
        """Remove ``key`` and return its value; KeyError when there is none."""
        client, dict_id = await self._resolve()
        answer = await client.request(protocol.DictPop(dict_id=dict_id,
                                                       key=serialize(key, "dict key")))
        if not answer.found:
            raise KeyError(key)
        return deserialize(answer.value, "dict value")

    @aio
    async def contains(self, key: Any) -> bool:
        """Whether ``key`` is in the dict."""
        client, dict_id = await self._resolve()
        answer = await client.request(protocol.DictContains(dict_id=dict_id,
                                                            key=serialize(key, "dict key")))
        return bool(answer.found)

    @aio
    async def len(self) -> int:
        """The number of entries."""
        client, dict_id = await self._resolve()
        return int((await client.request(protocol.DictLen(dict_id=dict_id))).len)

    @aio
    async def clear(self) -> None:
        """Remove every entry."""
        client, dict_id = await self._resolve()
        await client.request(protocol.DictClear(dict_id=dict_id))

    @aio_iter
    async def keys(self) -> AsyncIterator[list[Any]]:
        """The keys, in the order they were first put."""
        yield [deserialize(key, "dict key") for key, _ in await self._items()]

    @aio_iter
    async def values(self) -> AsyncIterator[list[Any]]:
        """The values, in the order their keys were first put."""
        yield [deserialize(value, "dict value") for _, value in await self._items()]

    @aio_iter
    async def items(self) -> AsyncIterator[list[tuple[Any, Any]]]:
        """``(key, value)`` pairs, in the order the keys were first put."""
        yield [(deserialize(key, "dict key"), deserialize(value, "dict value"))
               for key, value in await self._items()]

    def __getitem__(self, key: Any) -> Any:
        value = synchronizer.run(self._get(key, _MISSING))
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __setitem__(self, key: Any, value: Any) -> None:
        self.put(key, value)

    def __delitem__(self, key: Any) -> None:
        self.pop(key)

    def __contains__(self, key: Any) -> bool:
        return bool(self.contains(key))

    async def _get(self, key: Any, default: Any) -> Any:
        client, dict_id = await self._resolve()
        answer = await client.request(protocol.DictGet(dict_id=dict_id,
                                                       key=serialize(key, "dict key")))
        return deserialize(answer.value, "dict value") if answer.found else default

    async def _items(self) -> list[tuple[bytes, bytes]]:
        client, dict_id = await self._resolve()
        return list((await client.request(protocol.DictItems(dict_id=dict_id))).items)
