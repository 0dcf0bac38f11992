"""An app the dashboard's tests run: a call that prints and returns, and one that raises."""

import ketch

app = ketch.App("dashboarded")


@app.function()
def greet(name):
    print(f"hello {name}, from the dashboard's test")
    return f"hi {name}"


@app.function()
def explode(message):
    raise RuntimeError(message)
