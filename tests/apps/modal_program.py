"""A program written for Modal, run unchanged with `ketch python`."""

import modal
import modal.exception
from modal.functions import FunctionCall

app = modal.App("modal-program")


@app.function()
def double(x):
    import modal as inside  # containers resolve `modal` to ketch too

    return x * 2, inside.is_local()


if __name__ == "__main__":
    with modal.enable_output():
        with app.run():
            print("double", double.remote(21))
            call = double.spawn(1)
            assert isinstance(call, FunctionCall)
            try:
                modal.FunctionCall.from_id("bad")
            except modal.exception.InvalidError:
                print("caught invalid")
