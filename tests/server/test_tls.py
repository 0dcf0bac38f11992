"""TLS off loopback: a ``ketch server --host 127.0.0.2`` (anything but 127.0.0.1, ::1 and
localhost counts as off loopback) serves its client port and its gateway over TLS with a
self-signed certificate; clients pin its fingerprint and refuse any other; a plain client is told
what to do. Everything is watched from outside: a relay that records the bytes, raw sockets."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading

import pytest

from ketch.protocol import wire

from .server_process import TESTS, ServerProcess, free_port

MARKER = "tls-sniff-marker-5f3a9c"
CALL = f"""
from apps import tls_echo
with tls_echo.app.run():
    print(tls_echo.echo.remote({MARKER!r}))
"""
WEB = """
import ssl, sys, urllib.request
from apps import tls_echo
with tls_echo.app.run():
    url = tls_echo.hello.get_web_url()
    trusted = ssl.create_default_context(cafile=sys.argv[1])
    print(url)
    print(urllib.request.urlopen(url + "?name=tls", context=trusted, timeout=60).read().decode())
"""


@pytest.fixture
def tls_server(tmp_path):
    process = ServerProcess(tmp_path, host="127.0.0.2")
    process.start()
    yield process
    process.stop()


def published(server: ServerProcess) -> dict[str, str]:
    return json.loads((server.home / "server.json").read_text())


class Relay:
    """A TCP relay on 127.0.0.1 to ``target`` that keeps every byte each way."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.up = bytearray()    # client -> server
        self.down = bytearray()  # server -> client
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, server, self.up), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, self.down), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, seen: bytearray) -> None:
        try:
            while data := src.recv(1 << 16):
                seen.extend(data)
                dst.sendall(data)
            dst.shutdown(socket.SHUT_WR)
        except OSError:  # the other side went first
            pass

    def close(self) -> None:
        self._listener.close()


def run_client(server: ServerProcess, code: str, *args: str, **env: str
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], env={**server.env(), **env},
                          capture_output=True, text=True, timeout=120, cwd=TESTS)


def elsewhere(server: ServerProcess, tmp_path) -> dict[str, str]:
    """The environment of a client on another machine: the server's token, no server.json."""
    home = tmp_path / "elsewhere"
    home.mkdir()
    shutil.copy(server.home / "token.json", home / "token.json")
    return {"KETCH_HOME": str(home)}


def test_a_call_through_a_sniffing_relay_is_all_tls(tls_server):
    relay = Relay(("127.0.0.2", tls_server.port))
    try:
        result = run_client(tls_server, CALL, KETCH_SERVER=relay.address,
                            KETCH_SERVER_FINGERPRINT=published(tls_server)["fingerprint"])
    finally:
        relay.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == MARKER
    secret = json.loads((tls_server.home / "token.json").read_text())["token_secret"]
    for seen in (bytes(relay.up), bytes(relay.down)):
        assert seen[:1] == b"\x16", seen[:16]  # a TLS handshake record, not a ketch frame
        for plain in (MARKER.encode(), secret.encode(), b"auth", b"call_create"):
            assert plain not in seen


def test_the_same_user_on_the_server_machine_finds_the_pin_by_itself(tls_server):
    result = run_client(tls_server, CALL)
    assert result.returncode == 0, result.stderr
    info = tls_server.cli("token", "info")
    assert published(tls_server)["fingerprint"] in info.stdout


def test_a_wrong_pin_is_refused_and_says_how_to_re_pin(tls_server, tmp_path):
    env = elsewhere(tls_server, tmp_path)
    pinned = tls_server.cli("token", "pin", "sha256:" + "ab" * 32, extra_env=env)
    assert pinned.returncode == 0, pinned.stderr
    refused = tls_server.cli("app", "list", extra_env=env)
    real = published(tls_server)["fingerprint"]
    assert refused.returncode != 0
    assert "not the one pinned" in refused.stderr
    assert f"ketch token pin {real}" in refused.stderr
    assert tls_server.cli("token", "pin", real, extra_env=env).returncode == 0
    listed = tls_server.cli("app", "list", extra_env=env)
    assert listed.returncode == 0, listed.stderr


def test_a_raw_plain_frame_gets_no_ketch_frame_back(tls_server):
    with socket.create_connection(("127.0.0.2", tls_server.port), timeout=30) as sock:
        sock.sendall(wire.encode("auth", 1, {"token_id": "x", "secret": "y"}))
        answer = b""
        while data := sock.recv(1 << 16):  # the server ends the connection: no hang
            answer += data
    assert answer[:1] in (b"", b"\x15")  # nothing, or a TLS alert record


def test_a_plain_sdk_client_is_told_to_pin(tls_server, tmp_path):
    result = run_client(tls_server, CALL, **elsewhere(tls_server, tmp_path))
    assert result.returncode != 0
    assert "serves TLS" in result.stderr
    assert f"ketch token pin {published(tls_server)['fingerprint']}" in result.stderr


def test_the_gateway_serves_https_with_the_pinned_certificate(tls_server):
    cert = tls_server.home / "tls" / "cert.pem"
    result = run_client(tls_server, WEB, str(cert))
    assert result.returncode == 0, result.stderr
    url, body = result.stdout.split()
    assert url.startswith("https://127.0.0.2:")
    assert json.loads(body) == {"hello": "tls"}
    assert oct((tls_server.home / "tls" / "key.pem").stat().st_mode & 0o777) == "0o600"


def test_explicit_pair_serves_tls_on_127_0_0_1(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    der = ssl.PEM_cert_to_DER_cert(cert.read_text())
    server = ServerProcess(tmp_path, args=("--tls-cert", str(cert), "--tls-key", str(key)))
    server.start()
    try:
        assert published(server)["fingerprint"] == "sha256:" + hashlib.sha256(der).hexdigest()
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            context = ssl.create_default_context(cafile=str(cert))
            with context.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                assert tls.version() in ("TLSv1.2", "TLSv1.3")
        result = run_client(server, CALL)
        assert result.returncode == 0, result.stderr
    finally:
        server.stop()


def test_a_pin_on_a_plain_server_fails_clearly(server):
    result = run_client(server, CALL, KETCH_SERVER_FINGERPRINT="sha256:" + "cd" * 32)
    assert result.returncode != 0
    assert "did not complete a TLS handshake" in result.stderr


def test_loopback_stays_plain(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(wire.encode("auth", 1, {"token_id": "x", "secret": "y"}))
        header = sock.recv(wire.HEADER.size)
    assert len(header) == wire.HEADER.size and header[:1] == b"\x00"  # a ketch frame


@pytest.mark.parametrize("args, problem", [
    (("--tls-cert", "/nonexistent.pem"), "go together"),
    (("--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"), "cannot serve TLS"),
])
def test_a_bad_pair_is_refused_at_start(tmp_path, args, problem):
    env = {**os.environ, "KETCH_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "ketch.cli", "server", "--port",
                             str(free_port()), *args], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert problem in result.stderr
