"""A WSGI app (a bare callable, no framework) on an image that installs nothing: Modal serves
it with no web server in the image, so ketch's container must bring its own."""

import modal

app = modal.App("compat-wsgi-bare-image", image=modal.Image.debian_slim())


@app.function()
@modal.wsgi_app()
def plain():
    def application(environ, start_response):
        body = f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]

    return application


@app.local_entrypoint()
def main():
    from urllib.request import urlopen

    with urlopen(plain.get_web_url() + "/some/path", timeout=60) as answer:
        print("answer", answer.read().decode())
