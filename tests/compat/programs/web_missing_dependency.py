"""Web endpoints whose image lacks a package they import (as an example whose endpoint's image
has no fastapi): a request gets an answer that says the container failed while starting, at
once, rather than waiting out the gateway's queue and hearing "at capacity". The ASGI app's
connection is handed to its container; the web server's requests go through the gateway."""

import time
import urllib.error
import urllib.request

import modal

app = modal.App("compat-web-missing-dependency", image=modal.Image.debian_slim())


@app.function()
@modal.asgi_app()
def web():
    import a_package_this_image_does_not_have  # noqa: F401

    raise AssertionError("the import above cannot succeed")


@app.function()
@modal.web_server(8765, startup_timeout=30)
def server():
    import a_package_this_image_does_not_have  # noqa: F401


def ask(url: str) -> None:
    started = time.monotonic()
    try:
        urllib.request.urlopen(url, timeout=120)
    except urllib.error.HTTPError as answer:
        print("status", answer.code)
        print("says", answer.read().decode().strip())
    print("answered within 30 s", time.monotonic() - started < 30)


@app.local_entrypoint()
def main():
    ask(web.get_web_url())
    ask(server.get_web_url())
