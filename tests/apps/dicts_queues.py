"""Functions that use Dicts and Queues inside containers: passed as arguments, or by name."""

import ketch

app = ketch.App("dicts-queues")


@app.function()
def count_in_dict(d, key):
    """Increment ``d[key]`` and return what the container saw."""
    d[key] = d.get(key, 0) + 1
    return d[key], sorted(d.keys(), key=repr), type(d).__name__


@app.function()
def dict_by_name(name, key):
    return ketch.Dict.from_name(name).get(key)


@app.function()
def consume(q, n, partition=None):
    """Wait for ``n`` items, one at a time, and return them."""
    return [q.get(timeout=30, partition=partition) for _ in range(n)]


@app.function()
def produce(q, values, partition=None):
    q.put_many(values, partition=partition)
    return q.len(partition=partition)
