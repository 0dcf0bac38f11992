import time

import ketch

from apps.identity import container_identity

app = ketch.App("scaling")


@app.function(max_containers=3, scaledown_window=1)
def busy(seconds):
    time.sleep(seconds)
    return container_identity()


@app.function(min_containers=1, scaledown_window=1)
def warm(x):
    return container_identity()
