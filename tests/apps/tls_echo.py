"""An app for the TLS tests: a call whose argument and result a sniffer looks for, and a web
endpoint behind the gateway."""

import ketch

app = ketch.App("tlsecho")


@app.function()
def echo(text):
    return text


@app.function()
@ketch.fastapi_endpoint()
def hello(name: str = "web"):
    return {"hello": name}
