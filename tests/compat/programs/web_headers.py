"""A web endpoint read through the gateway as any HTTP client reads it: one Date header and
one Server header, as a single origin server sends them."""

import modal

app = modal.App("compat-web-headers", image=modal.Image.debian_slim())


@app.function()
@modal.wsgi_app()
def hello():
    def application(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"hello"]

    return application


@app.local_entrypoint()
def main():
    from urllib.request import urlopen

    with urlopen(hello.get_web_url(), timeout=60) as answer:
        for name in ("date", "server", "content-type"):
            print(name, len(answer.headers.get_all(name) or []))
