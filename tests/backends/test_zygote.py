"""Containers forked from zygotes, with and without memory snapshots (needs root on Linux)."""

from __future__ import annotations

import importlib
import os
import sys
import time

import httpx
import pytest

from ketch import config, synchronizer
from ketch.backends.namespace import NamespaceDriver
from ketch.client import get_client
from ketch.protocol import client as protocol

from apps import snapshots

problem = NamespaceDriver(config.home() / "containers", masks=[], zygotes=False).fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"namespace runtime: {problem}")


@pytest.fixture(scope="module")
def running():
    with snapshots.app.run():
        yield


def test_each_container_starts_from_fresh_state_in_its_own_namespaces(running):
    seen = [snapshots.bump.remote() for _ in range(3)]
    assert [s["counter"] for s in seen] == [1, 1, 1]  # no global mutated by an earlier input
    assert len({s["container"] for s in seen}) == 3
    assert len({s["imported_at"] for s in seen}) == 1  # the module was imported once, ahead
    assert len({s["cgroup"] for s in seen}) == 3  # a cgroup each, not the zygote's
    for s in seen:
        assert s["pid"] == 2  # pid 1 is the container's init: its own pid namespace
        assert s["hostname"] == s["container"]
        assert "/ketch/" in s["cgroup"]


def test_snap_hooks_run_once_in_the_zygote_and_the_others_in_each_container(running):
    first, second = snapshots.Model().info.remote(), snapshots.Model().info.remote()
    assert first["container"] != second["container"]
    assert first["loaded_by"] == second["loaded_by"] != 2  # the zygote, outside the container
    assert first["started_by"] == second["started_by"] == 2
    assert first["weights"] == 1000


def test_a_code_change_makes_a_new_zygote(tmp_path, monkeypatch):
    module = tmp_path / "edited_app.py"
    source = '''
import ketch
app = ketch.App("edited")
VERSION = {version}

@app.function(runtime="namespace", enable_memory_snapshot=True)
def version():
    return VERSION
'''
    module.write_text(source.format(version=1))
    monkeypatch.syspath_prepend(str(tmp_path))
    edited = importlib.import_module("edited_app")
    try:
        with edited.app.run():
            assert edited.version.remote() == 1
        time.sleep(0.01)  # a later modification time, even on coarse clocks
        module.write_text(source.format(version=2))
        os.utime(module, ns=(time.time_ns(), time.time_ns()))
        edited = importlib.reload(edited)
        with edited.app.run():
            assert edited.version.remote() == 2
    finally:
        sys.modules.pop("edited_app", None)


def test_an_unsafe_snapshot_falls_back_to_a_normal_start_and_says_so(running):
    assert snapshots.Threaded().ping.remote() == "pong"
    client = synchronizer.run(get_client())
    answer = synchronizer.run(client.request(protocol.LogsGet(app_id=snapshots.app.app_id,
                                                              cursor=0, timeout=1.0)))
    said = [line.text for line in answer.lines if "without its memory snapshot" in line.text]
    assert said and "background-loader" in said[0]


def test_without_snapshot_containers_are_forked_but_import_the_module_themselves(running):
    first, second = snapshots.plain.remote(), snapshots.plain.remote()
    assert first["container"] != second["container"]
    for seen in (first, second):  # forked from a zygote, not a new `python -m ketch.container`
        assert "ketch.container.zygote" in seen["command"]
        assert seen["pid"] == 2
    assert first["imported_at"] != second["imported_at"]  # imported after the fork, in each


def test_a_web_endpoints_containers_fork_with_the_web_server_imported(running):
    assert snapshots.plain.remote()["server_imported"] is False
    seen = httpx.get(snapshots.web_where.get_web_url(), timeout=60).json()
    assert "ketch.container.zygote" in seen["command"]
    assert seen["server_imported"] is True  # by its zygote, before the module and the request


def test_a_web_endpoint_with_a_snapshot_has_its_module_imported_by_the_zygote(running):
    seen = httpx.get(snapshots.web_snapped.get_web_url(), timeout=60).json()
    assert seen["server_imported"] is True
    assert seen["module_pid"] != seen["pid"] == 2  # imported outside the container, ahead
