"""modal.experimental.http_server: a class's own HTTP server, through the gateway, run by
`ketch run` as a user would; and what it refuses at decoration."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from server.server_process import free_port

import ketch
from ketch import exception
from ketch.flash import http_server

TESTS = os.path.dirname(__file__)


def test_a_class_serves_the_server_its_enter_starts():
    env = {**os.environ, "FLASH_PORT": str(free_port()), "KETCH_GATEWAY_PORT": "0"}
    done = subprocess.run([sys.executable, "-m", "ketch.cli", "run",
                           os.path.join(TESTS, "apps", "flash_server.py")], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert ["urls 1", "answer flash /some/path?q=1"] == [
        line for line in done.stdout.splitlines() if line.startswith(("urls", "answer"))]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "Did you forget parentheses"),
    ({"port": 0, "proxy_regions": ["us-east"]}, "between 1 and 65535"),
    ({"port": 8000}, "proxy_regions"),
    ({"port": 8000, "proxy_regions": ["us-east"], "startup_timeout": 0}, "startup_timeout"),
    ({"port": 8000, "proxy_regions": ["us-east"], "exit_grace_period": 60}, "exit_grace_period"),
])
def test_bad_settings_are_refused_at_decoration(kwargs, message):
    with pytest.raises(exception.InvalidError, match=message):
        http_server(**kwargs)


def test_a_server_class_may_not_have_methods():
    app = ketch.App("flash-methods")

    with pytest.raises(exception.InvalidError, match="its @enter starts the server"):
        @app.cls(serialized=True)
        @http_server(port=8000, proxy_regions=["us-east"])
        class Both:
            @ketch.method()
            def call(self):
                return 1
