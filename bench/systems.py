"""The systems under test, each behind the same small interface.

A system is measured inside ``runtime()`` (process-wide setup such as starting Ray). The warm
measurements (a, b) run inside ``warm()`` as well, which holds the workers warm; the sampled
ones (c to f, i, j, l: one `Sample` per call; k: one `BurstSample`) run outside ``warm()``,
because a cold start has to begin with nothing warm. g) runs inside ``volume()``, which writes
the file that g) reads, and h) inside ``web_server()``, which holds a web server up and warm.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing
import multiprocessing.pool
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import loadgen
import process_cpu
import workloads

import ketch
from ketch import config
from ketch.backends import default_runtime, get_driver
from ketch.worker.cgroups import Cgroup, Limits
from ketch.worker.cgroups import available as cgroups_unavailable
from ketch.worker.images import Builder
from ketch.worker.images.buildbox import uv_binary, uv_cache_dir
from ketch.worker.resources import node_memory_mib

# Measurement names, as in the design's targets table and the --only option.
WARM_CALL, MAP, COLD_START = "a", "b", "c"
IMAGE_COLD_START, IMAGE_CACHE_HIT, IMAGE_BUILD = "d", "e", "f"
IMAGES = (IMAGE_COLD_START, IMAGE_CACHE_HIT, IMAGE_BUILD)
VOLUME = "g"
NEEDS_NAMESPACE = (*IMAGES, VOLUME)
WEB_RPS, WEB_BURST, WEB_COLD_START = "h", "i", "j"
WEB = (WEB_RPS, WEB_BURST, WEB_COLD_START)
CONTAINER_BURST, HEAVY_COLD_START, SNAPSHOT_COLD_START = "k", "l", "m"
HEAVY = (HEAVY_COLD_START, SNAPSHOT_COLD_START)
HEAVY_PACKAGES = ("numpy", "pandas")  # l) and m) need them importable here and in containers

BENCH_DIR = Path(__file__).resolve().parent
LOADGEN_TIMEOUT_S = 300.0  # a generous bound on one run of loadgen.py, so a hang is an error
FIRST_ANSWER_TIMEOUT_S = 60.0


def namespace_problem() -> str | None:
    """Why the namespace runtime, which images need, cannot run here; None when it can."""
    try:
        get_driver("namespace")
    except ketch.exception.InvalidError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Sample:
    seconds: float  # what the measurement times: e.g. from "nothing running" to a result
    setup_s: float = 0.0  # work done before the clock started, recorded for information
    failures: int | None = None  # i) answers other than 200 (connection errors included)


@dataclass(frozen=True)
class BurstSample:
    """k) One burst: the inputs' results, and when the map was issued (wall clock)."""

    issued: float  # time.time() just before the map was issued
    results: list[tuple[str, float]]  # (container id, time.time() when the input began)
    map_s: float  # from issuing the map to its last result
    setup_s: float  # entering app.run(), not timed
    cpu_s: float | None = None  # CPU the system used from the issue to the last result

    @property
    def first_starts(self) -> dict[str, float]:
        """Each container's first input's start."""
        first: dict[str, float] = {}
        for container, started in self.results:
            first[container] = min(started, first.get(container, started))
        return first

    @property
    def last_start_s(self) -> float:
        """From issuing the map to the latest of the containers' first inputs."""
        return max(self.first_starts.values()) - self.issued

    @property
    def starts_per_s(self) -> float:
        return len(self.first_starts) / self.last_start_s


@dataclass(frozen=True)
class VolumeSample:
    """g) One write of a new file and one read of the whole of a file written before."""

    write_s: float
    write_bytes: int
    read_s: float
    read_bytes: int

    @property
    def write_mb_s(self) -> float:
        return self.write_bytes / self.write_s / 1e6

    @property
    def read_mb_s(self) -> float:
        return self.read_bytes / self.read_s / 1e6


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

    def cold_start(self) -> Sample:
        """c) The time to a first result with nothing running."""
        raise NotImplementedError

    def image_cold_start(self) -> Sample:
        """d) As `cold_start`, in an isolated container on a cached image."""
        raise NotImplementedError

    def image_cache_hit(self) -> Sample:
        """e) Building an image whose layers are all built already."""
        raise NotImplementedError

    def image_build(self) -> Sample:
        """f) Building `workloads.BUILD_IMAGE` (or its equivalent) from nothing."""
        raise NotImplementedError

    @contextlib.contextmanager
    def volume(self, mib: int) -> Iterator[None]:
        """g) Where ``volume_io`` runs, with its file of ``mib`` MiB to read written already."""
        yield

    def volume_io(self, mib: int) -> VolumeSample:
        """g) `workloads.disk_io`: write ``mib`` MiB to a new file, read the file to read."""
        raise NotImplementedError

    @contextlib.contextmanager
    def web_server(self) -> Iterator[None]:
        """h) Where ``web_load`` sends its requests: `webapp.make_app()`, served and warm."""
        yield

    def web_load(self, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
        """h) `loadgen.py`'s figures for ``requests`` GETs over ``concurrency`` connections."""
        raise NotImplementedError

    def web_burst(self, requests: int) -> Sample:
        """i) ``requests`` GETs at once at an endpoint with no container: the time to the last
        answer, and the answers other than 200."""
        raise NotImplementedError

    def web_cold_start(self) -> Sample:
        """j) The time to the first answer of a web endpoint with nothing running."""
        raise NotImplementedError

    def container_burst(self, inputs: int) -> BurstSample:
        """k) ``inputs`` sleeping inputs mapped at once over a function with no container."""
        raise NotImplementedError

    def heavy_cold_start(self) -> Sample:
        """l) As `cold_start`, of code that imports numpy and pandas."""
        raise NotImplementedError

    def snapshot_cold_start(self) -> Sample:
        """m) l) with a memory snapshot (the first, unmeasured sample takes it)."""
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
    measures = frozenset({WARM_CALL, MAP, COLD_START, IMAGE_COLD_START, IMAGE_CACHE_HIT,
                          IMAGE_BUILD, VOLUME, *WEB, CONTAINER_BURST, *HEAVY})

    def __init__(self) -> None:
        self._web_url: str | None = None

    @contextlib.contextmanager
    def warm(self) -> Iterator[None]:
        with workloads.app.run():
            yield

    def call(self) -> None:
        workloads.noop.remote()

    def map(self, n: int) -> int:
        return sum(1 for _ in workloads.noop.map(range(n)))

    def cold_start(self) -> Sample:
        return _first_result(workloads.app, workloads.noop)

    def image_cold_start(self) -> Sample:
        # Entering app.run() also looks the image up in the layer cache (it is built by the
        # first, discarded, sample): timed by e), and recorded in setup_s here.
        return _first_result(workloads.image_app, workloads.noop_in_image)

    def image_cache_hit(self) -> Sample:
        # The store the embedded control plane's worker uses, which d) may have filled.
        return Sample(_timed(lambda: _build(config.home() / "images", workloads.CACHED_IMAGE)))

    def image_build(self) -> Sample:
        scratch = Path(tempfile.mkdtemp(prefix="cold-build-", dir=config.home()))
        try:
            # A subfolder, as the worker's KETCH_HOME/images: build containers mask the folder
            # above the store's root.
            return Sample(_timed(lambda: _build(scratch / "images", workloads.BUILD_IMAGE)))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            os.sync()  # untimed: no write-back of this sample left to compete with the next

    @contextlib.contextmanager
    def volume(self, mib: int) -> Iterator[None]:
        # The file to read is uploaded, which commits a version: the container mounts it as its
        # overlay's lower layer, under a layer of its own (in KETCH_HOME/volume-layers) that
        # takes the writes.
        source = config.home() / "volume-upload.bin"
        try:
            workloads.fill(str(source), mib)
            with workloads.volume.batch_upload(force=True) as batch:
                batch.put_file(str(source), f"/{workloads.READ_FILE}")
        finally:
            source.unlink(missing_ok=True)
        os.sync()  # as the host's: no writes of the setup's left to compete with the timed ones
        with workloads.volume_app.run():
            yield

    def volume_io(self, mib: int) -> VolumeSample:
        return _volume_sample(workloads.volume_io.remote(mib), mib)

    @contextlib.contextmanager
    def web_server(self) -> Iterator[None]:
        # min_containers=1 starts a container on entering app.run(); the first request waits
        # for it to be ready.
        with workloads.web_app.run():
            url = workloads.web_hello.get_web_url()
            _expect_ok(url, asyncio.run(loadgen.first_answer(url, FIRST_ANSWER_TIMEOUT_S)))
            self._web_url = url
            try:
                yield
            finally:
                self._web_url = None

    def web_load(self, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
        assert self._web_url is not None
        return run_loadgen(self._web_url, requests, concurrency, warmup)

    def web_burst(self, requests: int) -> Sample:
        # As `_first_result`: a fresh app run, so no container of the endpoint exists; entering
        # it is recorded, not timed. loadgen.py's clock starts once it has started, before it
        # opens its first connection.
        start = time.perf_counter()
        with workloads.cold_web_app.run():
            url = workloads.web_sleep.get_web_url()
            entered = time.perf_counter()
            result = run_loadgen(url, requests, concurrency=requests)
        return Sample(result["seconds"], entered - start, failures=_failures(result))

    def web_cold_start(self) -> Sample:
        start = time.perf_counter()
        with workloads.cold_web_app.run():
            url = workloads.web_hello_cold.get_web_url()
            entered = time.perf_counter()
            status = asyncio.run(loadgen.first_answer(url, FIRST_ANSWER_TIMEOUT_S))
            done = time.perf_counter()
        _expect_ok(url, status)
        return Sample(done - entered, entered - start)

    def container_burst(self, inputs: int) -> BurstSample:
        # A fresh app run, as `_first_result`: no container of the function exists yet.
        start = time.perf_counter()
        with workloads.burst_app.run():
            entered = time.perf_counter()
            before = process_cpu.tree_cpu() if process_cpu.AVAILABLE else None
            issued = time.time()
            results = list(workloads.sleep_where.map([workloads.BURST_INPUT_S] * inputs))
            done = time.time()
            cpu_s = None if before is None else process_cpu.cpu_since(before)
        return BurstSample(issued, [(c, t) for c, t in results], done - issued, entered - start,
                           cpu_s)

    def heavy_cold_start(self) -> Sample:
        import heavy  # here, so that without numpy and pandas only l) is affected

        return _first_result(heavy.app, heavy.versions)

    def snapshot_cold_start(self) -> Sample:
        import heavy

        return _first_result(heavy.app, heavy.versions_snapshot)

    def info(self) -> dict[str, Any]:
        # The node's capacity as the embedded worker sees it (its `Capacity` defaults).
        return {"default_runtime": default_runtime(),
                "node_capacity": {"cpu": os.cpu_count() or 1, "memory_mib": node_memory_mib()}}


def _first_result(app: ketch.App, function: Any) -> Sample:
    # A fresh app run registers a new function, so no container of it exists yet. Creating the
    # app is a couple of requests to the control plane, kept out of the figure (the brief times
    # the first .remote()) but recorded.
    start = time.perf_counter()
    with app.run():
        entered = time.perf_counter()
        function.remote()
        done = time.perf_counter()
    return Sample(done - entered, entered - start)


def _build(root: Path, image: ketch.Image) -> None:
    """Build ``image`` in the layer store under ``root``; a failed step raises with its output."""
    asyncio.run(Builder(root).build(image.to_wire(), lambda line: None))


def _volume_sample(timed: dict[str, Any], mib: int) -> VolumeSample:
    sample = VolumeSample(timed["write_s"], timed["write_bytes"], timed["read_s"],
                          timed["read_bytes"])
    if sample.read_bytes != mib * 2**20:
        raise RuntimeError(f"read {sample.read_bytes} bytes of a file of {mib} MiB")
    return sample


def run_loadgen(url: str, requests: int, concurrency: int, warmup: int = 0) -> dict[str, Any]:
    """`loadgen.py` in a process of its own (ketch's gateway runs in this one, and must not
    share its GIL with the load): its JSON, with ``seconds``, ``requests`` and ``statuses``."""
    command = [sys.executable, str(BENCH_DIR / "loadgen.py"), url, "--requests", str(requests),
               "--concurrency", str(concurrency), "--warmup", str(warmup)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=LOADGEN_TIMEOUT_S,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen.py failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _failures(result: dict[str, Any]) -> int:
    return int(result["requests"]) - int(result["statuses"].get("200", 0))


def _expect_ok(url: str, status: int) -> None:
    if status != 200:
        raise RuntimeError(f"GET {url} answered {status}")


class Uvicorn(System):
    """h) and j)'s peer: `webapp.make_app()` on plain uvicorn, one worker, in a subprocess on a
    free port of 127.0.0.1, with the same log level as ketch's containers. In h), where ketch
    makes cgroups (root), its process runs in a cgroup of its own beside ketch's containers,
    with the CPU weight of a container of ``cpu=1`` (as `workloads.web_hello`'s): on a machine
    other work keeps busy, each side gets the same share of the CPUs. j) spawns it as it is
    (joining a cgroup would add to its time)."""

    name, label = "uvicorn", "uvicorn"
    measures = frozenset({WEB_RPS, WEB_COLD_START})

    def __init__(self) -> None:
        self._web_url: str | None = None
        self._cgroup: Cgroup | None = None

    def _spawn(self, weighted: bool = False) -> tuple[subprocess.Popen[bytes], str]:
        port = _free_port()
        command = [sys.executable, "-m", "uvicorn", "--factory", "webapp:make_app", "--app-dir",
                   str(BENCH_DIR), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                   "--log-level", "warning"]
        process = subprocess.Popen(command)
        self._cgroup = _peer_cgroup(process.pid) if weighted else None
        return process, f"http://127.0.0.1:{port}/"

    def _stop(self, process: subprocess.Popen[bytes]) -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None

    @contextlib.contextmanager
    def web_server(self) -> Iterator[None]:
        process, url = self._spawn(weighted=True)
        try:
            _expect_ok(url, asyncio.run(loadgen.first_answer(url, FIRST_ANSWER_TIMEOUT_S)))
            self._web_url = url
            yield
        finally:
            self._web_url = None
            self._stop(process)

    def web_load(self, requests: int, concurrency: int, warmup: int) -> dict[str, Any]:
        assert self._web_url is not None
        return run_loadgen(self._web_url, requests, concurrency, warmup)

    def web_cold_start(self) -> Sample:
        # From spawning the interpreter to the first answer: the probe retries every 2 ms while
        # the port refuses connections.
        start = time.perf_counter()
        process, url = self._spawn()
        try:
            status = asyncio.run(loadgen.first_answer(url, FIRST_ANSWER_TIMEOUT_S))
            elapsed = time.perf_counter() - start
        finally:
            self._stop(process)
        _expect_ok(url, status)
        return Sample(elapsed)

    def info(self) -> dict[str, Any]:
        import uvicorn

        try:
            import httptools  # noqa: F401

            http = "httptools"
        except ImportError:
            http = "h11"
        return {"version": uvicorn.__version__, "workers": 1, "http": http,
                "app": "webapp:make_app"}


def _peer_cgroup(pid: int) -> Cgroup | None:
    """A cgroup beside ketch's containers, weighted as ``cpu=1``, holding ``pid``; None where
    ketch makes no cgroups."""
    if cgroups_unavailable() is not None:
        return None
    cgroup = Cgroup.create(f"bench-peer-{pid}", Limits(cpu_request=1.0))
    for procs in cgroup.procs_files:
        Path(procs).write_text(str(pid))
    return cgroup


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class HostDisk(System):
    """g)'s peer: `workloads.disk_io` in this process, in a directory on the disk that holds
    the volumes and the containers' layers (KETCH_HOME/host-io)."""

    name, label = "host", "host"
    measures = frozenset({VOLUME})

    def __init__(self) -> None:
        self._directory: Path | None = None

    @contextlib.contextmanager
    def volume(self, mib: int) -> Iterator[None]:
        directory = config.home() / "host-io"
        directory.mkdir(parents=True)
        try:
            workloads.fill(str(directory / workloads.READ_FILE), mib)
            os.sync()
            self._directory = directory
            yield
        finally:
            self._directory = None
            shutil.rmtree(directory, ignore_errors=True)

    def volume_io(self, mib: int) -> VolumeSample:
        assert self._directory is not None
        return _volume_sample(workloads.disk_io(str(self._directory), mib), mib)

    def info(self) -> dict[str, Any]:
        return {"directory": "KETCH_HOME/host-io", **_filesystem(config.home())}


def _filesystem(path: Path) -> dict[str, str]:
    """The filesystem holding ``path``, from the longest mount point above it."""
    best: list[str] = []
    try:
        with open("/proc/self/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1]
                if (str(path.resolve()) + "/").startswith(point.rstrip("/") + "/") and (
                        not best or len(point) >= len(best[1])):
                    best = fields
    except OSError:
        return {}
    return {"filesystem": best[2], "device": best[0], "mount": best[1]} if best else {}


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

    def cold_start(self) -> Sample:
        start = time.perf_counter()
        pool = multiprocessing.Pool(1)
        try:
            pool.apply(workloads.plain_noop)
            return Sample(time.perf_counter() - start)
        finally:
            pool.terminate()
            pool.join()

    def info(self) -> dict[str, Any]:
        return {"processes": self.processes, "start_method": multiprocessing.get_start_method()}


class Subprocess(System):
    """The floor for a cold start that begins a new interpreter: ``python -c pass``. It is the
    peer of both cold starts, and measured again beside d)."""

    name, label = "subprocess", "subprocess"
    measures = frozenset({COLD_START, IMAGE_COLD_START, *HEAVY})

    def cold_start(self) -> Sample:
        command = [sys.executable, "-c", "pass"]
        return Sample(_timed(lambda: subprocess.run(command, check=True)))

    def image_cold_start(self) -> Sample:
        return self.cold_start()

    def heavy_cold_start(self) -> Sample:
        command = [sys.executable, "-c", f"import {', '.join(HEAVY_PACKAGES)}"]
        return Sample(_timed(lambda: subprocess.run(command, check=True)))

    def snapshot_cold_start(self) -> Sample:
        return self.heavy_cold_start()

    def info(self) -> dict[str, Any]:
        return {"command": [sys.executable, "-c", "pass"],
                "heavy_command": [sys.executable, "-c", f"import {', '.join(HEAVY_PACKAGES)}"]}


class Uv(System):
    """f)'s peer: a plain ``uv venv`` and ``uv pip install`` of the same packages, with the uv
    and the cache that ketch's image builder uses."""

    name, label = "uv", "uv"
    measures = frozenset({IMAGE_BUILD})

    def image_build(self) -> Sample:
        uv = uv_binary()  # looked up here, so that without uv only f) fails
        env = {**os.environ, "UV_CACHE_DIR": uv_cache_dir(uv)}
        try:
            with tempfile.TemporaryDirectory(prefix="ketch-bench-uv-") as scratch:
                venv = Path(scratch) / "venv"
                start = time.perf_counter()
                _run_uv([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env)
                _run_uv([uv, "pip", "install", "--quiet", "--python",
                         str(venv / "bin" / "python"), *workloads.BUILD_PACKAGES], env)
                return Sample(time.perf_counter() - start)
        finally:
            os.sync()  # as ketch's: untimed, after the sample's files are removed

    def info(self) -> dict[str, Any]:
        return {"packages": workloads.BUILD_PACKAGES}


def _run_uv(command: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")


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

    def cold_start(self) -> Sample:
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
        return Sample(elapsed)

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
