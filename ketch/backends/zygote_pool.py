"""A worker's zygotes: one per recipe, started on first use, retired when idle.

A zygote (`ketch.backends.zygotes`) is kept per `Recipe`: the same interpreter, image,
environment and working directory, and, with a memory snapshot, the same function, code and
parameters. The key changes with any of them, so a code change gets a new zygote and the old
one retires once its containers are gone. Idle zygotes retire after `IDLE_S`, beyond
`MAX_ZYGOTES`, and at once when the machine runs short of memory.

The pool also shares out the spares (`ketch.backends.zygote_spares`): once no fork has come for
`QUIET_S`, each zygote, the most recently used first, may keep as many as its bursts asked
for, within `MAX_SPARES` in all; one each when memory runs short.

Example::

    pool = ZygotePool()
    forked = await pool.fork(key, make_recipe, config, env, "ct-1a2b", Limits(memory_mib=512))
    status = await forked.process.wait()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..worker.cgroups import Limits
from .zygote_spares import MAX_SPARES, QUIET_S
from .zygotes import Forked, Recipe, Zygote, ZygoteError

IDLE_S = 600.0
MAX_ZYGOTES = 8
LOW_MEMORY_FRACTION = 0.1


class ZygotePool:
    def __init__(self) -> None:
        self._zygotes: dict[str, Zygote] = {}
        self._starting: dict[str, asyncio.Task[Zygote]] = {}
        self._failed: dict[str, str] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    async def fork(self, key: str, recipe: Callable[[], Recipe], config: dict[str, Any],
                   env: dict[str, str], name: str, limits: Limits) -> Forked:
        """A container forked from the zygote for ``key``, started from ``recipe()`` if there
        is none yet (so a start with a zygote at hand builds no recipe). Raises `ZygoteError`
        when there is none (it failed to start, now or before)."""
        self.reclaim()
        zygote = await self._zygote(key, recipe)
        try:
            forked = await zygote.fork(config, env, name, limits)
        except ZygoteError:
            self._zygotes.pop(key, None)
            zygote.kill()
            raise
        self._later("spares", QUIET_S, self.share_spares)
        self._later("reclaim", IDLE_S + 1, self.reclaim)
        return forked

    def _later(self, what: str, delay_s: float, action: Callable[[], None]) -> None:
        """Run ``action`` ``delay_s`` from now, instead of when it was due."""
        timer = self._timers.pop(what, None)
        if timer is not None:
            timer.cancel()
        self._timers[what] = asyncio.get_running_loop().call_later(delay_s, action)

    def share_spares(self) -> None:
        """Let each zygote keep the spares its bursts asked for, within `MAX_SPARES` in all."""
        now = time.monotonic()
        left, short = MAX_SPARES, memory_short()
        for zygote in sorted(self._zygotes.values(), key=lambda z: -z.last_used):
            count = 1 if short else max(1, min(zygote.demand.wanted(now), left))
            zygote.keep(count)
            left -= count

    def reclaim(self) -> None:
        """Retire zygotes idle too long, beyond the most kept, or all idle ones when memory
        runs short."""
        now = time.monotonic()
        idle = sorted((z for z in self._zygotes.values() if z.children == 0),
                      key=lambda z: z.last_used)
        excess = len(self._zygotes) - MAX_ZYGOTES
        short = bool(idle) and memory_short()  # only idle zygotes can go
        for zygote in idle:
            if short or excess > 0 or now - zygote.last_used > IDLE_S:
                self._zygotes.pop(zygote.recipe.key, None)
                zygote.retire()
                excess -= 1

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        await asyncio.gather(*self._starting.values(), return_exceptions=True)
        zygotes = list(self._zygotes.values())
        self._zygotes.clear()
        for zygote in zygotes:
            zygote.kill()
        await asyncio.gather(*(z.ended() for z in zygotes), return_exceptions=True)

    async def _zygote(self, key: str, recipe: Callable[[], Recipe]) -> Zygote:
        if key in self._failed:
            raise ZygoteError(self._failed[key])
        zygote = self._zygotes.get(key)
        if zygote is not None and zygote.alive:
            return zygote
        task = self._starting.get(key)
        if task is None:
            task = self._starting[key] = asyncio.ensure_future(self._start(recipe()))
        return await asyncio.shield(task)

    async def _start(self, recipe: Recipe) -> Zygote:
        zygote = Zygote(recipe)
        try:
            await zygote.start()
        except (ZygoteError, OSError) as exc:
            zygote.kill()
            self._failed[recipe.key] = str(exc)
            raise ZygoteError(str(exc)) from None
        finally:
            self._starting.pop(recipe.key, None)
        self._zygotes[recipe.key] = zygote
        return zygote


def memory_short() -> bool:
    """Whether less than a tenth of the machine's memory is available."""
    try:
        with open("/proc/meminfo") as f:
            info = {line.split(":")[0]: int(line.split()[1]) for line in f}
    except (OSError, ValueError, IndexError):
        return False
    return info.get("MemAvailable", 0) < LOW_MEMORY_FRACTION * info.get("MemTotal", 0)
