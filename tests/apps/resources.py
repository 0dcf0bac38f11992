import os
import time

import ketch

app = ketch.App("resources")
NODE_CPUS = os.cpu_count() or 1


@app.function(gpu="H100")
def gpu_env():
    return os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("NVIDIA_VISIBLE_DEVICES")


@app.function()
def no_gpu_env():
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@app.function(gpu=["B200", "A10"])
def fallback_gpu():
    return os.environ.get("CUDA_VISIBLE_DEVICES")


@app.function(cpu=NODE_CPUS, max_containers=2)
def whole_node(seconds):
    time.sleep(seconds)
    return seconds
