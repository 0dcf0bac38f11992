"""A deployed app with an `@app.server()` class: a plain threading HTTP server started in
`@ketch.enter`, answering with the path it was asked for; proxy auth required (the default)."""

import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ketch

PORT = int(os.environ.get("SERVER_PORT", "8000"))
app = ketch.App("served")


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"hello at {self.path}".encode()
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@app.server(port=PORT)
class Greeter:
    @ketch.enter()
    def start(self):
        print("greeter listening", flush=True)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", PORT), Hello)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @ketch.exit()
    def stop(self):
        self.httpd.shutdown()
