"""The SQLite store keeps spawned results until they expire."""

from __future__ import annotations

import asyncio
import time

import pytest

from ketch import exception
from ketch.protocol import client as protocol
from ketch.server import ControlPlane
from ketch.server.store import Store


def test_outputs_survive_reopening_and_expire(tmp_path):
    store = Store(tmp_path / "ketch.db")
    store.add_call("fc-1", "fu-1", "spawn", ttl_s=60, environment="main")
    store.set_call_inputs("fc-1", 2)
    store.add_outputs("fc-1", 0, [protocol.OutputRecord(index=0, status="ok", data=b"a"),
                                  protocol.OutputRecord(index=1, status="ok", data=b"b")])
    store.finish_call("fc-1")
    store.close()
    again = Store(tmp_path / "ketch.db")
    assert again.call("fc-1")["finished"] == 1
    assert again.outputs("fc-1", 1) == [protocol.OutputRecord(index=1, status="ok", data=b"b")]
    assert again.expire(time.time() + 3600) == 1
    assert again.call("fc-1") is None


def test_expired_call_reads_as_expired(tmp_path):
    async def main():
        cp = ControlPlane(tmp_path)
        await cp.start()
        try:
            cp.store.add_call("fc-old", "fu-1", "spawn", ttl_s=-1, environment="main")
            with pytest.raises(exception.OutputExpiredError):
                await cp.handle(protocol.OutputsGet(call_id="fc-old", cursor=0, timeout=0))
            with pytest.raises(exception.NotFoundError):
                await cp.handle(protocol.OutputsGet(call_id="fc-none", cursor=0, timeout=0))
        finally:
            await cp.close()

    asyncio.run(main())
