"""Dynamic batching on a class, as Modal's guide writes it: the batched method is the only one."""

import modal

app = modal.App("compat-batched-class")


@app.cls()
class Doubler:
    @modal.enter()
    def load(self):
        self.factor = 2

    @modal.batched(max_batch_size=4, wait_ms=500)
    def double(self, xs: list[int]) -> list[tuple[int, int]]:
        # each result carries the size of the batch it was computed in
        return [(x * self.factor, len(xs)) for x in xs]


@app.local_entrypoint()
def main():
    doubler = Doubler()
    print("remote", doubler.double.remote(21)[0])
    results = list(doubler.double.map(range(8)))
    print("map", [value for value, _ in results])
    print("largest batch", max(size for _, size in results))
