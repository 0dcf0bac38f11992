"""The agent's outbox: batched outputs, and the deadline by which its watcher sends them."""

from __future__ import annotations

import math
import socket
import threading
import time

from ketch.container.outbox import MAX_AGE_S, Outbox
from ketch.protocol import container as wire
from ketch.protocol.blocking_peer import BlockingPeer


def output(index: int) -> wire.Output:
    return wire.Output(call_id="fc-1", index=index, status=wire.Status.OK, data=b"x")


def test_a_waiting_output_wakes_the_watcher_and_says_when_it_is_due():
    ours, theirs = socket.socketpair()
    wake = threading.Event()
    agent, control_plane = BlockingPeer(ours), BlockingPeer(theirs)
    outbox = Outbox(agent, wake)
    assert outbox.stale_at() == math.inf and not wake.is_set()  # nothing to wait for
    before = time.monotonic()
    outbox.add(output(0), flush=False)
    assert wake.is_set()
    assert before + MAX_AGE_S <= outbox.stale_at() <= time.monotonic() + MAX_AGE_S
    wake.clear()
    outbox.add(output(1), flush=False)  # joins the batch: the deadline is the first one's
    assert not wake.is_set()
    outbox.flush()
    assert outbox.stale_at() == math.inf
    kind, _, body = control_plane.receive()
    assert kind == wire.OUTPUTS and body is not None
    agent.close()
    control_plane.close()


def test_an_output_sent_at_once_wakes_nothing():
    ours, theirs = socket.socketpair()
    wake = threading.Event()
    agent = BlockingPeer(ours)
    outbox = Outbox(agent, wake)
    outbox.add(output(0), flush=True)
    assert not wake.is_set() and outbox.stale_at() == math.inf
    agent.close()
    theirs.close()
