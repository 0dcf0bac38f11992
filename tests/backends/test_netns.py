"""Sandbox networks with real namespaces, veths, nftables rules and sockets (needs root).

Code runs "inside" a sandbox as a subprocess that joins its namespace with setns(2), the way
the launcher does. A blocked connection times out after 1 s, so each probe tries all of its
targets at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from outside_host import Outside, from_host, outside_host

from ketch.backends import netns
from ketch.backends.netns import SandboxNetwork

problem = netns.fingerprint()
pytestmark = pytest.mark.skipif(problem is not None, reason=f"sandbox networks: {problem}")

JOIN = """
import ctypes, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
if ctypes.CDLL(None, use_errno=True).setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
    sys.exit("setns: " + os.strerror(ctypes.get_errno()))
"""
LISTEN = JOIN + """
import socket, threading
listener = socket.create_server(("0.0.0.0", 8080), backlog=64)
def echo(port, delay):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", port))
    while True:
        data, peer = udp.recvfrom(100)
        threading.Timer(delay, udp.sendto, (data, peer)).start()
threading.Thread(target=echo, args=(8080, 0), daemon=True).start()
threading.Thread(target=echo, args=(8081, 2), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""
# Receive a datagram on port 9090 of address argv[2] within argv[3] seconds, having first sent
# one to port argv[5] of argv[4] if given. UDP port 8080 of LISTEN echoes, 8081 echoes in 2 s.
DATAGRAM = JOIN + """
import socket
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind((sys.argv[2], 9090))
udp.settimeout(float(sys.argv[3]))
if len(sys.argv) > 4:
    udp.sendto(b"echo", (sys.argv[4], int(sys.argv[5])))
print("ready", flush=True)
try:
    print(udp.recv(100).decode())
except TimeoutError:
    print("nothing")
"""
PROBE = JOIN + """
import json, socket
from concurrent.futures import ThreadPoolExecutor
def attempt(target):
    host, port, *source = target
    try:
        source = (*source, 0) if source else None
        socket.create_connection((host, port), 1, source_address=source).close()
        return "ok"
    except OSError as exc:
        return type(exc).__name__
targets = json.loads(sys.argv[2])
with ThreadPoolExecutor(len(targets)) as pool:
    print(json.dumps(list(pool.map(attempt, targets))))
"""
PORT = 8080  # what LISTEN listens on, inside its own namespace
Target = tuple[str | int, ...]  # address, port and optionally the source address


def probe(net: SandboxNetwork, targets: list[Target]) -> dict[Target, str]:
    """Connect from inside ``net`` to each (address, port[, source address]): "ok", or the
    error's name."""
    done = subprocess.run([sys.executable, "-S", "-c", PROBE, net.path, json.dumps(targets)],
                          capture_output=True, text=True, timeout=20, check=True)
    return dict(zip(targets, json.loads(done.stdout)))


def listen_in(path: str) -> subprocess.Popen[str]:
    """A TCP listener on port 8080 inside the namespace at ``path``."""
    listener = subprocess.Popen([sys.executable, "-S", "-c", LISTEN, path], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
    return listener


def stop(listener: subprocess.Popen[str]) -> None:
    listener.kill()
    listener.communicate()


def ip(*args: str, script: str = "") -> str:
    return subprocess.run(["ip", *args], input=script, capture_output=True, text=True,
                          check=True).stdout


def host_addresses() -> list[str]:
    return [address["local"] for link in json.loads(ip("-j", "-4", "addr", "show"))
            for address in link["addr_info"]]


def links() -> set[str]:
    return {link["ifname"] for link in json.loads(ip("-j", "link", "show"))}


def rules_naming(*words: str) -> list[str]:
    """The lines of the ketch table with any of ``words`` (interface, chain, address) in them."""
    table = subprocess.run(["nft", "list", "table", "inet", "ketch"], capture_output=True,
                           text=True, check=True).stdout
    return [line for line in table.splitlines() if set(words) & set(re.split(r'[\s"{},]+', line))]


PRIVATE_TARGETS = ["169.254.169.254", f"192.168.{os.getpid() % 256}.7",
                   f"172.16.{os.getpid() % 256}.7", f"100.64.{os.getpid() % 256}.7"]


@pytest.fixture(scope="module")
def outside() -> Iterator[Outside]:
    """Another machine as far as a sandbox can tell (`outside_host`), listening on port 8080
    (TCP, and UDP echoes), on its address on the host's subnet, on a public one and on
    `PRIVATE_TARGETS` (the metadata service's, RFC 1918, CGNAT)."""
    with outside_host(LISTEN, PRIVATE_TARGETS) as machine:
        yield machine


@pytest.fixture
def create() -> Iterator[Callable[[list[str] | None], SandboxNetwork]]:
    """Make sandbox networks, each removed after the test."""
    made: list[SandboxNetwork] = []

    def make(allowlist: list[str] | None) -> SandboxNetwork:
        name = f"sb-{secrets.token_hex(6)}"
        made.append(asyncio.run(SandboxNetwork.create(name, allowlist)))
        return made[-1]

    yield make
    for net in made:
        asyncio.run(net.remove())


@pytest.fixture
def host_listeners() -> Iterator[list[tuple[str, int]]]:
    """Listeners on the host's 127.0.0.1 and on all its addresses; yields every address and port
    of the host they answer on."""
    loopback = socket.create_server(("127.0.0.1", 0))
    everywhere = socket.create_server(("0.0.0.0", 0))
    port = everywhere.getsockname()[1]
    yield [("127.0.0.1", loopback.getsockname()[1])] + [(a, port) for a in host_addresses()]
    loopback.close()
    everywhere.close()


def test_open_policy_reaches_outside_but_not_the_host_nor_other_sandboxes(
    create, outside, host_listeners
):
    net, other = create(None), create(None)
    listener = listen_in(other.path)
    port = host_listeners[-1][1]
    targets = [*host_listeners, (net.gateway, port), (other.gateway, port)]
    try:
        for target in targets:
            socket.create_connection(target, timeout=1).close()  # the host does answer
        results = probe(net, [(outside.public, PORT), (other.address, PORT), *targets])
        assert probe(other, [(other.address, PORT)]) == {(other.address, PORT): "ok"}
    finally:
        stop(listener)
    assert results.pop((outside.public, PORT)) == "ok"
    assert results.pop((other.address, PORT)) == "TimeoutError"  # dropped, not refused
    assert "ok" not in results.values(), results


def test_open_policy_reaches_no_private_range_nor_the_hosts_subnet(create, outside):
    """The metadata service, RFC 1918, CGNAT and a machine on the host's own subnet: each
    answers the host, none answers a sandbox but one whose allowlist names it."""
    targets = [(address, PORT) for address in (outside.private, *PRIVATE_TARGETS)]
    assert {from_host(outside, a) for a, _ in targets} == {"ok"}
    assert probe(create(None), targets) == dict.fromkeys(targets, "TimeoutError")
    named = create([f"{address}/32" for address, _ in targets])
    assert probe(named, targets) == dict.fromkeys(targets, "ok")
    # "everything" is the public internet: it names no private range
    assert probe(create(["0.0.0.0/0"]), [*targets, (outside.public, PORT)]) == {
        **dict.fromkeys(targets, "TimeoutError"), (outside.public, PORT): "ok"}


def test_allowlist_lets_through_only_its_cidrs(create, outside):
    address = outside.private
    assert probe(create([f"{address}/32"]), [(address, PORT)]) == {(address, PORT): "ok"}
    blocked = probe(create(["10.98.0.0/24"]), [(address, PORT)])
    assert blocked == {(address, PORT): "TimeoutError"}
    assert probe(create([]), [(address, PORT)]) == {(address, PORT): "TimeoutError"}


def test_allowlist_does_not_open_the_host_nor_other_sandboxes(create, host_listeners):
    other = create(None)
    everything = create(["0.0.0.0/0"])
    port = host_listeners[-1][1]
    listener = listen_in(other.path)
    try:
        results = probe(everything, [(other.address, PORT), (everything.gateway, port),
                                     *host_listeners])
    finally:
        stop(listener)
    assert "ok" not in results.values(), results


def test_ipv6_cannot_reach_the_host(create):
    """Even where a root inside gives its end an IPv6 address on the host end's subnet."""
    net = create(None)
    everywhere = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
    port = everywhere.getsockname()[1]
    ip("addr", "add", "fd99::1/64", "dev", net.interface, "nodad")
    ip("-n", net.name, "addr", "add", "fd99::2/64", "dev", "eth0", "nodad")
    try:
        socket.create_connection(("fd99::1", port), timeout=1).close()  # the host does answer
        assert probe(net, [("fd99::1", port)]) == {("fd99::1", port): "TimeoutError"}
    finally:
        everywhere.close()


def datagram(net: SandboxNetwork, address: str, wait: float, *echo_from: str | int
             ) -> subprocess.Popen[str]:
    """Wait inside ``net`` for a datagram on ``address``, having sent one to ``echo_from``."""
    received = subprocess.Popen([sys.executable, "-S", "-c", DATAGRAM, net.path, address,
                                 str(wait), *map(str, echo_from)], text=True,
                                stdout=subprocess.PIPE)
    assert received.stdout is not None and received.stdout.readline() == "ready\n"
    return received


def test_a_sandbox_cannot_send_from_another_address(create, outside):
    """Else, sending from another sandbox's address, it would reach it through an echo outside
    (the reply is let in as part of a connection of the other's)."""
    net, other = create(None), create(None)
    assert datagram(net, net.address, 1.5, outside.public, 8080).communicate()[0] == "echo\n"
    ip("-n", net.name, "addr", "add", f"{other.address}/32", "dev", "eth0")
    victim = datagram(other, other.address, 1.5)
    datagram(net, other.address, 1.5, outside.public, 8080).communicate()
    assert victim.communicate()[0] == "nothing\n"


def test_a_sandbox_gets_no_replies_meant_for_the_one_before_it_in_its_slot(create, outside):
    before = create(None)
    datagram(before, before.address, 0.01, outside.public, 8081).communicate()  # echoed in 2 s
    asyncio.run(before.remove())
    after = create(None)
    if after.address != before.address:
        pytest.skip("another test run on this host took the slot")
    assert datagram(after, after.address, 3).communicate()[0] == "nothing\n"


@pytest.mark.parametrize("entry", ["10.0.0.1/24", "10.0.0.0/33", "fd00::/8", "example.com", ""])
def test_a_bad_cidr_is_named(entry):
    name = f"sb-{secrets.token_hex(6)}"
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        asyncio.run(SandboxNetwork.create(name, ["10.1.0.0/16", entry]))
    assert not os.path.exists(f"/run/netns/{name}")


def test_a_name_that_is_taken_or_unsafe_is_refused(create):
    net = create(None)
    with pytest.raises(FileExistsError, match=net.name):
        asyncio.run(SandboxNetwork.create(net.name, None))
    assert os.path.exists(net.path)  # the failed create left it alone
    with pytest.raises(ValueError, match="cannot name a network namespace"):
        asyncio.run(SandboxNetwork.create("sb-1\nnetns del other", None))


def test_remove_leaves_nothing_behind(create):
    net = create(["10.99.0.0/24"])
    assert os.path.exists(net.path) and net.interface in links()
    named = (net.interface, f"sb{net.slot}", net.address)
    # its chain, its address, its element in the map of chains and in the set of marks
    assert len(rules_naming(*named)) == 4, rules_naming(*named)
    asyncio.run(net.remove())
    asyncio.run(net.remove())  # again: nothing to do
    assert not os.path.exists(net.path)
    assert net.interface not in links()
    assert rules_naming(*named) == []


@pytest.mark.parametrize("after", [0.001, 0.003, 0.006])
def test_a_cancelled_create_leaves_nothing_behind(after):
    name = f"sb-{secrets.token_hex(6)}"

    async def cancelled() -> None:
        with contextlib.suppress(TimeoutError):
            await (await asyncio.wait_for(SandboxNetwork.create(name, None), after)).remove()

    before = links()
    asyncio.run(cancelled())
    assert not os.path.exists(f"/run/netns/{name}")
    assert not {link for link in links() - before if link.startswith("ketch-sb")}


def test_parallel_creates_get_distinct_subnets():
    async def many() -> list[SandboxNetwork]:
        nets = await asyncio.gather(
            *(SandboxNetwork.create(f"sb-{secrets.token_hex(6)}", None) for _ in range(10))
        )
        await asyncio.gather(*(net.remove() for net in nets))
        return nets

    nets = asyncio.run(many())
    assert len({net.address for net in nets}) == len({net.slot for net in nets}) == 10
    assert not {net.interface for net in nets} & links()


def test_a_slot_held_by_a_leftover_interface_is_skipped(create):
    first = create(None)
    asyncio.run(first.remove())
    ip("link", "add", first.interface, "type", "veth", "peer", "name", f"ktl{os.getpid()}")
    try:
        assert create(None).interface != first.interface
    finally:
        ip("link", "del", first.interface)


CRASH = """
import asyncio, os, sys
from ketch.backends.netns import SandboxNetwork
net = asyncio.run(SandboxNetwork.create(sys.argv[1], None))
print(net.interface, flush=True)
if sys.argv[2] == "crash":
    os._exit(1)
asyncio.run(net.remove())
"""


def test_what_a_dead_process_left_is_torn_down_by_the_next():
    crashed = f"sb-{secrets.token_hex(6)}"
    run = [sys.executable, "-c", CRASH]
    left = subprocess.run([*run, crashed, "crash"], capture_output=True, text=True).stdout.strip()
    assert left in links() and os.path.exists(f"/run/netns/{crashed}")
    subprocess.run([*run, f"sb-{secrets.token_hex(6)}", "remove"], check=True)
    assert not os.path.exists(f"/run/netns/{crashed}")
    assert left not in links() and rules_naming(left, left.replace("ketch-", "")) == []
