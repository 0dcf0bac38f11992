"""An app the dashboard's scale test gives 10,000 calls."""

import ketch

app = ketch.App("crowded")


@app.function(max_containers=2)
def noop(i):
    return i
