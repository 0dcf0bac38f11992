"""Long-poll readers waiting until something new arrives, or their timeout passes."""

from __future__ import annotations

import asyncio


class Wakeup:
    """Example::

        wakeup = Wakeup()
        await wakeup.wait(timeout=5.0)   # elsewhere: wakeup.wake()
    """

    def __init__(self) -> None:
        self._waiters: list[asyncio.Future[None]] = []

    async def wait(self, timeout: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            pass

    @property
    def waiting(self) -> int:
        """How many wait now (one whose wait was cancelled counts until the next wake)."""
        return len(self._waiters)

    def wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
