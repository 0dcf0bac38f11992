"""A class whose methods are web endpoints beside a plain function endpoint, served with
`modal serve`: each endpoint's URL is listed, the class's as ``Class.method``."""

import modal

app = modal.App("compat-class-web", image=modal.Image.debian_slim().pip_install("fastapi"))


@app.function()
@modal.fastapi_endpoint()
def ping():
    return "pong"


@app.cls()
class Counter:
    @modal.enter()
    def start(self):
        self.count = 0

    @modal.fastapi_endpoint()
    def bump(self):
        self.count += 1
        return {"count": self.count}

    @modal.fastapi_endpoint(method="POST")
    def reset(self):
        self.count = 0
        return {"count": 0}
