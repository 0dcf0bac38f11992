"""ketch.forward (Modal's modal.forward): a function container's port reached from outside."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import pytest

import ketch
from ketch import exception

from apps import forwarding


def get(url: str) -> str:
    deadline = time.monotonic() + 20
    while True:  # the server in the container may still be starting
        try:
            with urllib.request.urlopen(url + "/hostname", timeout=5) as answer:
                return answer.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_forwarded_port_is_reached_through_the_tunnel_until_the_block_ends():
    with forwarding.app.run(), ketch.Queue.ephemeral() as urls, \
            ketch.Queue.ephemeral() as done:
        call = forwarding.serve.spawn(urls, done)
        url = urls.get(timeout=60)
        assert url.startswith("http://") and get(url).strip()
        done.put("stop")
        assert call.get(timeout=60) == "closed"
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(url + "/hostname", timeout=5)


def test_forward_twice_and_outside_a_container_are_refused():
    with forwarding.app.run():
        assert "forwarded already" in forwarding.forward_twice.remote()
    with pytest.raises(exception.InvalidError, match="inside the function"):
        ketch.forward(8000)
