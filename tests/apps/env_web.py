"""A web endpoint that says which copy of it answers: tests deploy it, changed, to several
environments under one label."""

import ketch

app = ketch.App("envweb")
WHO = "main"


@app.function()
@ketch.fastapi_endpoint(label="env-echo")
def who():
    return WHO
