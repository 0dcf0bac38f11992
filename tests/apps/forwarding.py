"""A function that serves HTTP in its container and forwards the port (Modal's modal.forward)."""

import socket
import subprocess
import sys

import ketch

app = ketch.App("forwarding")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@app.function()
def serve(urls: ketch.Queue, done: ketch.Queue) -> str:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", "/etc"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        with ketch.forward(port) as tunnel:
            urls.put(tunnel.url)
            done.get(timeout=60)
        return "closed"
    finally:
        server.kill()


@app.function()
def forward_twice() -> str:
    with ketch.forward(9):
        try:
            with ketch.forward(9):
                pass
        except ketch.exception.AlreadyExistsError as exc:
            return str(exc)
    return "no error"
