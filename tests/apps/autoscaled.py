"""Two functions for the tick-isolation tests: ``first`` is created before ``second``, so the
control plane's tick meets it first."""

import ketch

from apps.identity import container_identity

app = ketch.App("autoscaled")


@app.function(scaledown_window=1)
def first(x):
    return x


@app.function(scaledown_window=1)
def second(x):
    return container_identity()
