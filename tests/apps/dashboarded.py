"""An app the dashboard's tests run: a call that prints and returns, one that raises, and one
that waits for a gate to open, with one container at most, so a second call of it waits in
the queue."""

import time

import ketch

app = ketch.App("dashboarded")
gate = ketch.Dict.from_name("dashboard-gate", create_if_missing=True)


@app.function()
def greet(name):
    print(f"hello {name}, from the dashboard's test")
    return f"hi {name}"


@app.function()
def explode(message):
    raise RuntimeError(message)


@app.function(max_containers=1)
def held(n):
    while not gate.get("open"):
        time.sleep(0.05)
    return n
