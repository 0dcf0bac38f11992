"""A Modal program that imports from Modal's submodules, as Modal's docs and examples do."""

import modal
import modal.call_graph
import modal.cloud_bucket_mount
import modal.container_process
import modal.environments
import modal.experimental
import modal.file_io
import modal.gpu
import modal.io_streams
import modal.mount
import modal.network_file_system
import modal.parallel_map
import modal.proxy
import modal.snapshot
import modal.stream_type
from modal.app import App
from modal.cls import Cls
from modal.dict import Dict
from modal.exception import ExecTimeoutError, NotFoundError
from modal.functions import Function, FunctionCall, gather
from modal.image import Image
from modal.output import enable_output
from modal.partial_function import batched, enter, method
from modal.queue import Queue
from modal.retries import Retries
from modal.runner import deploy_app
from modal.sandbox import Sandbox
from modal.schedule import Cron, Period
from modal.secret import Secret
from modal.volume import Volume

app = App("compat-submodules")


@app.function(retries=Retries(max_retries=1), image=Image.debian_slim())
def square(x):
    return x * x


if __name__ == "__main__":
    assert modal.queue.Queue is Queue is modal.Queue and Dict is modal.Dict
    assert (Function, FunctionCall, Cls, Sandbox, Secret, Volume, Cron, Period) == (
        modal.Function, modal.FunctionCall, modal.Cls, modal.Sandbox, modal.Secret,
        modal.Volume, modal.Cron, modal.Period)
    assert (batched, enter, method) == (modal.batched, modal.enter, modal.method)
    assert issubclass(ExecTimeoutError, modal.exception.TimeoutError)
    with enable_output(), app.run():
        print("square", square.remote(7), gather(square.spawn(2), square.spawn(3)))
        with Queue.ephemeral() as q:
            q.put(1)
            print("queue", q.get())
        try:
            Dict.from_name("compat-no-such-dict").get("k")
        except NotFoundError:
            print("caught not found")
    uses = (lambda: modal.gpu.A100(count=2), lambda: deploy_app(app),
            lambda: modal.mount.Mount.from_local_dir("."))
    for use in uses:
        try:
            use()
        except modal.exception.UnimplementedError as exc:
            print("unimplemented", str(exc).split(" is part")[0])
