"""`map(..., return_exceptions=True)` as Modal 1.x (through 1.3) returns failures: wrapped in
`UserCodeException` unless `wrap_returned_exceptions=False`."""

import modal
from modal.exception import UserCodeException

app = modal.App("compat-map-return-exceptions")


@app.function()
def check(x):
    if x % 2:
        raise ValueError(f"odd {x}")
    return x


def describe(results):
    return ", ".join(
        f"{type(r).__name__}({type(r.exc).__name__}: {r.exc})" if isinstance(r, UserCodeException)
        else f"{type(r).__name__}({r})" if isinstance(r, BaseException)
        else repr(r)
        for r in results
    )


@app.local_entrypoint()
def main():
    print("map", describe(check.map(range(3), return_exceptions=True)))
    print("starmap", describe(check.starmap([(1,), (2,)], return_exceptions=True)))
    unwrapped = check.map(range(3), return_exceptions=True, wrap_returned_exceptions=False)
    print("unwrapped", describe(unwrapped))
    try:
        list(check.map(range(3)))
    except ValueError as exc:
        print("raised", exc)
