"""Containers grow with the backlog up to max_containers and shrink after scaledown_window."""

from __future__ import annotations

import time

from embedded import control_plane, wait_for

from apps import scaling


def containers_of(function) -> int:
    fn = control_plane().state.functions[function.object_id]
    return len([ct for ct in fn.containers.values() if not ct.stopping])


def test_scale_up_to_max_then_down_to_zero():
    with scaling.app.run():
        pids = list(scaling.busy.map([0.6] * 9))
        assert len(set(pids)) == 3  # grew, but never past max_containers=3
        assert wait_for(lambda: containers_of(scaling.busy) == 0, 10)


def test_min_containers_stay_warm():
    with scaling.app.run():
        assert wait_for(lambda: containers_of(scaling.warm) == 1, 10)  # before any input
        first = scaling.warm.remote(1)
        time.sleep(2.0)  # past the scaledown window
        assert containers_of(scaling.warm) == 1
        assert scaling.warm.remote(2) == first
