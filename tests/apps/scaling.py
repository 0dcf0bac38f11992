import os
import time

import ketch

app = ketch.App("scaling")


@app.function(max_containers=3, scaledown_window=1)
def busy(seconds):
    time.sleep(seconds)
    return os.getpid()


@app.function(min_containers=1, scaledown_window=1)
def warm(x):
    return os.getpid()
