"""Web endpoints that show what reached the app's code, for the gateway's attack tests."""

import ketch

app = ketch.App("gateway-probe")


@app.function()
@ketch.asgi_app(label="probe-echo")
def echo():
    """Each request's path, header names and body length, as JSON with a Content-Length."""
    import json

    async def respond(scope, receive, send):
        size, more = 0, True
        while more:
            message = await receive()
            size += len(message.get("body", b""))
            more = message.get("more_body", False)
        body = json.dumps({"path": scope["path"], "body": size,
                           "headers": sorted(k.decode() for k, _ in scope["headers"])}).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return respond


@app.function(timeout=2)
@ketch.asgi_app(label="probe-stuck")
def stuck():
    """Never answers: the gateway must not wait for it longer than the function's timeout."""
    import asyncio

    async def respond(scope, receive, send):
        if scope["type"] == "lifespan":  # starts at once, so that only requests hang
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await asyncio.sleep(3600)

    return respond


@app.function(timeout=2)
@ketch.asgi_app(label="probe-blocker")
def blocker():
    """/block blocks the event loop (a blocking call in an async def) for good; / answers."""
    import time

    async def respond(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        if scope["path"] == "/block":
            time.sleep(3600)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return respond
