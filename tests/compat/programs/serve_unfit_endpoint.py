"""Endpoints for every day beside one that asks for more than any machine here holds (as an
example's H100 endpoint does on a laptop): `modal serve` names that one and exits."""

import modal

app = modal.App("compat-serve-unfit", image=modal.Image.debian_slim().pip_install("fastapi"))


@app.function()
@modal.fastapi_endpoint()
def hello():
    return "Hello world!"


@app.function(cpu=4096)
@modal.fastapi_endpoint(requires_proxy_auth=True)
def enormous():
    return "never served"
