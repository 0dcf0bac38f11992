"""modal.experimental.http_server, as a Modal program writes it: a class whose @enter starts an
HTTP server on a port, its URL from _experimental_get_flash_urls()."""

import os
import subprocess
import sys
from urllib.request import urlopen

import modal

app = modal.App("flash-server")
PORT = int(os.environ.get("FLASH_PORT", "18767"))
SERVER = """
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"flash {self.path} host {self.headers['host']}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

HTTPServer(("127.0.0.1", int(sys.argv[1])), Hello).serve_forever()
"""


@app.cls(env={"FLASH_PORT": str(PORT)})  # the same port in the container
@modal.concurrent(max_inputs=8)
@modal.experimental.http_server(port=PORT, proxy_regions=["us-east"], startup_timeout=20)
class Hello:
    @modal.enter()
    def start(self):
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, str(PORT)])

    @modal.exit()
    def stop(self):
        self.process.terminate()


@app.local_entrypoint()
def main():
    urls = Hello._experimental_get_flash_urls()
    print("urls", len(urls))
    with urlopen(urls[0] + "/some/path?q=1", timeout=60) as answer:
        print("answer", answer.read().decode().split(" host ")[0])
