"""proxy=ketch.Proxy.from_name(...): a function's outbound HTTP through a real proxy on
127.0.0.1 (a forward proxy in the test that answers for any host)."""

from __future__ import annotations

import http.server
import os
import threading
from pathlib import Path

import pytest

import ketch
from ketch import exception

from apps import proxied


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # a forward proxy gets the absolute URL
        body = f"via proxy: {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy_config():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    path = Path(os.environ["KETCH_HOME"]) / "config.toml"
    before = path.read_text() if path.exists() else None
    path.write_text(f'[proxies]\ntest-proxy = "http://127.0.0.1:{server.server_address[1]}"\n')
    yield
    server.shutdown()
    server.server_close()
    if before is None:
        path.unlink()
    else:
        path.write_text(before)


def test_outbound_http_goes_through_the_named_proxy(proxy_config):
    with proxied.app.run():
        assert proxied.fetch.remote("http://upstream.invalid/page") == (
            "via proxy: http://upstream.invalid/page")


def test_an_unknown_proxy_is_refused_when_the_app_starts(proxy_config):
    with pytest.raises(exception.NotFoundError, match=r"no-such-proxy.*\[proxies\]"):
        with proxied.unknown_app.run():
            pass
    with pytest.raises(exception.InvalidError, match="ketch.Proxy"):
        ketch.App("x").function(proxy="corp")(lambda: None)
