"""Attacks on the HTTP gateway by a web client with a raw socket, against a real `ketch server`
whose endpoints run in real containers: request smuggling, header leaks, large and slow
requests, a container that never answers."""

from __future__ import annotations

import json
import socket
import sys

import pytest

from .server_process import TESTS, ServerProcess

LIMITS = "[gateway]\nmax_body_mib = 1\nhead_timeout_s = 1\nbody_timeout_s = 2\n"
URL = "import ketch; print(ketch.Function.from_name('gateway-probe', {!r}).get_web_url())"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """(host, port) of the gateway of a server with small limits and the probe app deployed."""
    server = ServerProcess(tmp_path_factory.mktemp("gateway"))
    server.home.mkdir(parents=True)
    (server.home / "config.toml").write_text(LIMITS)
    server.start()
    try:
        deployed = server.cli("deploy", str(TESTS / "apps" / "gateway_probe.py"))
        assert deployed.returncode == 0, deployed.stderr
        url = server.client(URL.format("echo")).strip()  # http://host:port/probe-echo
        host, port = url.split("/")[2].split(":")
        yield host, int(port)
    finally:
        server.stop()


def connect(gateway: tuple[str, int]) -> socket.socket:
    return socket.create_connection(gateway, timeout=30)


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response with a Content-Length, read from a kept-open connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or sys.exit("the gateway closed the connection")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(body) < int(fields["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), fields, body


def get(sock: socket.socket, path: str, extra: str = "") -> tuple[int, dict[str, str], bytes]:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode())
    return read_response(sock)


def closed(sock: socket.socket) -> bool:
    """Whether the gateway closed this connection (reading whatever it answered first)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        pass
    return True  # a connection left open would have raised TimeoutError


def test_an_encoded_second_request_stays_in_the_first_ones_path(gateway):
    smuggled = ("/probe-echo/x%20HTTP/1.1%0D%0AHost:%20x%0D%0A%0D%0A"
                "GET%20/secret%20HTTP/1.1%0D%0AX:%20y")
    with connect(gateway) as attacker:
        status, _, body = get(attacker, smuggled)
    assert status == 200
    assert json.loads(body)["path"] == "/x HTTP/1.1\r\nHost: x\r\n\r\nGET /secret HTTP/1.1\r\nX: y"
    for _ in range(3):  # whoever comes next, on whichever kept-open upstream connection
        with connect(gateway) as victim:
            assert json.loads(get(victim, "/probe-echo/mine")[2])["path"] == "/mine"


def test_control_bytes_in_a_header_are_refused(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"GET /probe-echo/x HTTP/1.1\r\nHost: x\r\nX-Evil: a\x01b\r\n\r\n")
        assert read_response(sock)[0] == 400


def test_proxy_credentials_and_hop_by_hop_headers_stay_out_of_the_app(gateway):
    extra = ("Modal-Key: wk-1\r\nModal-Secret: ws-1\r\nKetch-Key: a\r\nKetch-Secret: b\r\n"
             "Proxy-Authorization: Basic eDp5\r\nX-Kept: 1\r\n")
    with connect(gateway) as sock:
        seen = json.loads(get(sock, "/probe-echo/h", extra)[2])["headers"]
    assert "x-kept" in seen
    assert not {"modal-key", "modal-secret", "ketch-key", "ketch-secret",
                "proxy-authorization"} & set(seen)


def test_a_body_declared_too_large_is_refused_before_it_is_sent(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"POST /probe-echo/up HTTP/1.1\r\nHost: x\r\nContent-Length: 1073741824\r\n"
                     b"\r\n")
        status, fields, _ = read_response(sock)
        assert status == 413 and fields["connection"] == "close"
        assert closed(sock)


def test_a_chunked_body_past_the_cap_is_refused(gateway):
    chunk = b"x" * 65536
    with connect(gateway) as sock:
        sock.sendall(b"POST /probe-echo/up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                     b"\r\n")
        try:
            for _ in range(64):  # 4 MiB against a cap of 1
                sock.sendall(b"10000\r\n" + chunk + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused and closed while it was still sending
        assert read_response(sock)[0] == 413


def test_a_body_under_the_cap_reaches_the_app(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"POST /probe-echo/up HTTP/1.1\r\nHost: x\r\nContent-Length: 500000\r\n\r\n"
                     + b"x" * 500000)
        status, _, body = read_response(sock)
    assert status == 200 and json.loads(body)["body"] == 500000


def test_a_head_sent_a_byte_at_a_time_is_cut_off(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"GET /probe-echo/x HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert closed(sock)
    with connect(gateway) as sock:  # nothing at all
        assert closed(sock)


def test_a_body_that_never_arrives_is_answered_408(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"POST /probe-echo/up HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab")
        assert read_response(sock)[0] == 408
        assert closed(sock)


def test_a_container_that_never_answers_is_given_up_at_its_timeout(gateway):
    with connect(gateway) as sock:
        status, _, body = get(sock, "/probe-stuck/")
    assert status == 504 and b"within 2 s" in body, body


def test_a_request_that_blocks_its_containers_loop_ends_the_container(gateway):
    with connect(gateway) as sock:
        sock.sendall(b"GET /probe-blocker/block HTTP/1.1\r\nHost: x\r\n\r\n")
        answered = b""
        try:
            while chunk := sock.recv(65536):
                answered += chunk
        except ConnectionResetError:
            pass
    assert answered == b""  # the container exited at its timeout, holding the connection
    with connect(gateway) as sock:  # a new container answers the next request
        assert get(sock, "/probe-blocker/")[2] == b"ok"
