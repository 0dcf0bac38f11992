"""The systems under test, each behind the same small interface.

A system is measured inside ``runtime()`` (process-wide setup such as starting Ray). The warm
measurements (a, b) run inside ``warm()`` as well, which holds the workers warm; the cold start
(c) runs outside ``warm()``, because it has to begin with nothing warm.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.pool
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import workloads

# Measurement names, as in the design's targets table and the --only option.
WARM_CALL, MAP, COLD_START = "a", "b", "c"


@dataclass(frozen=True)
class ColdSample:
    first_result_s: float  # from "nothing running" to the first result in hand
    setup_s: float = 0.0  # work done before the clock started, recorded for information


class System:
    name: str = ""
    label: str = ""
    measures: frozenset[str] = frozenset({WARM_CALL, MAP, COLD_START})

    @contextlib.contextmanager
    def runtime(self) -> Iterator[None]:
        yield

    @contextlib.contextmanager
    def warm(self) -> Iterator[None]:
        yield

    def call(self) -> None:
        """One no-op round trip to a warm worker."""
        raise NotImplementedError

    def map(self, n: int) -> int:
        """Run the no-op over ``range(n)``; the number of results received."""
        raise NotImplementedError

    def cold_start(self) -> ColdSample:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Facts about the setup worth keeping with the numbers."""
        return {}


def _timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


class Ketch(System):
    name, label = "ketch", "ketch"

    @contextlib.contextmanager
    def warm(self) -> Iterator[None]:
        with workloads.app.run():
            yield

    def call(self) -> None:
        workloads.noop.remote()

    def map(self, n: int) -> int:
        return sum(1 for _ in workloads.noop.map(range(n)))

    def cold_start(self) -> ColdSample:
        # A fresh app run registers a new function, so no container of it exists yet. Creating
        # the app is a couple of requests to the control plane, kept out of the figure (the
        # brief times the first .remote()) but recorded.
        start = time.perf_counter()
        with workloads.app.run():
            entered = time.perf_counter()
            workloads.noop.remote()
            done = time.perf_counter()
        return ColdSample(done - entered, entered - start)


class Pool(System):
    name, label = "multiprocessing", "mp.Pool"

    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._pool: multiprocessing.pool.Pool | None = None

    @contextlib.contextmanager
    def warm(self) -> Iterator[None]:
        with multiprocessing.Pool(self.processes) as pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def call(self) -> None:
        assert self._pool is not None
        self._pool.apply(workloads.plain_noop)

    def map(self, n: int) -> int:
        assert self._pool is not None
        return len(self._pool.map(workloads.plain_noop, range(n)))

    def cold_start(self) -> ColdSample:
        start = time.perf_counter()
        pool = multiprocessing.Pool(1)
        try:
            pool.apply(workloads.plain_noop)
            return ColdSample(time.perf_counter() - start)
        finally:
            pool.terminate()
            pool.join()

    def info(self) -> dict[str, Any]:
        return {"processes": self.processes, "start_method": multiprocessing.get_start_method()}


class Subprocess(System):
    """The floor for a cold start that begins a new interpreter: ``python -c pass``."""

    name, label = "subprocess", "subprocess"
    measures = frozenset({COLD_START})

    def cold_start(self) -> ColdSample:
        command = [sys.executable, "-c", "pass"]
        return ColdSample(_timed(lambda: subprocess.run(command, check=True)))

    def info(self) -> dict[str, Any]:
        return {"command": [sys.executable, "-c", "pass"]}


class Ray(System):
    name, label = "ray", "Ray"

    def __init__(self, num_cpus: int, warmup_tasks: int) -> None:
        self.num_cpus = num_cpus
        self.warmup_tasks = warmup_tasks
        self._facts: dict[str, Any] = {}
        self._noop: Any = None
        self._actor: Any = None
        self._actor_pids: list[int] = []

    @contextlib.contextmanager
    def runtime(self) -> Iterator[None]:
        import ray

        start = time.perf_counter()
        ray.init(num_cpus=self.num_cpus, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.ERROR)
        self._facts = {"version": ray.__version__, "num_cpus": self.num_cpus,
                       "init_s": round(time.perf_counter() - start, 3)}
        try:
            self._noop, self._actor = _ray_workloads(ray)
            # Ray starts its workers lazily: the first tasks pay for them, and they are not what
            # any of the measurements is about.
            start = time.perf_counter()
            ray.get([self._noop.remote(i) for i in range(self.warmup_tasks)])
            self._facts["warmup_s"] = round(time.perf_counter() - start, 3)
            yield
        finally:
            ray.shutdown()

    def call(self) -> None:
        import ray

        ray.get(self._noop.remote())

    def map(self, n: int) -> int:
        import ray

        return len(ray.get([self._noop.remote(i) for i in range(n)]))

    def cold_start(self) -> ColdSample:
        import ray

        # An actor gets a worker process started for it (the warm task workers are not reused),
        # which makes it Ray's nearest equivalent of "no container running". The pids are kept
        # to confirm that each actor really had a new process.
        start = time.perf_counter()
        actor = self._actor.remote()
        pid = ray.get(actor.ping.remote())
        elapsed = time.perf_counter() - start
        ray.kill(actor)
        self._actor_pids.append(pid)
        return ColdSample(elapsed)

    def info(self) -> dict[str, Any]:
        reused = len(self._actor_pids) - len(set(self._actor_pids))
        return {**self._facts, "cold_start_actor_pids_reused": reused}


def _ray_workloads(ray: Any) -> tuple[Any, Any]:
    """Ray's no-op task and actor, defined here so that Ray pickles them by value: its workers
    could not import this module by name, since bench/ is not a package on their path."""

    @ray.remote
    def noop(x: Any = None) -> Any:
        return x

    @ray.remote
    class Pinger:
        def ping(self) -> int:
            return os.getpid()

    return noop, Pinger
