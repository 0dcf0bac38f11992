"""n) to p): pulling OCI images from a registry, against skopeo and against a host-based image.

    python bench/run.py --only n,o,p --repeat 3

n) pull vs skopeo: a multi-layer image (the Debian bookworm and trixie root file systems of
   tests/registry.py and three layers of half random, half text data) in a real
   docker-registry on 127.0.0.1, copied by `skopeo copy docker://... dir:DIR` and pulled by
   ketch's `pull()` into a fresh layer store, alternately; seconds and MB/s each.
o) shared base layers: image B is n)'s image plus one new layer; after pulling n)'s image into
   a fresh store, pulling B downloads the bytes counted here (the target: only the new layer's).
p) cold start of a no-op in `Image.from_registry(<bookworm image in the registry>)` against the
   same no-op in `Image.debian_slim()`, both cached, timed as c) and d).

The registry's storage is kept in a cache folder (~/.cache/ketch-bench/registry), so the images
are written and pushed once; each run starts the registry on a free port and checks that the
images are there with the digests pushed, pushing again what is not. The images are made of
deterministic bytes, so a push makes the same digests every time.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stats import ms
from systems import Sample, System, _first_result, namespace_problem

from ketch import config

PULL, SHARED_PULL, PULLED_COLD_START = "n", "o", "p"
MEASUREMENTS = (PULL, SHARED_PULL, PULLED_COLD_START)

BENCH_DIR = Path(__file__).resolve().parent
TESTS_DIR = BENCH_DIR.parent / "tests"
IMAGES_VERSION = 1  # bump when what the images hold changes: the cached registry is refilled
DATA_LAYERS = 3
DATA_MIB = 20  # per data layer, uncompressed
NEW_LAYER_MIB = 6  # o)'s one new layer
FILES_PER_LAYER = 16
CHUNK = 64 * 1024  # data alternates CHUNK random bytes and CHUNK of text
REPO = "bench/pull"
BIG, SHARED = "base", "plus-one"  # n)'s image, and o)'s B: the same layers and one more
PYTHON_REPO, PYTHON_TAG = "bench/python", "bookworm"  # p)'s image: the bookworm rootfs alone
ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]
MARK = "KETCH_BENCH_IMAGE"  # in p)'s image's Env, so that its function can tell where it ran
COLD_PAUSE_S = 0.1  # as run.py's, between cold starts
SKOPEO_TIMEOUT_S = 300.0
WORDS = ("layer", "image", "registry", "manifest", "digest", "container", "overlay", "tar",
         "gzip", "blob", "config", "python", "debian", "bookworm", "trixie", "ketch", "modal",
         "function", "sandbox", "volume", "secret", "queue", "dict", "worker", "gateway")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ketch-bench"


def _registry_helpers() -> Any:
    """tests/registry.py, imported on demand (it needs `cryptography`, a test dependency)."""
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    import registry

    return registry


def problem(measurements: tuple[str, ...]) -> str | None:
    """Why ``measurements`` (of n to p) cannot run here; None when they can."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "pulled layers are unpacked with their owners and whiteouts: root on Linux"
    missing = [name for name in ("docker-registry", "skopeo", "tar") if shutil.which(name) is None]
    if missing:
        return f"{', '.join(missing)} not installed (apt install docker-registry skopeo)"
    try:
        _registry_helpers()
    except ImportError as exc:
        return f"tests/registry.py cannot be imported ({exc}): pip install -e '.[dev]'"
    if PULLED_COLD_START in measurements:
        return namespace_problem()
    return None


# -- the images ----------------------------------------------------------------------------------


def data_layer(seed: str, mib: int) -> bytes:
    """An uncompressed tar of FILES_PER_LAYER files, ``mib`` MiB in all, of alternating random
    bytes (gzip cannot shrink them) and text (it can): deterministic for a given seed."""
    rng = random.Random(seed)
    size = mib * 2**20
    per_file = size // FILES_PER_LAYER
    files: dict[str, bytes] = {}
    for number in range(FILES_PER_LAYER):
        parts, length = [], 0
        while length < per_file:
            parts.append(rng.randbytes(CHUNK))
            text = " ".join(rng.choices(WORDS, k=CHUNK // 6)).encode()[:CHUNK]
            parts.append(text)
            length += 2 * CHUNK
        files[f"opt/{seed}/part-{number:02d}.bin"] = b"".join(parts)[:per_file]
    helpers = _registry_helpers()
    return bytes(helpers.layer(files))


def _layer_size(layer: bytes | Path) -> int:
    return len(layer) if isinstance(layer, bytes) else layer.stat().st_size


class Images:
    """The bench's images in a registry whose storage is kept in `cache_dir()`."""

    def __init__(self, registry: Any, facts: dict[str, Any]) -> None:
        self.registry = registry
        self.facts = facts  # per tag: digest, layers' compressed and uncompressed sizes

    def ref(self, repository: str, tag: str) -> str:
        return str(self.registry.ref(repository, tag))

    @property
    def big(self) -> str:
        return self.ref(REPO, BIG)

    @property
    def shared(self) -> str:
        return self.ref(REPO, SHARED)

    @property
    def python(self) -> str:
        return self.ref(PYTHON_REPO, PYTHON_TAG)


@contextlib.contextmanager
def images(log: Callable[[str], None]) -> Iterator[Images]:
    """The registry, running, with the bench's images pushed (once: see the module's doc)."""
    helpers = _registry_helpers()
    root = cache_dir() / "registry"
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "images.json"
    with helpers.start_registry(root) as reg:
        try:
            known = json.loads(marker.read_text())
        except (OSError, ValueError):
            known = {}
        if known.get("version") != IMAGES_VERSION:
            known = {"version": IMAGES_VERSION, "images": {}}
        wanted = _wanted(helpers)
        for name, (repository, tag, layers, env) in wanted.items():
            fact = known["images"].get(name)
            spec = _spec(layers, env)
            if (fact and fact.get("spec") == spec
                    and _manifest_digest(reg.host, repository, tag) == fact["digest"]):
                continue
            log(f"pushing {repository}:{tag} to the cached registry (once)")
            built = [layer() if callable(layer) else layer for layer in layers]
            digest = helpers.push_image(reg, repository, tag, built, config={"Env": env})
            known["images"][name] = {"digest": digest, "spec": spec,
                                     "uncompressed": [_layer_size(x) for x in built]}
            marker.write_text(json.dumps(known, indent=1))
        facts = {}
        for name, (repository, tag, _, _) in wanted.items():
            manifest = _manifest(reg.host, repository, tag)
            facts[name] = {**known["images"][name], "ref": f"{repository}:{tag}",
                           "compressed": [layer["size"] for layer in manifest["layers"]],
                           "layer_digests": [layer["digest"] for layer in manifest["layers"]]}
        yield Images(reg, facts)


class _Data:
    """A data layer, made only when it is pushed."""

    def __init__(self, seed: str, mib: int) -> None:
        self.seed, self.mib = seed, mib

    def __call__(self) -> bytes:
        return data_layer(self.seed, self.mib)


def _wanted(helpers: Any) -> dict[str, tuple[str, str, list[Any], list[str]]]:
    """The images by name: repository, tag, layers (tar files, or `_Data`) and Env."""
    bookworm, trixie = helpers.base_rootfs("bookworm"), helpers.base_rootfs("trixie")
    big: list[Any] = [bookworm, trixie,
                      *(_Data(f"bench-data-{i}", DATA_MIB) for i in range(DATA_LAYERS))]
    return {
        "big": (REPO, BIG, big, ENV),
        "shared": (REPO, SHARED, [*big, _Data("bench-new", NEW_LAYER_MIB)], ENV),
        "python": (PYTHON_REPO, PYTHON_TAG, [bookworm], [*ENV, f"{MARK}=pulled"]),
    }


def _spec(layers: list[Any], env: list[str]) -> str:
    """What an image is made of, to tell whether the cached registry's is still it."""
    parts: list[Any] = [IMAGES_VERSION, FILES_PER_LAYER, CHUNK, env]
    for layer in layers:
        if isinstance(layer, _Data):
            parts.append(["data", layer.seed, layer.mib])
        else:
            info = layer.stat()
            parts.append(["tar", layer.name, info.st_size, info.st_mtime_ns])
    return json.dumps(parts)


def _manifest_response(host: str, repository: str, tag: str) -> tuple[int, str | None, bytes]:
    address, port = host.split(":")
    conn = http.client.HTTPConnection(address, int(port), timeout=10)
    try:
        conn.request("GET", f"/v2/{repository}/manifests/{tag}",
                     headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        with conn.getresponse() as response:
            return response.status, response.getheader("Docker-Content-Digest"), response.read()
    finally:
        conn.close()


def _manifest_digest(host: str, repository: str, tag: str) -> str | None:
    status, digest, _ = _manifest_response(host, repository, tag)
    return digest if status == 200 else None


def _manifest(host: str, repository: str, tag: str) -> dict[str, Any]:
    status, _, body = _manifest_response(host, repository, tag)
    if status != 200:
        raise RuntimeError(f"the registry has no {repository}:{tag} (HTTP {status})")
    return dict(json.loads(body))


# -- the two ways to pull ------------------------------------------------------------------------


def skopeo_copy(ref: str, scratch: Path) -> float:
    """Seconds for `skopeo copy docker://REF dir:DIR` into a fresh folder (then removed)."""
    policy = scratch / "policy.json"
    if not policy.exists():
        policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    target = scratch / f"skopeo-{time.monotonic_ns()}"
    command = ["skopeo", "--policy", str(policy), "copy", "--quiet", "--src-tls-verify=false",
               "--src-no-creds", f"docker://{ref}", f"dir:{target}"]
    try:
        start = time.perf_counter()
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SKOPEO_TIMEOUT_S, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        return elapsed
    finally:
        shutil.rmtree(target, ignore_errors=True)
        os.sync()  # no write-back of this sample left to compete with the next


def skopeo_and_tar(ref: str, scratch: Path) -> float:
    """Seconds for the same copy, then each layer unpacked by `tar` with ketch's options,
    ``pull.PARALLEL`` at a time: what ketch does, done one stage after the other."""
    from ketch.worker.images import pull
    from ketch.worker.images.unpack import tar_options

    policy = scratch / "policy.json"
    if not policy.exists():
        policy.write_text('{"default": [{"type": "insecureAcceptAnything"}]}')
    target = scratch / f"skopeo-tar-{time.monotonic_ns()}"
    target.mkdir()  # skopeo makes dir/ itself, not the folders above it
    command = ["skopeo", "--policy", str(policy), "copy", "--quiet", "--src-tls-verify=false",
               "--src-no-creds", f"docker://{ref}", f"dir:{target / 'dir'}"]
    try:
        start = time.perf_counter()
        done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=SKOPEO_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()}")
        manifest = json.loads((target / "dir" / "manifest.json").read_text())
        waiting = list(enumerate(manifest["layers"]))
        running: list[subprocess.Popen[bytes]] = []
        while waiting or running:
            while waiting and len(running) < pull.PARALLEL:
                number, layer = waiting.pop(0)
                fs = target / "layers" / str(number)
                fs.mkdir(parents=True)
                running.append(subprocess.Popen(
                    ["tar", "-x", "-f", str(target / "dir" / layer["digest"].split(":")[1]),
                     "-C", str(fs), "--numeric-owner", "--same-owner", "--same-permissions",
                     "--xattrs", "--xattrs-include=*", "--xattrs-exclude=trusted.*",
                     *tar_options(layer["mediaType"])], stdin=subprocess.DEVNULL))
            first = running.pop(0)
            if first.wait() != 0:
                raise RuntimeError(f"tar exited {first.returncode}")
        return time.perf_counter() - start
    finally:
        shutil.rmtree(target, ignore_errors=True)
        os.sync()


def ketch_pull(store_root: Path, ref: str, log: Callable[[str], None]) -> float:
    """Seconds for ketch's `pull()` of ``ref`` into the layer store at ``store_root``, as the
    builder calls it (one asyncio.run)."""
    from ketch.worker.images.layers import LayerStore
    from ketch.worker.images.pull import pull

    store = LayerStore(store_root)
    start = time.perf_counter()
    asyncio.run(pull(store, ref, None, log))
    return time.perf_counter() - start


@contextlib.contextmanager
def fresh_store(scratch: Path) -> Iterator[Path]:
    root = scratch / f"store-{time.monotonic_ns()}" / "layers"
    try:
        yield root
    finally:
        shutil.rmtree(root.parent, ignore_errors=True)
        os.sync()


# -- the measurements ----------------------------------------------------------------------------


def progress(system: str, measurement: str, text: str) -> None:
    print(f"[{system}] {measurement}) {text}", file=sys.stderr, flush=True)


def pull_vs_skopeo(found: Images, scratch: Path, args: Any) -> dict[str, dict[str, Any]]:
    """n) Pairs of one skopeo copy and one ketch pull of the big image, in alternating order
    (skopeo first in even pairs); the first pair is thrown away (it warms the page cache with
    the registry's blobs). Per repeat: the median seconds of each side; MB/s is the image's
    compressed size (what both download) over those seconds."""
    facts = found.facts["big"]
    compressed, uncompressed = sum(facts["compressed"]), sum(facts["uncompressed"])

    def ketch_side() -> float:
        with fresh_store(scratch) as root:
            return ketch_pull(root, found.big, lambda line: None)

    sides: dict[str, Callable[[], float]] = {
        "skopeo": lambda: skopeo_copy(found.big, scratch),
        "ketch": ketch_side,
        "skopeo_tar": lambda: skopeo_and_tar(found.big, scratch),
    }

    def round_of(number: int) -> dict[str, float]:
        names = list(sides)
        shift = number % len(names)  # each side goes first in turn
        return {name: sides[name]() for name in names[shift:] + names[:shift]}

    round_of(0)  # thrown away
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for repeat in range(args.repeat):
        taken = [round_of(1 + repeat * args.pull_samples + i) for i in range(args.pull_samples)]
        for side in sides:
            seconds = [t[side] for t in taken]
            middle = statistics.median(seconds)
            runs[side].append({"seconds": round(middle, 4),
                               "mb_s": round(compressed / middle / 1e6, 1),
                               "samples_s": [round(s, 4) for s in seconds]})
        progress("ketch", PULL, f"{repeat + 1}/{args.repeat}: " + ", ".join(
            f"{side} {runs[side][-1]['seconds']} s ({runs[side][-1]['mb_s']} MB/s)"
            for side in sides))
    out = {}
    for side, side_runs in runs.items():
        seconds = statistics.median(run["seconds"] for run in side_runs)
        out[side] = {"seconds": round(seconds, 4),
                     "mb_s": round(statistics.median(run["mb_s"] for run in side_runs), 1),
                     "runs": side_runs}
    out["ketch"]["unpacked_mb_s"] = round(uncompressed / out["ketch"]["seconds"] / 1e6, 1)
    out["ketch"]["compressed_mb"] = round(compressed / 1e6, 1)
    out["ketch"]["uncompressed_mb"] = round(uncompressed / 1e6, 1)
    out["ketch"]["layers"] = len(facts["compressed"])
    return out


PULLED_LINE = re.compile(r"^pulled (\S+): (\d+) layers, ([\d.]+) MB")


def shared_base(found: Images, scratch: Path, args: Any) -> dict[str, dict[str, Any]]:
    """o) Per repeat, in a fresh store: pull the big image, then B (the same layers and one
    more): the bytes B's pull downloaded, counted from the layers it added to the store (their
    compressed sizes) and from its "pulled REF: N layers, X MB" line."""
    from ketch.worker.images.layers import LayerStore

    facts = found.facts["shared"]
    total, new = sum(facts["compressed"]), facts["compressed"][-1]
    runs: list[dict[str, Any]] = []
    for repeat in range(args.repeat):
        with fresh_store(scratch) as root:
            a_s = ketch_pull(root, found.big, lambda line: None)
            before = {layer["id"] for layer in LayerStore(root).list()}
            lines: list[str] = []
            b_s = ketch_pull(root, found.shared, lines.append)
            added = [layer for layer in LayerStore(root).list()
                     if layer["id"] not in before and layer.get("kind") == "pulled"]
        downloaded = sum(int(layer["compressed"]) for layer in added)
        logged = [m for m in map(PULLED_LINE.match, lines) if m]
        runs.append({"downloaded_mb": round(downloaded / 1e6, 3), "downloaded_bytes": downloaded,
                     "layers_downloaded": len(added),
                     "logged_layers": int(logged[-1].group(2)) if logged else None,
                     "logged_mb": float(logged[-1].group(3)) if logged else None,
                     "pull_a_s": round(a_s, 4), "pull_b_s": round(b_s, 4), "log": lines})
        progress("ketch", SHARED_PULL, f"{repeat + 1}/{args.repeat}: B downloaded "
                 f"{downloaded / 1e6:.2f} MB in {len(added)} layer(s) of its "
                 f"{total / 1e6:.1f} MB; pulls A {a_s:.2f} s, B {b_s:.2f} s")
    return {"ketch": {
        "downloaded_mb": statistics.median(run["downloaded_mb"] for run in runs),
        "total_mb": round(total / 1e6, 3), "new_layer_mb": round(new / 1e6, 3),
        "new_layer_bytes": new, "layers": len(facts["compressed"]),
        "only_new_layer": all(run["downloaded_bytes"] == new and run["layers_downloaded"] == 1
                              for run in runs),
        "pull_b_s": statistics.median(run["pull_b_s"] for run in runs),
        "runs": runs}}


def pulled_cold_start(found: Images, args: Any) -> dict[str, dict[str, Any]]:
    """p) As c) and d) (`systems._first_result`: a fresh app.run() per sample, its entering
    recorded as setup, the first .remote() timed), of the same no-op in the pulled image and in
    debian_slim(), alternating, each image built by a first sample thrown away."""
    os.environ["KETCH_BENCH_PULLED_IMAGE"] = found.python
    import importlib

    import pulled_app

    if pulled_app.REF != found.python:  # the reference is read at import
        pulled_app = importlib.reload(pulled_app)
    sides: dict[str, Callable[[], Sample]] = {
        "ketch": lambda: _first_result(pulled_app.pulled_app, pulled_app.noop_pulled),
        "debian_slim": lambda: _first_result(pulled_app.host_app, pulled_app.noop_host),
    }
    where = {"ketch": pulled_app.where_pulled, "debian_slim": pulled_app.where_host}
    facts: dict[str, Any] = {}
    for side, take in sides.items():  # thrown away: builds (pulls) the image
        take()
        time.sleep(COLD_PAUSE_S)
        app = pulled_app.pulled_app if side == "ketch" else pulled_app.host_app
        with app.run():
            facts[side] = where[side].remote()
    if facts["ketch"]["image"] != "pulled" or facts["debian_slim"]["image"] is not None:
        raise RuntimeError(f"p) ran in the wrong images: {facts}")
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for repeat in range(args.repeat):
        taken: dict[str, list[Sample]] = {side: [] for side in sides}
        for i in range(args.cold_samples):
            order = list(sides) if i % 2 == 0 else list(reversed(sides))
            for side in order:
                taken[side].append(sides[side]())
                time.sleep(COLD_PAUSE_S)
        for side, samples in taken.items():
            runs[side].append({"p50_ms": ms(statistics.median(s.seconds for s in samples)),
                               "samples_ms": [ms(s.seconds) for s in samples],
                               "setup_ms": [ms(s.setup_s) for s in samples]})
        progress("ketch", PULLED_COLD_START, f"{repeat + 1}/{args.repeat}: pulled "
                 f"{runs['ketch'][-1]['p50_ms']} ms, debian_slim "
                 f"{runs['debian_slim'][-1]['p50_ms']} ms p50")
    return {side: {"p50_ms": round(statistics.median(r["p50_ms"] for r in side_runs), 3),
                   "container": facts[side], "runs": side_runs}
            for side, side_runs in runs.items()}


# -- as run.py sees it ---------------------------------------------------------------------------


class Skopeo(System):
    """n)'s peer, in the table (images_bench measures it, beside ketch)."""

    name, label = "skopeo", "skopeo"
    measures = frozenset({PULL})


class SkopeoTar(System):
    """n)'s second peer, in the table: skopeo's copy, then tar unpacking each layer."""

    name, label = "skopeo_tar", "skopeo+tar"
    measures = frozenset({PULL})


class HostImage(System):
    """p)'s peer, in the table: the same no-op in the host-based Image.debian_slim()."""

    name, label = "debian_slim", "debian_slim()"
    measures = frozenset({PULLED_COLD_START})


class RegistryPulls(System):
    """n) to p), run together around one registry: not a column of the table, its results are
    ketch's and its peers' (`Skopeo`, `HostImage`)."""

    name, label = "registry-pulls", "registry pulls"
    measures = frozenset(MEASUREMENTS)

    def __init__(self) -> None:
        self._facts: dict[str, Any] = {}

    @staticmethod
    def peers(chosen: tuple[str, ...]) -> list[System]:
        return [peer for peer in (Skopeo(), SkopeoTar(), HostImage())
                if peer.measures & set(chosen)]

    def bench(self, args: Any) -> dict[str, dict[str, dict[str, Any]]]:
        """{measurement: {system: outcome}} for those of n to p in ``args.only``; a failure is
        recorded as {"error": traceback} for each of the measurement's systems."""
        wanted = [m for m in MEASUREMENTS if m in args.only]
        systems = {PULL: ("ketch", "skopeo", "skopeo_tar"), SHARED_PULL: ("ketch",),
                   PULLED_COLD_START: ("ketch", "debian_slim")}
        results: dict[str, dict[str, dict[str, Any]]] = {}

        def failed(measurement: str) -> None:
            error = traceback.format_exc()
            progress("ketch", measurement, f"failed: {error.strip().splitlines()[-1]}")
            results[measurement] = {name: {"error": error} for name in systems[measurement]}

        scratch = Path(tempfile.mkdtemp(prefix="pulls-", dir=config.home()))
        try:
            with images(lambda line: progress("ketch", ",".join(wanted), line)) as found:
                self._facts = self._describe(found)
                steps: dict[str, Callable[[], dict[str, dict[str, Any]]]] = {
                    PULL: lambda: pull_vs_skopeo(found, scratch, args),
                    SHARED_PULL: lambda: shared_base(found, scratch, args),
                    PULLED_COLD_START: lambda: pulled_cold_start(found, args),
                }
                for measurement in wanted:
                    try:
                        results[measurement] = steps[measurement]()
                    except Exception:  # a failure is a result, as run.py's
                        failed(measurement)
        except Exception:  # the registry or the images: every measurement failed
            for measurement in wanted:
                if measurement not in results:
                    failed(measurement)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return results

    @staticmethod
    def _describe(found: Images) -> dict[str, Any]:
        from ketch.worker.images import pull

        version = subprocess.run(["skopeo", "--version"], capture_output=True, text=True,
                                 check=False).stdout.strip()
        return {"registry": "docker-registry on 127.0.0.1 (plain HTTP), storage in "
                            f"{cache_dir() / 'registry'}",
                "skopeo": version, "ketch_parallel_layers": pull.PARALLEL,
                "images": {name: {k: v for k, v in fact.items() if k != "layer_digests"}
                           for name, fact in found.facts.items()}}

    def info(self) -> dict[str, Any]:
        return self._facts


def notes(results: dict[str, dict[str, dict[str, Any]]], facts: dict[str, Any]) -> list[str]:
    """The notes under the table for n) to p)."""
    out = []
    images_facts = facts.get("images", {})
    if PULL in results:
        big = images_facts.get("big", {})
        sizes = (f"{len(big['compressed'])} layers, {sum(big['compressed']) / 1e6:.1f} MB "
                 f"compressed, {sum(big['uncompressed']) / 1e6:.1f} MB as tars"
                 if big else "see the JSON")
        out.append(
            f"n) one image ({sizes}: the Debian bookworm and trixie root file systems and "
            f"{DATA_LAYERS} layers of {DATA_MIB} MiB of half random bytes, half text, gzip -1) "
            "in docker-registry on 127.0.0.1. skopeo: skopeo copy --src-tls-verify=false "
            "docker://REF dir:FRESH_DIR, which checks the digests and leaves the blobs "
            "compressed. ketch: pull() into a fresh LayerStore (one asyncio.run), which checks "
            f"the digests, decompresses and unpacks every layer with tar, "
            f"{facts.get('ketch_parallel_layers', '?')} at a time, into overlay folders. "
            "skopeo+tar: the same skopeo copy, then every layer unpacked by tar with ketch's "
            "options (as many at once as ketch), one stage after the other. Rounds of one "
            "sample each (the first round thrown away), each side first in turn, the output "
            "removed and os.sync() after each, untimed; MB/s = the compressed size (what all "
            "download) / seconds, so ketch/peer is the speed ratio.")
    if SHARED_PULL in results:
        outcome = results[SHARED_PULL].get("ketch", {})
        detail = ""
        if "downloaded_mb" in outcome:
            detail = (f": B is {outcome['layers']} layers, {outcome['total_mb']:.1f} MB "
                      f"compressed, its new layer {outcome['new_layer_mb']:.2f} MB; B's pull "
                      f"took {outcome['pull_b_s']:.2f} s")
        out.append("o) ketch: pull() of n)'s image into a fresh store, then of B, the same "
                   f"layers and one new of {NEW_LAYER_MIB} MiB; the figure is what B's pull "
                   "downloaded (the compressed sizes of the layers it added to the store, "
                   f"checked against its 'pulled REF: N layers, X MB' line){detail}.")
    if PULLED_COLD_START in results:
        out.append("p) ketch: as c) and d), a fresh app.run() per sample and its first "
                   ".remote() timed, of a no-op (runtime='namespace') in "
                   "Image.from_registry(the bookworm rootfs in the local registry), built by a "
                   "first sample thrown away; debian_slim(): the same no-op in the host-based "
                   "Image.debian_slim(), its samples alternating with the pulled image's.")
    return out
