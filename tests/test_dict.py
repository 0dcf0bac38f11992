"""`ketch.Dict` through the embedded control plane, and inside real containers."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest

import ketch
from ketch import exception

from apps import dicts_queues


def fresh_name() -> str:
    return f"d-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def d():
    with ketch.Dict.ephemeral() as scratch:
        yield scratch


@pytest.fixture(scope="module")
def running():
    with dicts_queues.app.run():
        yield


def test_get_put_pop_and_the_mapping_protocol(d):
    assert d.get("missing") is None and d.get("missing", 7) == 7
    assert d.put("a", 1) is True
    d["b"] = {"nested": [1, 2]}
    assert d["a"] == 1 and d.get("b") == {"nested": [1, 2]}
    assert "a" in d and d.contains("b") and "zzz" not in d
    assert d.len() == 2
    assert d.pop("a") == 1
    del d["b"]
    assert d.len() == 0
    with pytest.raises(KeyError):
        d["a"]
    with pytest.raises(KeyError):
        d.pop("a")
    with pytest.raises(KeyError):
        del d["a"]


def test_put_skip_if_exists_leaves_the_old_value(d):
    assert d.put("k", "first", skip_if_exists=True) is True
    assert d.put("k", "second", skip_if_exists=True) is False
    assert d["k"] == "first"
    assert d.put("k", "third") is True
    assert d["k"] == "third"


def test_update_and_iteration_keep_first_insertion_order(d):
    d.update({"z": 1, "y": 2}, x=3)
    d["z"] = 10  # a new value keeps the key's place
    d.update({"w": 4})
    assert list(d.keys()) == ["z", "y", "x", "w"]
    assert list(d.values()) == [10, 2, 3, 4]
    assert list(d.items()) == [("z", 10), ("y", 2), ("x", 3), ("w", 4)]
    d.pop("y")
    d["y"] = 5  # popped and put again: now last, as in a Python dict
    assert list(d.keys()) == ["z", "x", "w", "y"]
    d.clear()
    assert d.len() == 0 and list(d.items()) == []


def test_keys_are_any_picklable_object_compared_by_their_pickle(d):
    d[("tuple", 1)] = "t"
    d[frozenset({1, 2})] = "f"
    d[None] = "none"
    d[1] = "int"
    d[1.0] = "float"  # pickles differently from 1, so a different key
    assert d[("tuple", 1)] == "t" and d[frozenset({1, 2})] == "f" and d[None] == "none"
    assert (d[1], d[1.0]) == ("int", "float")


def test_unpicklable_values_fail_clearly_before_reaching_the_server(d):
    with pytest.raises(exception.SerializationError, match="dict value cannot be pickled"):
        d["lock"] = threading.Lock()
    assert d.len() == 0


def test_aio_forms():
    async def go(d):
        assert await d.put.aio("k", 1) is True
        await d.update.aio(j=2)
        assert await d.get.aio("k") == 1
        assert await d.contains.aio("j")
        assert await d.len.aio() == 2
        assert [k async for k in d.keys.aio()] == ["k", "j"]
        assert [v async for v in d.values.aio()] == [1, 2]
        assert [kv async for kv in d.items.aio()] == [("k", 1), ("j", 2)]
        assert await d.pop.aio("k") == 1
        await d.clear.aio()
        return await d.len.aio()

    with ketch.Dict.ephemeral() as d:
        assert asyncio.run(go(d)) == 0


def test_named_dicts_are_shared_and_missing_ones_say_how_to_create_them():
    name = fresh_name()
    with pytest.raises(exception.NotFoundError, match="create_if_missing=True"):
        ketch.Dict.from_name(name).get("x")
    ketch.Dict.from_name(name, create_if_missing=True)["x"] = 1
    assert ketch.Dict.from_name(name)["x"] == 1  # another handle, the same dict


def test_delete_drops_the_entries():
    name = fresh_name()
    d = ketch.Dict.from_name(name, create_if_missing=True)
    d["x"] = 1
    ketch.Dict.delete(name)
    with pytest.raises(exception.NotFoundError):
        d.get("x")  # the old handle's id is gone
    assert ketch.Dict.from_name(name, create_if_missing=True).len() == 0


def test_an_ephemeral_dict_is_gone_after_its_block():
    with ketch.Dict.ephemeral() as d:
        d["x"] = 1
    with pytest.raises(exception.NotFoundError):
        d.get("x")


def test_a_dict_passed_to_a_function_is_the_same_dict_in_the_container(running, d):
    d["seen"] = 41
    assert dicts_queues.count_in_dict.remote(d, "seen") == (42, ["seen"], "Dict")
    assert d["seen"] == 42
    assert dicts_queues.count_in_dict.remote(d, "seen")[0] == 43
    name = fresh_name()
    ketch.Dict.from_name(name, create_if_missing=True)["k"] = "by name"
    assert dicts_queues.dict_by_name.remote(name, "k") == "by name"
