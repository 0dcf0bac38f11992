"""The call lifecycle on the real control plane, with a fake worker and hand-driven agents
(tests/server/fake_worker.py): queueing, filling containers, retries, requeueing a dead
container's inputs, a container that dies while starting, cancelling. Each test takes
milliseconds; the same paths through real containers are tested in tests/test_functions.py,
tests/test_retries.py and tests/server/test_container_outputs.py."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec

from ketch.protocol import client as protocol
from ketch.protocol import container as wire
from ketch.protocol.definition import FunctionDefinition
from ketch.server import ControlPlane
from ketch.server.auth import Identity
from ketch.server.containers import MAX_FORKING, MAX_STARTING

from .fake_worker import FakeAgent, FakeWorker

Status = wire.Status
RETRIES = {"max_retries": 1, "initial_delay": 0.0, "backoff_coefficient": 1.0,
           "max_delay": 0.0}


def lifecycle(test: Callable[[ControlPlane, FakeWorker, str], Awaitable[None]],
              tmp_path: Path, **options: Any) -> None:
    """Run ``test`` with a control plane on a fake worker and one function of ``options``."""
    async def main() -> None:
        cp = ControlPlane(tmp_path, worker=FakeWorker)
        app = cp.app_service.create("lifecycle", "main")
        definition = msgspec.convert({"name": "f", "options": options}, FunctionDefinition)
        fn = await cp.app_service.add_function(app.id, definition)
        try:
            await test(cp, cp.worker, fn.id)  # type: ignore[arg-type]
        finally:
            await cp.close()

    asyncio.run(main())


async def settle() -> None:
    """Let what the control plane scheduled for soon (pumps, scaling, starts) run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def call(cp: ControlPlane, function_id: str, inputs: int,
               by: FakeAgent | None = None) -> str:
    """A call of ``inputs`` inputs, made by the code of ``by``'s container if given."""
    records = [protocol.InputRecord(index=i, method=None, args=f"{i}".encode(), blob_id=None)
               for i in range(inputs)]
    request = protocol.CallCreate(function_id=function_id, kind="map", records=records)
    if by is None:
        started = await cp.handle(request)
    else:
        app_id = cp.state.functions[function_id].app_id
        started = await cp.handle(request, Identity("container", by.spec.container_id, app_id,
                                                    frozenset(["main"])))
    await settle()
    return str(started.call_id)


async def outputs(cp: ControlPlane, call_id: str) -> dict[int, tuple[str, bytes | None]]:
    answer = await cp.handle(protocol.OutputsGet(call_id=call_id, cursor=0, timeout=0))
    return {o.index: (o.status, o.data) for o in answer.outputs}


def test_inputs_queue_until_a_container_says_hello_then_fill_it(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 3)
        assert len(worker.started) == 1  # one container while the time per input is unknown
        assert len(cp.state.functions[function_id].pending) == 3
        agent = await worker.connect()
        await settle()
        assert [i.index for i in agent.inputs] == [0]  # as many as it runs at once
        for index in range(3):
            await agent.reply(agent.inputs[index], Status.OK, b"done")
            await settle()
        assert await outputs(cp, call_id) == {i: (Status.OK, b"done") for i in range(3)}
        assert [i.index for i in agent.inputs] == [0, 1, 2]

    lifecycle(test, tmp_path)


def test_interpreter_starts_are_capped_and_forks_may_be_more_at_once(tmp_path):
    async def burst(cp: ControlPlane, worker: FakeWorker, function_id: str, forks: bool) -> int:
        worker.forks = forks
        cp.state.functions[function_id].input_s = 10.0  # known: each input wants a container
        await call(cp, function_id, 500)
        for _ in range(50):  # each start the worker reports lets the next ones go
            await settle()
        return len(worker.started)

    async def launches(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        assert await burst(cp, worker, function_id, forks=False) == MAX_STARTING

    async def forks(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        assert await burst(cp, worker, function_id, forks=True) == MAX_FORKING > MAX_STARTING

    lifecycle(launches, tmp_path / "launches")
    lifecycle(forks, tmp_path / "forks")


def test_a_failed_input_is_retried_under_the_policy_then_fails(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 1)
        agent = await worker.connect()
        await settle()
        await agent.reply(agent.inputs[0], Status.ERROR, b"first")
        await asyncio.sleep(0.01)
        cp.sessions.pump(cp.state.functions[function_id])  # the tick releases what is due
        await settle()
        assert [(i.index, i.attempt) for i in agent.inputs] == [(0, 0), (0, 1)]
        assert await outputs(cp, call_id) == {}  # the caller sees nothing of the first failure
        await agent.reply(agent.inputs[1], Status.ERROR, b"second")
        await settle()
        assert await outputs(cp, call_id) == {0: (Status.ERROR, b"second")}

    lifecycle(test, tmp_path, retries=RETRIES)


def test_a_dead_containers_running_input_is_charged_and_the_others_requeued(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 3)
        first = await worker.connect()
        await settle()
        assert [i.index for i in first.inputs] == [0, 1]  # it runs two at once
        worker.kill(first, running=[first.inputs[0]])  # its board: 0 ran, 1 waited
        await settle()
        fn = cp.state.functions[function_id]
        assert first.spec.container_id not in fn.containers
        second = await worker.connect()
        await settle()
        assert [(i.index, i.attempt) for i in second.inputs] == [(1, 0), (2, 0)]
        for given in second.inputs:
            await second.reply(given, Status.OK, b"ok")
        await settle()
        got = await outputs(cp, call_id)
        assert got[0][0] == Status.DIED and b"killed by signal 9" in (got[0][1] or b"")
        assert got[1] == got[2] == (Status.OK, b"ok")

    lifecycle(test, tmp_path, max_inputs=2)


def test_a_container_that_dies_while_starting_fails_the_queued_inputs(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 2)
        agent = await worker.connect()
        await settle()
        worker.kill(agent, reason="the container exited with code 1")
        await settle()
        got = await outputs(cp, call_id)
        assert {status for status, _ in got.values()} == {Status.DIED}
        assert b"failed while starting" in (got[1][1] or b"")  # the queued one too

    lifecycle(test, tmp_path)


def test_cancelling_drops_the_queue_tells_the_container_and_ends_the_call(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 3)
        agent = await worker.connect()
        await settle()
        await cp.handle(protocol.CallCancel(call_id=call_id))
        await settle()
        assert agent.notices(wire.CANCEL) == [[(call_id, 0)]]
        assert not cp.state.functions[function_id].pending
        got = await outputs(cp, call_id)
        assert {status for status, _ in got.values()} == {Status.CANCELLED} and len(got) == 3
        await agent.reply(agent.inputs[0], Status.OK, b"late")  # its late answer goes nowhere
        assert call_id not in cp.state.calls  # read to its end: forgotten, and not made again

    lifecycle(test, tmp_path)


def test_an_output_for_an_input_the_container_was_not_given_is_dropped(tmp_path):
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        call_id = await call(cp, function_id, 2)
        agent = await worker.connect()
        await settle()
        forged = wire.Input(call_id=call_id, index=1, method=None, args=None, blob_id=None)
        await agent.reply(forged, Status.OK, b"forged")
        await settle()
        assert await outputs(cp, call_id) == {}

    lifecycle(test, tmp_path)


def test_no_input_waits_behind_one_that_may_be_waiting_for_it(tmp_path):
    # f's input calls f (Modal's recursion, `self.method.spawn` in a class): the new input
    # goes to another container, not queued behind its caller on the caller's container
    async def test(cp: ControlPlane, worker: FakeWorker, function_id: str) -> None:
        fn = cp.state.functions[function_id]
        fn.input_s = 0.0001  # known to be short: a container is given more than it runs
        outer = await call(cp, function_id, 1)
        first = await worker.connect()
        await settle()
        inner = await call(cp, function_id, 1, by=first)
        assert [i.call_id for i in first.inputs] == [outer]
        await asyncio.sleep(0.3)  # the outer input's age says that another container is due
        await settle()
        assert len(worker.started) == 2
        second = await worker.connect()
        await settle()
        assert [i.call_id for i in second.inputs] == [inner]
        await second.reply(second.inputs[0], Status.OK, b"inner")
        await settle()
        more = await call(cp, function_id, 3)  # its call has ended: prefetched again
        assert [i.call_id for i in first.inputs] == [outer, more, more, more]

    lifecycle(test, tmp_path)
