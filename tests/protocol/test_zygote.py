"""The zygote's frames over a real ``SOCK_SEQPACKET`` socket pair: each kind arrives as its own
type, a fork with the descriptors beside it, and a frame of the wrong shape is refused by name."""

from __future__ import annotations

import os
import socket

import pytest

from ketch.exception import InvalidError
from ketch.protocol import zygote as wire
from ketch.protocol.message import encode


def test_each_request_arrives_as_its_type_with_its_descriptors():
    worker, zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    out_r, out_w = os.pipe()
    with worker, zygote:
        fork = wire.Fork(id=7, config={"root": "/r", "binds": []}, env={"A": "1"}, spare=3)
        wire.send(worker, fork, [out_w])
        frame, fds = wire.receive_request(zygote)
        assert frame == fork and len(fds) == 1
        os.write(fds[0], b"x")
        assert os.read(out_r, 1) == b"x"
        for fd in (out_r, out_w, fds[0]):
            os.close(fd)
        for request in (wire.Prefork(id=8, cgroup_procs=["/sys/fs/cgroup/x/cgroup.procs"]),
                        wire.Drop(id=8), wire.Retire()):
            wire.send(worker, request)
            assert wire.receive_request(zygote) == (request, [])
        worker.close()
        assert wire.receive_request(zygote) is None


def test_each_report_arrives_as_its_type():
    worker, zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with worker, zygote:
        for report in (wire.Ready(pid=10), wire.Failed(reason="ImportError: x"),
                       wire.Forked(id=1, pid=11), wire.ForkFailed(id=2, reason="EAGAIN"),
                       wire.Exited(id=1, status=9)):
            wire.send(zygote, report)
            assert wire.receive_report(worker) == report


def test_a_frame_of_the_wrong_shape_is_refused_naming_it():
    worker, zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with worker, zygote:
        worker.send(encode(("fork", "not-an-id")))
        with pytest.raises(InvalidError, match="zygote request"):
            wire.receive_request(zygote)
        zygote.send(encode(("forked", 1, "pid")))
        with pytest.raises(InvalidError, match="zygote report"):
            wire.receive_report(worker)
