"""The autoscaler's plan, a pure function of a snapshot."""

from __future__ import annotations

from ketch.server.autoscaler import Plan, Snapshot, plan, target


def snap(**kw) -> Snapshot:
    base = dict(pending=0, running=0, ready=0, starting=0, idle_s={}, concurrency=1,
                input_s=None, cold_start_s=0.2)
    base.update(kw)
    return Snapshot(**base)


def test_no_work_no_containers():
    assert plan(snap()) == Plan()


def test_unknown_input_time_grows_one_container_at_a_time():
    assert plan(snap(pending=200)) == Plan(start=1)
    assert plan(snap(pending=200, starting=1)) == Plan()


def test_backlog_drains_within_a_cold_start():
    # 100 inputs of 1 s each, 0.2 s cold start: one container per input, capped by max
    assert target(snap(pending=100, ready=1, input_s=1.0, max_containers=10)) == 10
    # tiny inputs: the one container drains them faster than a new one could start
    assert target(snap(pending=10_000, ready=1, input_s=0.00001)) == 1


def test_concurrency_divides_the_need():
    assert target(snap(pending=50, ready=1, input_s=1.0, concurrency=10)) == 5


def test_min_and_buffer_containers():
    assert target(snap(min_containers=2)) == 2
    assert target(snap(pending=1, ready=1, input_s=1.0, buffer_containers=2)) == 3
    assert target(snap(buffer_containers=2)) == 0  # buffers only while busy


def test_scale_down_only_after_the_window_longest_idle_first():
    idle = {"a": 5.0, "b": 61.0, "c": 120.0}
    assert plan(snap(ready=3, idle_s=idle, scaledown_window_s=60)) == Plan(stop=["c", "b"])
    assert plan(snap(ready=3, idle_s=idle, scaledown_window_s=60, min_containers=2)) == Plan(
        stop=["c"]
    )


def test_a_running_inputs_age_says_when_to_plan_again():
    now = snap(pending=99, running=1, ready=1, input_s=0.001, input_s_grows=True)
    assert target(now) == 1
    later = plan(now).recheck_s
    assert later is not None and 0 < later < now.cold_start_s
    grown = snap(pending=99, running=1, ready=1, input_s=0.001 + later, input_s_grows=True)
    assert target(grown) == 2  # by then one more container is wanted
    assert plan(grown).start == 1


def test_no_plan_again_when_the_target_cannot_grow_by_itself():
    assert plan(snap(pending=99, running=1, ready=1, input_s=0.001)).recheck_s is None  # measured
    full = snap(pending=0, running=4, ready=4, input_s=5.0, input_s_grows=True)
    assert plan(full).recheck_s is None  # every input has a container already
    capped = snap(pending=99, running=1, ready=3, input_s=1.0, input_s_grows=True,
                  max_containers=3)
    assert plan(capped).recheck_s is None
