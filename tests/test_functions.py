"""Function calls through the embedded control plane and real container processes."""

from __future__ import annotations

import asyncio
import time

import pytest

import ketch
from ketch import exception

from apps import basic

app = basic.app


@pytest.fixture(scope="module", autouse=True)
def running():
    with app.run():
        yield


def test_remote_and_local():
    assert basic.square.remote(4) == 16
    assert basic.square.local(3) == 9
    assert basic.add.remote(1, 2, c=3) == 6


def test_map_in_order_and_starmap():
    assert list(basic.square.map(range(300))) == [x * x for x in range(300)]
    assert list(basic.add.map([1, 2], [10, 20], kwargs={"c": 100})) == [111, 122]
    assert list(basic.add.starmap([(1, 2), (3, 4)])) == [3, 7]


def test_map_unordered_gives_every_result():
    out = list(basic.slow.map([0.2, 0.0, 0.1], order_outputs=False))
    assert sorted(out) == [0.0, 0.1, 0.2]


def test_map_return_exceptions():
    out = list(basic.maybe_fail.map(range(6), return_exceptions=True,
                                    wrap_returned_exceptions=False))
    assert [type(v) for v in out] == [KeyError, int, int, KeyError, int, int]
    wrapped = list(basic.maybe_fail.map([3], return_exceptions=True))
    assert isinstance(wrapped[0], exception.UserCodeException)
    assert isinstance(wrapped[0].exc, KeyError)


def test_map_raises_first_error():
    with pytest.raises(KeyError):
        list(basic.maybe_fail.map(range(6)))


def test_for_each():
    assert basic.square.for_each(range(10)) is None
    with pytest.raises(KeyError):
        basic.maybe_fail.for_each(range(4))
    basic.maybe_fail.for_each(range(4), ignore_exceptions=True)


def test_remote_exception_keeps_type_and_remote_traceback():
    with pytest.raises(ValueError, match="boom") as info:
        basic.fail.remote("boom")
    cause = info.value.__cause__
    assert cause is not None and "in fail" in str(cause) and "basic.py" in str(cause)
    with pytest.raises(basic.CustomError, match="custom 7"):
        basic.fail_custom.remote(7)


def test_generators():
    assert list(basic.gen.remote_gen(4)) == [0, 10, 20, 30]
    with pytest.raises(exception.InvalidError, match="remote_gen"):
        basic.gen.remote(3)
    with pytest.raises(exception.InvalidError, match="not a generator"):
        list(basic.square.remote_gen(3))


def test_async_function_and_aio_forms():
    assert basic.async_double.remote(21) == 42

    async def main():
        a = await basic.square.remote.aio(5)
        b = [x async for x in basic.square.map.aio(range(4))]
        c = [x async for x in basic.gen.remote_gen.aio(2)]
        call = await basic.square.spawn.aio(6)
        d = await call.get.aio()
        return a, b, c, d

    assert asyncio.run(main()) == (25, [0, 1, 4, 9], [0, 10], 36)


def test_spawn_and_function_call():
    call = basic.square.spawn(7)
    assert call.object_id.startswith("fc-")
    assert call.get() == 49
    assert call.get() == 49  # results stay readable
    same = ketch.FunctionCall.from_id(call.object_id)
    assert same.get(timeout=5) == 49


def test_function_call_poll_and_gather():
    call = basic.slow.spawn(0.5)
    with pytest.raises(TimeoutError):
        call.get(timeout=0)
    assert call.get(timeout=10) == 0.5
    calls = [basic.square.spawn(i) for i in range(5)]
    assert ketch.FunctionCall.gather(*calls) == [0, 1, 4, 9, 16]


def test_spawn_map():
    call = basic.square.spawn_map(range(5))
    assert call.num_inputs() == 5
    assert list(call.iter()) == [0, 1, 4, 9, 16]
    assert call.get(index=3) == 9


def test_cancel():
    call = basic.slow.spawn(30)
    time.sleep(0.3)
    call.cancel()
    with pytest.raises(exception.InputCancellation):
        call.get(timeout=5)


def test_context_inside_container():
    local, input_id, call_id = basic.context_info.remote(None)
    assert local is False
    assert input_id.startswith("in-")
    assert call_id.startswith("fc-")
    assert ketch.is_local() is True


def test_large_payloads_travel_as_blobs():
    data = b"a" * (3 * 1024 * 1024)
    assert basic.echo_size.remote(data) == (len(data), b"aaaa")
    assert len(basic.big_result.remote(5 * 1024 * 1024)) == 5 * 1024 * 1024


def test_timeout_raises_function_timeout_error():
    started = time.monotonic()
    with pytest.raises(exception.FunctionTimeoutError, match="timeout of 1 s"):
        basic.sleeps_past_timeout.remote(30)
    assert time.monotonic() - started < 15
    assert basic.sleeps_past_timeout.remote(0) == "finished"


@pytest.mark.parametrize("how", ["exit", "kill", "segfault"])
def test_container_death_costs_only_its_input(how):
    with pytest.raises(exception.ContainerDiedError, match="died"):
        basic.die.remote(how)
    assert basic.die.remote("none") == "alive"


def test_container_death_in_map_spares_other_inputs():
    out = list(basic.die.map(["none", "kill", "none", "none"], return_exceptions=True,
                             wrap_returned_exceptions=False))
    assert out[0] == out[2] == out[3] == "alive"
    assert isinstance(out[1], exception.ContainerDiedError)
    assert "SIGKILL" in str(out[1])


def test_retries_after_crash_and_after_exception(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert basic.flaky.remote(str(tmp_path / "a"), 2) == 2
    assert basic.flaky_raise.remote(str(tmp_path / "b")) == 1


def test_function_calls_another_function_from_a_container():
    assert basic.calls_other.remote(3) == 10


def test_concurrent_inputs_share_a_container():
    started = time.monotonic()
    pids = list(basic.concurrent_sleep.map([0.5] * 5))
    assert time.monotonic() - started < 2.4
    assert len(set(pids)) == 1


def test_batched():
    out = list(basic.batched_add.map([1, 2, 3, 4], [10, 20, 30, 40]))
    assert [v for v, _ in out] == [11, 22, 33, 44]
    assert max(size for _, size in out) > 1
    assert basic.batched_add.remote(1, 2)[0] == 3


def test_async_batched_and_async_generator():
    out = list(basic.async_batched_square.map(range(8)))
    assert [v for v, _ in out] == [x * x for x in range(8)]
    assert max(size for _, size in out) > 1
    assert list(basic.async_gen.remote_gen(3)) == [0, 1, 2]


def test_cancel_with_terminate_containers_replaces_the_container():
    call = basic.slow.spawn(30)
    time.sleep(0.5)
    call.cancel(terminate_containers=True)
    with pytest.raises(exception.InputCancellation):
        call.get(timeout=5)
    assert basic.slow.remote(0) == 0


def test_with_options():
    quick = basic.slow.with_options(timeout=1)
    with pytest.raises(exception.FunctionTimeoutError):
        quick.remote(10)
    assert basic.slow.with_options(retries=1).remote(0) == 0


def test_max_inputs_retires_a_container_after_that_many():
    identities = list(basic.retires_after_two.map(range(6)))
    counts = {identity: identities.count(identity) for identity in identities}
    assert len(counts) >= 3 and max(counts.values()) <= 2


def test_a_placement_one_machine_cannot_meet_is_noted_in_the_log(capfd):
    import ketch

    app = ketch.App("placed-here")

    @app.function(scheduler_placement=ketch.SchedulerPlacement(region="eu-west"), serialized=True)
    def here():
        return "ran"

    with ketch.enable_output(), app.run():
        assert here.remote() == "ran"
    assert "asks for scheduler_placement region=['eu-west']" in capfd.readouterr().err
