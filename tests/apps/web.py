"""Web endpoints of every kind, for the gateway tests."""

import os
import subprocess
import sys
import time

import ketch

app = ketch.App("webtest")
SERVER_PORT = int(os.environ.get("KETCH_TEST_WEB_PORT", "18765"))


@app.function()
@ketch.fastapi_endpoint(method="POST", docs=True)
def add(a: int, b: int = 1):
    return {"sum": a + b}


@app.function()
@ketch.asgi_app(label="webtest-stream")
def stream():
    from starlette.applications import Starlette
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    async def chunks():
        for i in range(3):
            yield f"part {i}\n"

    async def handler(request):
        return StreamingResponse(chunks(), media_type="text/plain")

    return Starlette(routes=[Route("/parts", handler)])


@app.function()
@ketch.wsgi_app()
def classic():
    def wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"wsgi {environ['PATH_INFO']}".encode()]

    return wsgi


@app.function()
@ketch.web_server(SERVER_PORT, startup_timeout=10)
def files():
    subprocess.Popen([sys.executable, "-m", "http.server", str(SERVER_PORT), "--bind",
                      "127.0.0.1"], cwd=os.path.dirname(__file__), stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)


@app.function()
@ketch.fastapi_endpoint(requires_proxy_auth=True)
def private():
    return "secret stuff"


@app.function(max_containers=4, scaledown_window=1)
@ketch.concurrent(max_inputs=2)
@ketch.fastapi_endpoint()
def slow(seconds: float = 0.3):
    time.sleep(seconds)
    return {"host": os.uname().nodename, "pid": os.getpid()}


@app.function(max_containers=1)
@ketch.fastapi_endpoint()
def single(seconds: float = 2.0):
    time.sleep(seconds)
    return "done"


@app.function(max_containers=1)
@ketch.fastapi_endpoint()
def span(seconds: float = 0.5):
    """When it began and ended: one request at a time (no @concurrent)."""
    began = time.time()
    time.sleep(seconds)
    return [began, time.time()]


@app.cls()
class Greeter:
    greeting: str = ketch.parameter(default="hi")

    @ketch.enter()
    def load(self):
        self.loaded = "loaded"

    @ketch.fastapi_endpoint()
    def hello(self, name: str = "you"):
        return f"{self.greeting} {name} ({self.loaded})"

    @ketch.asgi_app()
    def app(self):
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        async def ping(request):
            return PlainTextResponse("pong")

        return Starlette(routes=[Route("/ping", ping)])


@app.function()
@ketch.asgi_app(label="webtest-echo", requires_proxy_auth=True)
def echo():
    """What reached the app's code: each request's path and header names."""
    import json

    async def app(scope, receive, send):
        body = json.dumps({"path": scope["path"],
                           "headers": sorted(k.decode() for k, _ in scope["headers"])})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body.encode()})

    return app
