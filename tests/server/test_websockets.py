"""WebSockets through the gateway: a real client (the `websockets` library) against `ketch serve`
of a Modal-style program (tests/apps/web_sockets.py) on a real `ketch server`, with the
containers real: a FastAPI app's websocket routes (the connection handed to the container)
and a web_server's own WebSocket server (tunnelled by the gateway)."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from .server_process import TESTS, ServerProcess, free_port, interrupt


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The gateway's (host, port), the URLs `ketch serve` printed, and a proxy token."""
    server = ServerProcess(tmp_path_factory.mktemp("sockets"))
    server.start()
    serve = None
    try:
        made = server.cli("token", "new", "--proxy")
        token = dict(re.findall(r"token (id|secret):\s+(\S+)", made.stdout))
        env = {**server.env(), "KETCH_TEST_WS_PORT": str(free_port())}
        serve = subprocess.Popen([sys.executable, "-m", "ketch.cli", "serve",
                                  str(TESTS / "apps" / "web_sockets.py")], env=env,
                                 stdout=subprocess.PIPE, text=True, start_new_session=True)
        urls = {}
        while len(urls) < 3:
            line = serve.stdout.readline()
            assert line, "ketch serve ended before it listed its endpoints"
            name, _, url = line.strip().partition(": ")
            if url.startswith("http"):
                urls[name] = url
        gateway = urls["open_app"].split("/")[2].split(":")
        yield (gateway[0], int(gateway[1])), urls, token
    finally:
        if serve is not None:
            interrupt(serve)
            serve.stdout.close()
        server.stop()


def ws(url: str, path: str, **kwargs):
    return connect(url.replace("http", "ws", 1) + path, open_timeout=60, **kwargs)


def test_messages_go_both_ways_and_either_side_closes(served):
    _, urls, _ = served
    with ws(urls["open_app"], "/echo") as client:
        client.send("hi")
        assert client.recv(timeout=30) == "echo hi at /echo"  # the app's own path
        client.send("again")
        assert client.recv(timeout=30) == "echo again at /echo"
        client.send("bye")
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=30)
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4000, "asked to")
    with ws(urls["open_app"], "/echo") as client:  # the client closes this one
        client.send("once")
        assert client.recv(timeout=30) == "echo once at /echo"
    assert client.close_code == 1000


def test_the_functions_timeout_closes_a_websocket(served):
    _, urls, _ = served
    started = time.monotonic()
    with ws(urls["open_app"], "/ticks") as client:
        assert [client.recv(timeout=30) for _ in range(3)] == ["tick 0", "tick 1", "tick 2"]
        with pytest.raises(ConnectionClosed) as closed:
            client.recv(timeout=30)
    assert closed.value.rcvd.code == 1001 and "timeout of 4 s" in closed.value.rcvd.reason
    assert time.monotonic() - started < 30


def test_a_proxy_token_is_checked_at_the_upgrade(served):
    _, urls, token = served
    with pytest.raises(InvalidStatus) as refused:
        ws(urls["private_app"], "/echo")
    assert refused.value.response.status_code == 401
    wrong = {"Modal-Key": token["id"], "Modal-Secret": "nope"}
    with pytest.raises(InvalidStatus) as refused:
        ws(urls["private_app"], "/echo", additional_headers=wrong)
    assert refused.value.response.status_code == 401
    good = {"Modal-Key": token["id"], "Modal-Secret": token["secret"]}
    with ws(urls["private_app"], "/echo", additional_headers=good) as client:
        client.send("let in")
        assert client.recv(timeout=30) == "echo let in at /echo"


def test_by_host_name(served):
    """``ws://ws-open.localhost:PORT/echo``, the socket connected to the gateway's address
    (this machine's resolver may not know *.localhost; browsers and curl do)."""
    gateway, _, _ = served
    sock = socket.create_connection(gateway, timeout=30)
    with connect(f"ws://ws-open.localhost:{gateway[1]}/echo", sock=sock,
                 open_timeout=60) as client:
        client.send("by host")
        assert client.recv(timeout=30) == "echo by host at /echo"


def test_a_web_servers_own_websocket_server(served):
    _, urls, _ = served
    with ws(urls["own_server"], "/") as client:
        client.send("through")
        assert client.recv(timeout=30) == "raw through"
        client.send("and back")
        assert client.recv(timeout=30) == "raw and back"
    started = time.monotonic()
    with ws(urls["own_server"], "/") as client:  # held open: the timeout ends it
        with pytest.raises(ConnectionClosed):
            client.recv(timeout=30)
    assert time.monotonic() - started < 30
