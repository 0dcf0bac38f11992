"""The namespace runtime with real namespaces, overlays and cgroups (needs root on Linux)."""

from __future__ import annotations

import os
import time

import pytest

from ketch import client, config, exception, synchronizer
from ketch.backends.namespace import NamespaceDriver

from apps import isolation

problem = NamespaceDriver(config.home() / "containers", masks=[]).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"namespace runtime: {problem}")


@pytest.fixture(scope="module", autouse=True)
def running():
    with isolation.app.run():
        yield


def test_container_sees_only_its_own_processes_and_writes_only_scratch(tmp_path):
    host_file = tmp_path / "host.txt"
    host_file.write_text("host content")
    out = isolation.probe.remote(os.getpid(), str(host_file))
    assert out["pids"][:2] == [1, 2] and max(out["pids"]) < 100
    assert out["can_signal"] is False  # the host's pid is not in its namespace
    assert out["hostname"].startswith("ct-")
    assert out["read_back"] == "written inside"
    assert host_file.read_text() == "host content"  # the write landed in the scratch layer
    assert not os.path.exists("/etc/ketch-scratch-test")
    assert out["disks"] == []  # no host block devices in its /dev


def test_scratch_is_removed_when_the_container_ends():
    container_id = isolation.scratch_dir.remote()
    scratch = config.home() / "containers" / container_id
    assert scratch.exists()
    control_plane = synchronizer.run(client.get_client()).transport.control_plane
    container = control_plane.state.containers[container_id]
    synchronizer.run(control_plane.sessions.stop_container(container, requeue=False))
    deadline = time.monotonic() + 10
    while scratch.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not scratch.exists()


def test_memory_limit_kills_with_a_clear_error():
    with pytest.raises(exception.ContainerDiedError, match=r"ran out of memory at \d+ MiB"):
        isolation.hog.remote(512)
    assert isolation.hog.remote(8) == 8


def test_cpu_quota_holds():
    cpu_seconds = isolation.burn.remote(2.0)
    assert 0.7 <= cpu_seconds <= 1.3  # half a core for 2 s, not a whole one
