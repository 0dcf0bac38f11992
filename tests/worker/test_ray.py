"""The ray backend on a real local Ray cluster of several nodes, with a real ``ketch server``.

Every Ray node of `ray.cluster_utils.Cluster` runs on this machine, with its own raylet; a
container reports its raylet's pid (``RAY_RAYLET_PID``), which names its node.
"""

from __future__ import annotations

import ast
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import registry
from server.server_process import TESTS, ServerProcess

ray = pytest.importorskip("ray", reason="the ray backend needs Ray: pip install 'ketch[ray]'")
from ray.cluster_utils import Cluster  # noqa: E402

from ketch import config  # noqa: E402
from ketch.backends.namespace import NamespaceDriver  # noqa: E402

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
needs_namespaces = pytest.mark.skipif(problem is not None, reason=f"images and mounts need: {problem}")

NODE = {"num_cpus": 1, "object_store_memory": 80 * 2**20}
# Fast node-death detection, so that a removed node's actors are reported dead in about a second.
HEAD = {**NODE, "include_dashboard": False,
        "_system_config": {"health_check_initial_delay_ms": 0, "health_check_period_ms": 300,
                           "health_check_failure_threshold": 3}}


def raylet_pid(node: ray._private.node.Node) -> str:
    return str(node.all_processes["raylet"][0].process.pid)


@contextlib.contextmanager
def node_environment(**values: str) -> Iterator[None]:
    """What the processes of the nodes started meanwhile inherit."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                del os.environ[name]
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A head node (1 CPU) and a node with 1 CPU and one GPU it only advertises: Ray counts it
    and labels it H100 (`accelerator_type:H100`); ketch's NVML boundary reports it as an H100.
    Each node has a KETCH_HOME of its own, as separate machines would."""
    homes = tmp_path_factory.mktemp("nodes")
    with node_environment(KETCH_FAKE_GPUS="H100:1", KETCH_HOME=str(homes / "head")):
        c = Cluster(initialize_head=True, head_node_args=HEAD)
    with node_environment(KETCH_FAKE_GPUS="H100:1", KETCH_HOME=str(homes / "gpu")):
        gpu_node = c.add_node(**NODE, num_gpus=1,
                              resources={"accelerator_type:H100": 1, "region:eu-west": 1})
    c.wait_for_nodes()
    yield c, gpu_node, homes
    c.shutdown()


@pytest.fixture(scope="module")
def server(cluster, tmp_path_factory):
    c, _, _ = cluster
    directory = tmp_path_factory.mktemp("ray-server")
    (directory / "home").mkdir()
    # Volume versions in an fsspec store (a file:// URL here, s3:// on a real cluster)
    (directory / "home" / "config.toml").write_text(
        f'[volumes]\nurl = "file://{directory / "volume-store"}"\n')
    process = ServerProcess(directory, ("--backend", "ray", "--ray-address", c.address))
    process.start()
    yield process
    process.stop()


def results(server: ServerProcess, code: str, *args: str) -> object:
    return ast.literal_eval(server.client(code, *args).strip().splitlines()[-1])


MAP = """
from apps import on_ray
with on_ray.app.run():
    print(list(on_ray.where.map(range(12))))
"""


def test_map_is_spread_over_both_nodes(cluster, server):
    c, gpu_node, _ = cluster
    out = results(server, MAP)
    assert [square for square, _, _ in out] == [x * x for x in range(12)]
    nodes = {node for _, node, _ in out}
    assert nodes == {raylet_pid(c.head_node), raylet_pid(gpu_node)}
    assert len({container for _, _, container in out}) >= 2


GPU = """
from apps import on_ray
with on_ray.app.run():
    print(list(on_ray.on_gpu.map(range(3))))
"""


def test_a_gpu_function_lands_only_on_the_node_with_that_gpu(cluster, server):
    _, gpu_node, _ = cluster
    out = results(server, GPU)
    # Ray's GPU 0 of that node, as ketch names it (its UUID, here the substitute's)
    assert out == [(raylet_pid(gpu_node), "GPU-fake-0")] * 3


NO_A100 = """
import ketch
app = ketch.App("wants-a100")

@app.function(gpu="A100")
def f():
    pass

try:
    with app.run():
        pass
except ketch.exception.ResourceExhaustedError as exc:
    print(repr(str(exc)))
"""


def test_a_gpu_no_node_has_is_refused_at_app_start(server):
    message = results(server, NO_A100)
    assert "no node of the Ray cluster can hold" in message
    assert '"accelerator_type:A100": 1' in message  # how a node would advertise it


SAME = """
from apps import basic
with basic.app.run():
    print(repr((
        list(basic.square.map(range(20))),
        [repr(r) for r in basic.maybe_fail.map(range(9), return_exceptions=True)],
        list(basic.gen.remote_gen(4)),
        list(basic.add.starmap([(1, 2), (3, 4)], kwargs={"c": 1})),
        basic.async_double.remote(21),
    )))
"""


def test_results_are_those_of_the_single_machine_backend(server, tmp_path):
    on_ray = results(server, SAME)
    env = {k: v for k, v in os.environ.items() if k != "KETCH_SERVER"}
    local = subprocess.run([sys.executable, "-c", SAME], capture_output=True, text=True, cwd=TESTS,
                           env={**env, "KETCH_HOME": str(tmp_path), "PYTHONPATH": str(TESTS)},
                           timeout=90)
    assert local.returncode == 0, local.stderr
    assert on_ray == ast.literal_eval(local.stdout.strip().splitlines()[-1])


IMAGED = """
from apps import on_ray
with on_ray.image_app.run():
    print(list(on_ray.in_image.map(range(12))))
"""


@needs_namespaces
def test_each_node_builds_the_image_it_runs_by_the_same_hashes(cluster, server):
    c, gpu_node, homes = cluster
    out = results(server, IMAGED)
    assert {(version, python) for version, python, _ in out} == {("1.16.0", "/opt/ketch/venv/bin/python")}
    nodes = {node for _, _, node in out}
    assert nodes == {raylet_pid(c.head_node), raylet_pid(gpu_node)}
    layers = [sorted(os.listdir(homes / name / "images" / "layers")) for name in ("head", "gpu")]
    assert layers[0] and layers[0] == layers[1]


VOLUMES = """
from apps import volumes
with volumes.app.run():
    volumes.write.remote("from-ray.txt", "written on a node")
    print(repr(volumes.read.remote("from-ray.txt")))
"""


@needs_namespaces
def test_a_volume_in_an_fsspec_store_is_mounted_on_the_nodes(server):
    assert results(server, VOLUMES) == ("written on a node", "written on a node")
    store = server.home.parent / "volume-store"
    manifests = list(store.glob("vo-*/versions/*.json"))
    assert len(manifests) >= 2 and list(store.glob("vo-*/blobs/*"))


KILLED = """
import sys
from apps import on_ray
with on_ray.app.run():
    print(list(on_ray.tagged.map(range(24), kwargs={"marker_dir": sys.argv[1]})))
"""


def test_a_node_killed_mid_map_loses_no_input(cluster, server, tmp_path):
    def every_container_answered(pid: str, markers: list[str]) -> bool:
        # Every container (at most 4) has finished an input, so none is still starting, and
        # one or more run on the doomed node: then the node dies, with its containers.
        per_container: dict[str, int] = {}
        for marker in markers:
            node, container = marker.split("-")[0], "-".join(marker.split("-")[1:3])
            per_container[f"{node}/{container}"] = per_container.get(f"{node}/{container}", 0) + 1
        return (len(per_container) == 4 and min(per_container.values()) >= 2
                and any(key.startswith(pid + "/") for key in per_container))

    pid, out = map_while_a_node_dies(cluster, server, KILLED, tmp_path, every_container_answered)
    assert out == [x * x for x in range(24)]
    ran_on = {m.split("-")[0] for m in os.listdir(tmp_path)}
    assert pid in ran_on and len(ran_on) >= 2  # and the rest elsewhere


FIRST = """
import sys
from apps import on_ray
with on_ray.app.run():
    print(list(on_ray.slow.map(range(6), kwargs={"marker_dir": sys.argv[1]})))
"""


def test_a_node_killed_before_its_container_answered_loses_no_input(cluster, server, tmp_path):
    def begun_there(pid: str, markers: list[str]) -> bool:  # its first input, not its output
        return any(m.startswith(pid + "-") for m in markers)

    _, out = map_while_a_node_dies(cluster, server, FIRST, tmp_path, begun_there)
    assert out == [x * x for x in range(6)]


def map_while_a_node_dies(cluster, server: ServerProcess, code: str, markers: Path,
                          ready: Callable[[str, list[str]], bool]) -> tuple[str, object]:
    """Run ``code`` (a map whose inputs leave files named after their node in ``markers``)
    with a new node in the cluster, and kill that node once ``ready(its pid, the files)``.
    The doomed node's raylet pid, and what the map printed."""
    c, _, _ = cluster
    doomed = c.add_node(**NODE)
    pid = raylet_pid(doomed)
    with subprocess.Popen([sys.executable, "-c", code, str(markers)], env=server.env(),
                          cwd=TESTS, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as client:
        deadline = time.monotonic() + 60
        while not ready(pid, os.listdir(markers)):
            if time.monotonic() > deadline or client.poll() is not None:
                pytest.fail(f"the map never got where the node should die: "
                            f"{os.listdir(markers)} {client.communicate()}")
            time.sleep(0.02)
        _kill_processes_of(pid)  # its workers (the actors) and their containers, then Ray's own
        c.remove_node(doomed, allow_graceful=False)
        out, err = client.communicate(timeout=90)
    assert client.returncode == 0, err
    return pid, ast.literal_eval(out.strip().splitlines()[-1])


def _kill_processes_of(raylet: str) -> None:
    """SIGKILL every process the node started, as its machine dying would: on this machine its
    workers and their containers would outlive its raylet for a while."""
    for proc in Path("/proc").iterdir():
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RAY_RAYLET_PID={raylet}".encode() in env:
            try:
                os.kill(int(proc.name), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass


PULLED = """
import sys
import registry
from apps import on_ray
moved = registry.Registry(sys.argv[1], None, None)
with on_ray.pulled_app.run():  # the tag moves once the image is built, before any container
    registry.push_image(moved, "moving", "v1", [registry.base_rootfs(),
                                                registry.layer({"marker": "second"})])
    print(list(on_ray.marker.map(range(12))))
"""


@needs_namespaces
@pytest.mark.skipif(bool(registry.missing_binaries("docker-registry", "skopeo", "mmdebstrap")),
                    reason="needs docker-registry, skopeo and mmdebstrap")
@pytest.mark.timeout(300)
def test_every_node_pulls_the_digest_the_tag_had_when_the_image_was_built(
        cluster, server, tmp_path, monkeypatch):
    c, gpu_node, homes = cluster
    with registry.start_registry(tmp_path / "registry") as reg:
        registry.push_image(reg, "moving", "v1", [registry.base_rootfs(),
                                                  registry.layer({"marker": "first"})])
        monkeypatch.setenv("KETCH_TEST_PULLED_IMAGE", reg.ref("moving", "v1"))
        out = results(server, PULLED, reg.host)
    assert {marker for marker, _ in out} == {"first"}
    for node in ("head", "gpu"):  # each pulled the image's layers, none of the moved tag's
        layers = (homes / node / "images" / "layers").glob("oci-*/fs/marker")
        assert [path.read_text() for path in layers] == ["first"], node


PLACED = """
import ketch
from apps import on_ray
with on_ray.placed_app.run():
    print(list(on_ray.in_eu.map(range(4))))
try:
    with on_ray.mars_app.run():
        pass
except ketch.exception.ResourceExhaustedError as exc:
    print(repr(str(exc)))
"""


def test_a_scheduler_placement_lands_only_on_the_nodes_with_its_label(cluster, server):
    _, gpu_node, _ = cluster
    out = server.client(PLACED).strip().splitlines()
    assert ast.literal_eval(out[-2]) == [raylet_pid(gpu_node)] * 4
    assert "labelled region:mars" in out[-1]
