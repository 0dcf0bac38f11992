import time

import ketch

app = ketch.App("metered")


@app.function(runtime="namespace", cpu=0.25, memory=256)
def burn_core(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass
    return seconds


@app.function(gpu="A10", cpu=0.125, memory=128)
def gpu_nap(seconds):
    time.sleep(seconds)
    return seconds
