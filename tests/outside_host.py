"""Another machine, as far as a sandbox can tell: a network namespace of its own joined to the
host by a veth, on a /24 of 10.99.0.0/16 that no other route of the host uses, with a TCP
listener on port 8080. The host routes to it, so a sandbox's traffic reaches it exactly as it
would reach a machine on the host's network (through the forward chain of ``inet ketch``).

    with outside_host() as address:     # '10.99.N.2'
        ...                             # connect to (address, OUTSIDE_PORT) from a sandbox
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import subprocess
import sys
from collections.abc import Iterator

OUTSIDE_PORT = 8080

# Join the namespace at argv[1], listen on 0.0.0.0:8080, say "ready", serve until stdin ends.
LISTEN = """
import ctypes, os, socket, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
    sys.exit("setns: " + os.strerror(ctypes.get_errno()))
listener = socket.create_server(("0.0.0.0", 8080), backlog=64)
print("ready", flush=True)
sys.stdin.read()
"""


def ip(*args: str, script: str = "") -> str:
    return subprocess.run(["ip", *args], input=script, capture_output=True, text=True,
                          check=True).stdout


def free_subnet() -> int:
    """N for a 10.99.N.0/24 no route of the host's overlaps (other test runs use the range)."""
    taken = [ipaddress.ip_network(route["dst"]) for route in json.loads(ip("-j", "-4", "route"))
             if route.get("dst", "default") != "default"]
    for offset in range(256):
        n = (os.getpid() + offset) % 256
        if not any(ipaddress.ip_network(f"10.99.{n}.0/24").overlaps(t) for t in taken):
            return n
    raise OSError("no free /24 in 10.99.0.0/16 for the outside host")


@contextlib.contextmanager
def outside_host() -> Iterator[str]:
    """The outside host while the block runs: yields its address; removed afterwards."""
    name, link, n = f"ketch-esc-{os.getpid()}", f"kte{os.getpid()}", free_subnet()
    ip("-batch", "-", script=f"netns add {name}\n"
       f"link add {link} type veth peer name eth0 netns {name}\n"
       f"addr add 10.99.{n}.1/24 dev {link}\nlink set {link} up\n")
    listener = None
    try:
        ip("-n", name, "-batch", "-", script=f"link set lo up\n"
           f"addr add 10.99.{n}.2/24 dev eth0\nlink set eth0 up\n"
           f"route add default via 10.99.{n}.1\n")
        listener = subprocess.Popen([sys.executable, "-S", "-c", LISTEN, f"/run/netns/{name}"],
                                    text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        yield f"10.99.{n}.2"
    finally:
        if listener is not None:
            listener.kill()
            listener.communicate()
        ip("-batch", "-", script=f"link del {link}\nnetns del {name}\n")
