"""Functions the SDK tests run in real containers."""

import asyncio
import os
import signal
import time

import ketch

from apps.identity import container_identity

app = ketch.App("basic")


@app.function()
def square(x):
    return x * x


@app.function()
def add(a, b=0, *, c=0):
    return a + b + c


@app.function()
def fail(message):
    raise ValueError(message)


class CustomError(Exception):
    pass


@app.function()
def fail_custom(code):
    raise CustomError(f"custom {code}")


@app.function()
def maybe_fail(x):
    if x % 3 == 0:
        raise KeyError(x)
    return x


@app.function()
def slow(seconds):
    time.sleep(seconds)
    return seconds


@app.function()
def gen(n):
    for i in range(n):
        yield i * 10


@app.function()
async def async_double(x):
    await asyncio.sleep(0.01)
    return 2 * x


@app.function()
def context_info(_):
    return ketch.is_local(), ketch.current_input_id(), ketch.current_function_call_id()


@app.function()
def echo_size(data):
    return len(data), data[:4]


@app.function()
def big_result(n):
    return b"x" * n


@app.function()
def pid(_=None):
    return container_identity()


@app.function(timeout=1)
def sleeps_past_timeout(seconds):
    time.sleep(seconds)
    return "finished"


@app.function()
def die(how):
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if how == "segfault":
        import ctypes

        ctypes.string_at(0)
    return "alive"


# These two count their attempts in a host file, so they run without a scratch layer.
@app.function(retries=ketch.Retries(max_retries=2, initial_delay=0.0, backoff_coefficient=1.0),
              runtime="process")
def flaky(marker_dir, fail_times):
    """Fails (by crashing its container) until it has been called fail_times times."""
    path = os.path.join(marker_dir, "count")
    count = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as f:
        f.write(str(count + 1))
    if count < fail_times:
        os._exit(1)
    return count


@app.function(retries=ketch.Retries(max_retries=1, initial_delay=0.0), runtime="process")
def flaky_raise(marker_dir):
    path = os.path.join(marker_dir, "count")
    count = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as f:
        f.write(str(count + 1))
    if count == 0:
        raise RuntimeError("first attempt fails")
    return count


@app.function()
def calls_other(x):
    return square.remote(x) + 1


@app.function()
@ketch.concurrent(max_inputs=5)
def concurrent_sleep(seconds):
    time.sleep(seconds)
    return container_identity()


@app.function()
@ketch.batched(max_batch_size=4, wait_ms=200)
def batched_add(xs, ys):
    return [(x + y, len(xs)) for x, y in zip(xs, ys)]


@app.function()
@ketch.batched(max_batch_size=8, wait_ms=100)
async def async_batched_square(xs):
    await asyncio.sleep(0.01)
    return [(x * x, len(xs)) for x in xs]


@app.function()
async def async_gen(n):
    for i in range(n):
        await asyncio.sleep(0)
        yield i


@app.function(max_inputs=2)
def retires_after_two(x):
    return container_identity()


@app.function()
def interactive():
    ketch.interact()
