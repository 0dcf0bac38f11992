"""Requests reserve node capacity: never-fitting ones fail at once, others wait and say so."""

from __future__ import annotations

import pytest

import ketch
from ketch import exception

from apps import resources


def test_gpu_containers_see_only_their_own_gpus():
    with resources.app.run():
        cuda, nvidia = resources.gpu_env.remote()
        assert cuda.startswith("GPU-fake-") and cuda == nvidia
        assert resources.no_gpu_env.remote() == ""
        assert resources.fallback_gpu.remote().startswith("GPU-fake-")


def test_a_request_that_can_never_fit_fails_when_the_app_starts():
    app = ketch.App("too-big")
    huge = app.function(serialized=True, cpu=4096)(lambda: None)
    with pytest.raises(exception.ResourceExhaustedError, match="asks for 4096 CPU; this node has"):
        with app.run():
            huge.remote()
    app = ketch.App("no-such-gpu")
    b200 = app.function(serialized=True, gpu="B200")(lambda: None)
    with pytest.raises(exception.ResourceExhaustedError, match="no B200.*it has"):
        with app.run():
            b200.remote()


def test_a_request_that_fits_later_waits_and_says_so(capsys):
    with ketch.enable_output(), resources.app.run():
        assert list(resources.whole_node.map([0.5, 0.5])) == [0.5, 0.5]
    assert "waiting for resources" in capsys.readouterr().err
