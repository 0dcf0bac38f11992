"""Other machines, as far as a sandbox can tell: a network namespace of its own joined to the
host by a veth, on a /24 of 10.99.0.0/16 that no other route of the host uses (a subnet of the
host's own, as a LAN is), with a TCP listener on port 8080 on all its addresses. It also holds
a public address, 203.0.113.N (a documentation range: the internet routes it nowhere), that the
host routes to it as it would route to a machine on the internet, and any ``private`` addresses
asked for (169.254.169.254, 192.168.N.1...). Those are routed to it only for the sandboxes'
traffic and for the host's traffic sent from its end of the veth (policy rules, so the host's
own route to a real metadata service or LAN is left alone):

    with outside_host(private=["169.254.169.254"]) as outside:
        outside.private, outside.public      # '10.99.N.2', '203.0.113.N'
        from_host(outside, "169.254.169.254")  # "ok": the target answers the host
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

OUTSIDE_PORT = 8080
SANDBOX_POOL = "10.213.0.0/16"

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


@dataclass(frozen=True)
class Outside:
    private: str  # on the host's own subnet
    public: str  # routed through the host as the internet is
    gateway: str  # the host's end of the veth
    namespace: str


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


def from_host(outside: Outside, address: str, port: int = OUTSIDE_PORT) -> str:
    """A TCP connect from the host to ``address`` (sent from its end of the veth, so that
    the policy rules of the private addresses apply): "ok" or the error's name."""
    try:
        socket.create_connection((address, port), 2, source_address=(outside.gateway, 0)).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


@contextlib.contextmanager
def outside_host(serve: str = LISTEN, private: Sequence[str] = ()) -> Iterator[Outside]:
    """The outside host while the block runs, serving ``serve`` (a program given its
    namespace's path that prints "ready"); removed afterwards with its routes and rules."""
    name, link, n = f"ketch-esc-{os.getpid()}", f"kte{os.getpid()}", free_subnet()
    outside = Outside(f"10.99.{n}.2", f"203.0.113.{n}", f"10.99.{n}.1", name)
    table = str(20000 + n)
    rules = [f"from {source} to {address}/32 table {table}"
             for address in private for source in (SANDBOX_POOL, outside.gateway)]
    ip("-batch", "-", script=f"netns add {name}\n"
       f"link add {link} type veth peer name eth0 netns {name}\n"
       f"addr add {outside.gateway}/24 dev {link}\nlink set {link} up\n")
    listener = None
    try:
        addresses = "".join(f"addr add {a}/32 dev eth0\n" for a in (outside.public, *private))
        ip("-n", name, "-batch", "-", script=f"link set lo up\n"
           f"addr add {outside.private}/24 dev eth0\nlink set eth0 up\n{addresses}"
           # what it sends unbound comes from its public address, as a reply from the internet
           f"route replace 10.99.{n}.0/24 dev eth0 src {outside.public}\n"
           f"route add default via {outside.gateway}\n")
        ip("-batch", "-", script=f"route add {outside.public}/32 via {outside.private}\n"
           + "".join(f"route add {a}/32 via {outside.private} table {table}\n" for a in private)
           + "".join(f"rule add {rule}\n" for rule in rules))
        listener = subprocess.Popen([sys.executable, "-S", "-c", serve, f"/run/netns/{name}"],
                                    text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        yield outside
    finally:
        if listener is not None:
            listener.kill()
            listener.communicate()
        for rule in rules:  # routes go with the link; the rules would stay
            subprocess.run(["ip", "rule", "del", *rule.split()], capture_output=True)
        ip("-batch", "-", script=f"link del {link}\nnetns del {name}\n")
