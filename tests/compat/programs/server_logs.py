"""A Modal program with an `@app.server()` class (an HTTP server started in `@modal.enter`,
reached through its URL) and the logs API of servers, functions, calls and apps."""

import os
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta

import modal

PORT = int(os.environ.get("SERVER_PORT", "8000"))
app = modal.App("compat-server")


@app.server(port=PORT, unauthenticated=True, startup_timeout=20)
class Files:
    @modal.enter()
    def start(self):
        os.makedirs("/tmp/served", exist_ok=True)
        with open("/tmp/served/hello.txt", "w") as f:
            f.write("hello from the server\n")
        print("starting the file server", flush=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "http.server", str(PORT),
                                      "--bind", "127.0.0.1", "--directory", "/tmp/served"])

    @modal.exit()
    def stop(self):
        self.proc.terminate()


@app.function()
def shout(word):
    print(f"shouting {word}")
    return word.upper()


def messages(entries):
    return [entry.message for entry in entries]


def eventually(read, want, timeout=15.0):
    """``read()`` until a message holds ``want``: a line reaches the control plane a little
    after the request that printed it was answered."""
    deadline = time.monotonic() + timeout
    while True:
        found = [m for m in messages(read()) if want in m]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@app.local_entrypoint()
def main():
    began = datetime.now() - timedelta(seconds=1)
    url = Files.get_url()
    with urllib.request.urlopen(url + "/hello.txt", timeout=60) as answer:
        print("served", answer.read().decode().strip())
    assert Files.object_id.startswith("fu-")
    print("server logs", bool(eventually(lambda: Files.logs.tail(50), "starting the file server")))
    print("request logged", bool(eventually(
        lambda: Files.logs.fetch(since=began, source="stderr"), "GET /hello.txt")))
    print("shout", shout.remote("hi"))
    print("function logs", eventually(
        lambda: shout.logs.fetch(since=began, search_text="shouting"), "shouting hi"))
    call = shout.spawn("there")
    print("call stream", [m for m in messages(call.logs.stream()) if "shouting" in m])
    print("call fetch", messages(call.logs.fetch()))
    print("app logs", bool(eventually(lambda: app.logs.tail(100), "shouting there")))
    print("nothing before", list(shout.logs.fetch(since=began, until=began)))
