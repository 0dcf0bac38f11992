"""`Changes`: what live pages are told, and that a listener waits for it."""

from __future__ import annotations

import asyncio

from ketch.server.changes import Changes


def test_a_listener_is_told_what_changed_since_it_looked():
    async def go():
        changes = Changes()
        assert await changes.since(0, 0) == (0, set())
        changes.note("calls", "ap-1")
        changes.note("apps")
        version, changed = await changes.since(0, 0)
        assert version == 2 and changed == {("calls", "ap-1"), ("apps", "")}
        assert await changes.since(version, 0) == (2, set())
        waiting = asyncio.ensure_future(changes.since(version, 5.0))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        changes.note("containers", "ap-2")
        assert await waiting == (3, {("containers", "ap-2")})
        with changes.watching():
            assert changes.watchers == 1
        assert changes.watchers == 0
        started = asyncio.get_running_loop().time()
        assert await changes.since(3, 0.05) == (3, set())  # nothing came: back after the wait
        assert asyncio.get_running_loop().time() - started >= 0.04

    asyncio.run(go())
