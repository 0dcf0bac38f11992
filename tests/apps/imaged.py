"""Functions that run in images (built by the tests' fixtures)."""

import os
import sys

import ketch

DATA = os.path.join(os.path.dirname(__file__), "image_data")

image = (
    ketch.Image.debian_slim()
    .uv_pip_install("six==1.16.0")
    .env({"IMAGE_MODE": "test"})
    .add_local_file(os.path.join(DATA, "copied.txt"), "/opt/copied.txt", copy=True)
    .add_local_dir(DATA, "/data", ignore=["*.skip"])
)
app = ketch.App("imaged", image=image)


@app.function(runtime="namespace")
def inspect_image():
    with image.imports():
        import six
    return {
        "six": six.__version__,
        "mode": os.environ["IMAGE_MODE"],
        "python": sys.executable,
        "copied": open("/opt/copied.txt").read().strip(),
        "data": sorted(os.listdir("/data")),
    }


wrong_app = ketch.App("wrong-runtime")


@wrong_app.function(image=ketch.Image.debian_slim(), runtime="process")
def wrong_runtime():
    return 1
