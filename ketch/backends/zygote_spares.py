"""How many spares a zygote keeps ready: one always, more after bursts.

A spare (`ketch.container.zygote`) is a container's pid 1 forked ahead of demand: in a cgroup
of its own and in new namespaces already, waiting for its container. A container that takes
one is left only its root's mounts, its agent and the user's module; the spare's making (the
cgroup, the fork, joining the cgroup, the namespaces) costs about as much CPU as it saves, so
spares pay off when they are made while the machine is quiet, before the starts that need them.

So a zygote keeps one spare in the making while it forks (the next container's, as before),
and remembers its bursts: the most forks it served within `BURST_S`, over the last
`REMEMBER_S`. Once no fork has come for `QUIET_S` it tops its spares up to that many, one at
a time, within `MAX_SPARES` for all the worker's zygotes. Each spare holds about 2 MB (the
pages it has written since the fork, measured at 1.7 MB; a cgroup; namespaces) and no
reservation of the node's capacity. Spares beyond the first are dropped when the burst that asked for them is older than
`REMEMBER_S` or memory runs short, and all go with their zygote.

Example::

    demand = SpareDemand()
    demand.forked(time.monotonic())      # at each fork
    demand.quiet(now), demand.wanted(now)
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass

from ..worker.cgroups import Cgroup

BURST_S = 1.0
QUIET_S = 0.1
REMEMBER_S = 600.0  # as long as an idle zygote is kept
MAX_SPARES = 64  # for all of a worker's zygotes: about 128 MB at most


@dataclass
class Spare:
    request_id: int
    cgroup: Cgroup
    ready: bool = False


class SpareDemand:
    """The forks one zygote served, and what they say about the next burst."""

    def __init__(self) -> None:
        self._recent: collections.deque[float] = collections.deque()  # within BURST_S
        self._peak = 0
        self._peak_at = -math.inf
        self._last = -math.inf

    def forked(self, now: float) -> None:
        self._last = now
        self._recent.append(now)
        while self._recent[0] <= now - BURST_S:
            self._recent.popleft()
        if len(self._recent) >= self._peak or now - self._peak_at > REMEMBER_S:
            self._peak, self._peak_at = len(self._recent), now

    def quiet(self, now: float) -> bool:
        """Whether no fork has come for `QUIET_S`: a burst, if any, is over."""
        return now - self._last >= QUIET_S

    def wanted(self, now: float) -> int:
        """Spares to keep: the largest burst remembered, at least one."""
        return max(1, self._peak if now - self._peak_at <= REMEMBER_S else 0)
