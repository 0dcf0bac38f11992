"""Spares kept for bursts: how many a zygote's forks ask for (pure), and real spares handed to
real containers, which keep their own namespaces, cgroups and limits (needs root on Linux)."""

from __future__ import annotations

import time

import pytest
from embedded import control_plane, wait_for

from ketch import config
from ketch.backends import zygote_pool, zygote_spares
from ketch.backends.namespace import NamespaceDriver
from ketch.backends.zygote_spares import SpareDemand

from apps import bursts

problem = NamespaceDriver(config.home() / "containers", masks=[], zygotes=False).fingerprint()
needs_namespaces = pytest.mark.skipif(problem is not None, reason=f"namespace runtime: {problem}")


def test_one_spare_until_a_burst_asks_for_more():
    demand = SpareDemand()
    assert demand.wanted(0.0) == 1 and demand.quiet(0.0)
    demand.forked(10.0)
    assert demand.wanted(10.0) == 1 and not demand.quiet(10.0)
    for i in range(30):
        demand.forked(20.0 + i * 0.01)  # 30 forks within a third of a second
    assert demand.wanted(20.5) == 30
    assert demand.quiet(20.29 + zygote_spares.QUIET_S)


def test_forks_spread_out_are_no_burst():
    demand = SpareDemand()
    for i in range(30):
        demand.forked(i * zygote_spares.BURST_S)
    assert demand.wanted(30.0) == 1


def test_a_burst_is_forgotten_after_a_while_and_a_new_one_is_remembered_instead():
    demand = SpareDemand()
    for i in range(20):
        demand.forked(i * 0.01)
    assert demand.wanted(zygote_spares.REMEMBER_S) == 20
    assert demand.wanted(zygote_spares.REMEMBER_S + 1) == 1
    for i in range(5):
        demand.forked(zygote_spares.REMEMBER_S + 2 + i * 0.01)
    assert demand.wanted(zygote_spares.REMEMBER_S + 3) == 5


# -- real spares ----------------------------------------------------------------------------


def latest_zygote():
    pool = control_plane().worker._driver("namespace").zygotes
    return max(pool._zygotes.values(), key=lambda zygote: zygote.last_used)


def name_of(cgroup) -> str:
    return next(iter(cgroup.dirs.values())).name


def ready(zygote) -> list:
    return [spare for spare in zygote.spares if spare.ready]


def check_isolated(seen: list[dict]) -> list[dict]:
    """Each container in its own pid namespace (the agent is pid 2, after its init) and its own
    cgroup, with the function's memory limit whether it took a spare or not; one result per
    container (a container that finished early may have run two inputs)."""
    seen = list({s["container"]: s for s in seen}.values())
    assert len({s["pid_namespace"] for s in seen}) == len(seen)
    assert len({s["cgroup"] for s in seen}) == len(seen)
    for s in seen:
        assert s["pid"] == 2
        assert "/ketch/" in s["cgroup"]
        assert s["memory_limit"] == bursts.MEMORY_MIB * 2**20
    return seen


@needs_namespaces
def test_a_burst_leaves_spares_for_the_next_one_and_its_containers_take_them():
    with bursts.app.run():
        first = list(bursts.where.map([0.5] * 8))
        check_isolated(first)
        zygote = latest_zygote()
        wanted = zygote.demand.wanted(time.monotonic())
        assert wanted > 1  # the burst asked for more than the one spare kept as it forks
        assert wait_for(lambda: len(ready(zygote)) == wanted, 30)
        waiting = {name_of(spare.cgroup) for spare in ready(zygote)}
    with bursts.app.run():  # a new run of the app: none of its containers is running
        second = check_isolated(list(bursts.where.map([0.5] * 8)))
        took = {s["cgroup"].rsplit("/", 1)[1] for s in second} & waiting
        assert len(took) == min(len(waiting), len(second))  # every ready spare was used


@needs_namespaces
def test_spares_beyond_one_go_when_their_burst_is_forgotten(monkeypatch):
    with bursts.app.run():
        list(bursts.where.map([0.3] * 6))
        zygote = latest_zygote()
        assert wait_for(lambda: len(ready(zygote)) > 1, 30)
        extra = [spare.cgroup for spare in ready(zygote)]
    monkeypatch.setattr(zygote_spares, "REMEMBER_S", 0.0)
    time.sleep(zygote_spares.BURST_S)  # the burst's forks are out of the count
    with bursts.app.run():
        took = bursts.where.remote(0.0)["cgroup"]  # a fork; then the pool shares spares out
        assert wait_for(lambda: len(zygote.spares) == 1, 30)
        kept = {s.cgroup for s in zygote.spares}
        gone = [cgroup for cgroup in extra
                if cgroup not in kept and not took.endswith("/" + name_of(cgroup))]
        assert gone and wait_for(
            lambda: not any(d.exists() for cgroup in gone for d in cgroup.dirs.values()), 30)


@needs_namespaces
def test_the_spares_of_all_zygotes_stay_within_the_cap(monkeypatch):
    monkeypatch.setattr(zygote_pool, "MAX_SPARES", 3)
    with bursts.app.run():
        list(bursts.where.map([0.3] * 8))
        zygote = latest_zygote()
        wanted = zygote.demand.wanted(time.monotonic())
        assert wait_for(lambda: len(ready(zygote)) == min(3, wanted), 30)
        time.sleep(zygote_spares.QUIET_S * 5)  # no more come
        assert len(zygote.spares) == min(3, wanted)
