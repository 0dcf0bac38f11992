"""The handoff channel's messages over a real ``SOCK_SEQPACKET`` socket pair: typed bodies, a
descriptor beside them, and a message that does not fit ending the channel."""

from __future__ import annotations

import os
import socket

from ketch.protocol import handoff
from ketch.protocol.message import encode

GRANT = handoff.Grant(label="shop", by_host=True, domain="localhost", method=None,
                      credentials=None, max_body=1 << 20, head_s=5.0, body_s=30.0,
                      timeout_s=300.0, capacity=4)


def test_a_connection_and_a_load_report_cross_with_their_types():
    gateway, agent = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client, other = socket.socketpair()
    with gateway, agent, client, other:
        handoff.send(gateway, handoff.Conn(head=b"GET / HTTP/1.1\r\n\r\n", grant=GRANT),
                     client.fileno())
        kind, conn, fds = handoff.receive(agent)
        assert (kind, conn.grant, conn.head) == (handoff.CONN, GRANT, b"GET / HTTP/1.1\r\n\r\n")
        assert len(fds) == 1 and os.path.sameopenfile(fds[0], client.fileno())
        os.close(fds[0])
        tally = handoff.Tally(codes={200: 3}, buckets=[3] + [0] * 14, seconds=0.004)
        handoff.send(agent, handoff.Load(received=1, active=0, labels={"shop": tally}))
        assert handoff.receive(gateway) == (handoff.LOAD, handoff.Load(
            received=1, active=0, labels={"shop": tally}), [])


def test_a_message_that_does_not_fit_ends_the_channel_and_closes_its_descriptor():
    gateway, agent = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client, other = socket.socketpair()
    with gateway, agent, client, other:
        open_before = len(os.listdir("/proc/self/fd"))
        socket.send_fds(agent, [encode(("back", {"no": "such field"}))], [client.fileno()])
        agent.send(encode(("load", [1, "two", {}])))
        agent.send(encode(("steal", [])))
        gateway.setblocking(False)
        assert list(handoff.pending(gateway)) == [None]
        assert handoff.receive(gateway) is None and handoff.receive(gateway) is None
        assert len(os.listdir("/proc/self/fd")) == open_before  # the passed socket: closed
