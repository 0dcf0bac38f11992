"""Functions the ray backend's tests run on a local multi-node Ray cluster.

Each reports ``RAY_RAYLET_PID``, which the container inherits from its actor: it names the
Ray node the container was placed on."""

import os
import sys
import time

import ketch

app = ketch.App("on-ray")


def node() -> str:
    return os.environ.get("RAY_RAYLET_PID", "")


@app.function(cpu=0.5)
def where(x):
    time.sleep(0.4)
    return x * x, node(), os.environ["KETCH_CONTAINER_ID"]


# Ray's GPU placement with a GPU that is only advertised: the node has `num_gpus=1` and the
# resource `accelerator_type:H100`, and no real GPU (so no devices to bind: runtime="process").
@app.function(gpu="H100", cpu=0.25, runtime="process")
def on_gpu(_):
    return node(), os.environ.get("CUDA_VISIBLE_DEVICES")


@app.function(cpu=0.5, max_containers=4, runtime="process",
              retries=ketch.Retries(max_retries=3, initial_delay=0.0, backoff_coefficient=1.0))
def tagged(x, marker_dir):
    """Marks each attempt's node and container in a host directory (so without a scratch
    layer: runtime="process"), so the test sees where inputs run."""
    with open(os.path.join(marker_dir, f"{node()}-{os.environ['KETCH_CONTAINER_ID']}-{x}"), "w"):
        pass
    time.sleep(0.3)
    return x * x


image_app = ketch.App("on-ray-image")


image_nodes = ketch.Dict.from_name("on-ray-image-nodes", create_if_missing=True)


# One container a node (cpu=1), and each input waits until both nodes have one: the node that
# builds second would otherwise find the map answered by the first node's container.
@image_app.function(image=ketch.Image.debian_slim().uv_pip_install("six==1.16.0"), cpu=1)
def in_image(_):
    import six

    image_nodes[node()] = True
    deadline = time.monotonic() + 90
    while image_nodes.len() < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    return six.__version__, sys.executable, node()


@app.function(cpu=0.5, runtime="process",
              retries=ketch.Retries(max_retries=2, initial_delay=0.0, backoff_coefficient=1.0))
def slow(x, marker_dir):
    """As `tagged`, with inputs long enough for a node to die before its container's first
    output."""
    with open(os.path.join(marker_dir, f"{node()}-{os.environ['KETCH_CONTAINER_ID']}-{x}"), "w"):
        pass
    time.sleep(1.5)
    return x * x


# An image from the tests' registry (its reference from the test): on each node it reports
# the node's KETCH_HOME (a pulled image's containers get none of the host's other variables).
PULLED = os.environ.get("KETCH_TEST_PULLED_IMAGE", "127.0.0.1:5000/moving:v1")
pulled_app = ketch.App("on-ray-pulled", image=ketch.Image.from_registry(PULLED))


@pulled_app.function(cpu=1)  # one container a node: the second must be on the other node
def marker(_):
    time.sleep(1.0)
    with open("/marker") as f:
        return f.read(), os.environ.get("KETCH_HOME")


# The GPU node also advertises the label region:eu-west; no node is on mars.
placed_app = ketch.App("on-ray-placed")


@placed_app.function(cpu=0.25, scheduler_placement=ketch.SchedulerPlacement(region="eu-west"))
def in_eu(_):
    return node()


mars_app = ketch.App("on-ray-mars")


@mars_app.function(region="mars")
def on_mars():
    pass
