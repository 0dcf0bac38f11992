"""WebSockets, written as for Modal: a FastAPI app's websocket routes, and a web_server whose own
server (the `websockets` library, in a process of its own) speaks WebSocket."""

import os
import subprocess
import sys

import modal

app = modal.App("sockets")
SERVER_PORT = int(os.environ.get("KETCH_TEST_WS_PORT", "18766"))
ECHO_SERVER = """
import asyncio, sys
from websockets.asyncio.server import serve

async def echo(ws):
    async for message in ws:
        await ws.send(f"raw {message}")

async def main():
    async with serve(echo, "127.0.0.1", int(sys.argv[1])):
        await asyncio.Future()

asyncio.run(main())
"""


def make_app():
    from fastapi import FastAPI, WebSocket, WebSocketDisconnect

    api = FastAPI()

    @api.get("/")
    def hello():
        return "up"

    @api.websocket("/echo")
    async def echo(ws: WebSocket):
        await ws.accept()
        try:
            while True:
                text = await ws.receive_text()
                if text == "bye":
                    await ws.close(code=4000, reason="asked to")
                    return
                await ws.send_text(f"echo {text} at {ws.url.path}")
        except WebSocketDisconnect:
            pass

    @api.websocket("/ticks")
    async def ticks(ws: WebSocket):
        import asyncio

        await ws.accept()
        for n in range(3):
            await ws.send_text(f"tick {n}")
        await asyncio.sleep(3600)  # until the function's timeout closes it

    return api


@app.function(timeout=4)
@modal.concurrent(max_inputs=20)
@modal.asgi_app(label="ws-open")
def open_app():
    return make_app()


@app.function(timeout=30)
@modal.asgi_app(label="ws-private", requires_proxy_auth=True)
def private_app():
    return make_app()


@app.function(timeout=4, env={"KETCH_TEST_WS_PORT": str(SERVER_PORT)})  # the same port there
@modal.web_server(SERVER_PORT, startup_timeout=20, label="ws-server")
def own_server():
    subprocess.Popen([sys.executable, "-c", ECHO_SERVER, str(SERVER_PORT)])
