"""A function that calls itself from its own containers, once its inputs are known to be short
(a recursive fan-out; audiosr_endpoint's class spawns its own method the same way): the inner
calls run on other containers rather than waiting behind the input that waits for them."""

import modal

app = modal.App("compat-recursive-calls")


@app.function()
def double(x: int, nested: bool = False) -> int:
    if not nested:
        return 2 * x
    later = double.spawn(x + 1)
    return double.remote(x) + later.get(timeout=60)


@app.local_entrypoint()
def main():
    print("warm", sum(double.map(range(50))))  # the inputs' time is measured: a few ms
    print("nested", double.remote(3, nested=True))
    print("nested map", list(double.map([1, 2], kwargs={"nested": True})))
