"""A sandbox's own network namespace, and the host-side firewall that is its network policy.

Each sandbox gets a free /30 of 10.213.0.0/16 and a veth pair: the host end ``ketch-sbN`` holds
the subnet's first address and is the default gateway of the other end, ``eth0`` in the
sandbox's namespace, which holds the second. The host forwards the sandbox's traffic and
masquerades it out of its other interfaces, so the first network created turns on
``net.ipv4.ip_forward`` for the whole host (from then on the host routes between all its
interfaces as far as its firewall lets it).

The policy is enforced in the host's namespace, in the nftables table ``inet ketch``, never
inside the sandbox's: a gVisor sandbox sends packets from its own network stack through raw
packet sockets, which bypass netfilter in its namespace, so only filtering what crosses the veth
holds for every runtime. A sandbox may send:

- nothing to the host itself: every packet from a sandbox's veth to the host's input is dropped,
  whichever of the host's addresses it is sent to, but replies on connections the host opened
  (ketch's tunnels to a sandbox's ports);
- nothing to another sandbox (10.213.0.0/16), nothing but IPv4, nothing from an address not its
  own;
- with ``allowlist=None``, anything on the public internet (and DNS to the host's resolvers);
  otherwise only to the allowlist's CIDRs. Private ranges, the metadata service and the host's
  own subnets only where an allowlist entry lies inside them (`ketch.backends.egress`).

Nothing but the host may connect to a sandbox; only replies to its own connections come in
(connections of this very sandbox, not of one that had its address before).

    net = await SandboxNetwork.create("sb-1a2b3c4d5e6f", ["10.99.0.0/24"])
    # ... start the sandbox in net.path (the launcher joins it with setns(2)) ...
    await net.remove()

One process per host (the worker) manages these networks. The first network a process creates
also tears down what a process that died left behind (each veth's alias names its maker).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Awaitable
from dataclasses import dataclass, field

from ..protocol.worker import parse_allowlist
from . import egress

POOL = ipaddress.IPv4Network("10.213.0.0/16")
SLOTS = POOL.num_addresses // 4
PREFIX = "ketch-sb"  # + slot: at most 13 characters, interface names allow 15
NETNS_DIR = "/run/netns"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # it goes into paths and batch scripts
ALIAS = re.compile(r"ketch owner=((\d+)@\d+) netns=(\S+) mark=(\d+)")

# Idempotent: re-running it replaces the base chains' rules and keeps every sandbox's own.
HOST_RULES = f"""
add table inet ketch
add map inet ketch sandboxes {{ type ifname : verdict ; }}
add set inet ketch live {{ type mark . ifname ; }}
add chain inet ketch forward {{ type filter hook forward priority filter ; policy accept ; }}
add chain inet ketch input {{ type filter hook input priority filter ; policy accept ; }}
add chain inet ketch postrouting {{ type nat hook postrouting priority srcnat ; policy accept ; }}
add chain inet ketch egress
{egress.SETS}
flush chain inet ketch forward
flush chain inet ketch input
flush chain inet ketch postrouting
flush chain inet ketch egress
add rule inet ketch forward iifname "{PREFIX}*" goto egress
add rule inet ketch forward oifname "{PREFIX}*" ct state established,related ct mark . oifname @live accept
add rule inet ketch forward oifname "{PREFIX}*" drop
add rule inet ketch input iifname "{PREFIX}*" ct state established,related ct direction reply accept
add rule inet ketch input iifname "{PREFIX}*" drop
add rule inet ketch egress meta nfproto != ipv4 drop
add rule inet ketch egress ip daddr {POOL} drop
add rule inet ketch egress iifname vmap @sandboxes
add rule inet ketch egress drop
add rule inet ketch postrouting ip saddr {POOL} oifname != "{PREFIX}*" masquerade
"""

# The slots and namespace names of this process's networks.
_taken: set[int] = set()
_names: set[str] = set()
_host_ready = False
_host_setup: asyncio.Task[None] | None = None


@dataclass(eq=False)
class SandboxNetwork:
    """A sandbox's network namespace, bind-mounted at ``path``, joined to the host by a veth
    pair whose traffic the host filters by ``allowlist`` (None: anywhere but the host and the
    other sandboxes).

        net = await SandboxNetwork.create("sb-1a2b3c4d5e6f", None)
        net.path, net.address, net.gateway   # '/run/netns/sb-1a2b3c4d5e6f', '10.213.0.2', ...
    """

    name: str
    slot: int
    allowlist: list[ipaddress.IPv4Network] | None
    # Marks its connections: a later sandbox in the same slot, with the same address, gets no
    # replies to them (conntrack keeps an established TCP connection for days).
    mark: int = field(default_factory=lambda: secrets.randbits(32) or 1)
    _removed: bool = field(default=False, init=False, repr=False)

    @property
    def path(self) -> str:
        return f"{NETNS_DIR}/{self.name}"

    @property
    def interface(self) -> str:
        """The host end of the veth."""
        return f"{PREFIX}{self.slot}"

    @property
    def gateway(self) -> str:
        return str(POOL.network_address + 4 * self.slot + 1)

    @property
    def address(self) -> str:
        return str(POOL.network_address + 4 * self.slot + 2)

    @classmethod
    async def create(cls, name: str, allowlist: list[str] | None) -> SandboxNetwork:
        """Make the namespace ``/run/netns/<name>``: ValueError for a bad name or CIDR,
        FileExistsError where that name is taken, OSError with the stderr of a failed command."""
        if not NAME.fullmatch(name):
            raise ValueError(f"{name!r} cannot name a network namespace: use letters, digits, -_.")
        networks = parse_allowlist(allowlist)
        missing = _missing_tool()
        if missing is not None:
            raise OSError(f"{missing}; or create the sandbox with block_network=True, whose "
                          "network (loopback only) needs neither")
        await _prepare_host()
        if name in _names or os.path.exists(f"{NETNS_DIR}/{name}"):
            raise FileExistsError(f"a network namespace named {name!r} exists already")
        network = cls(name, _allocate(), networks)
        _names.add(name)  # with no await since the check: a rollback deletes only what is ours
        try:
            await _together(network._link(), network._firewall())
        except BaseException:
            with contextlib.suppress(OSError):  # what went wrong first matters more
                await asyncio.shield(network.remove())
            raise
        return network

    async def remove(self) -> None:
        """Delete the veth, the namespace file and the rules; again does nothing."""
        if self._removed:
            return
        self._removed = True  # the slot may be handed out again: never tear down twice
        try:
            await _teardown(self.slot, self.name, self.mark)
        except BaseException:
            self._removed = False
            raise
        _taken.discard(self.slot)
        _names.discard(self.name)

    async def _link(self) -> None:
        owner = _owner(os.getpid())
        await _run(["ip", "-batch", "-"], f"""
netns add {self.name}
link add {self.interface} type veth peer name eth0 netns {self.name}
link set {self.interface} alias "ketch owner={owner} netns={self.name} mark={self.mark}"
addr add {self.gateway}/30 dev {self.interface}
link set {self.interface} up
""")
        await _run(["ip", "-n", self.name, "-batch", "-"], f"""
link set lo up
addr add {self.address}/30 dev eth0
link set eth0 up
route add default via {self.gateway}
""")

    async def _firewall(self) -> None:
        """Its chain, its elements in the map and the set of marks, and the host's subnets and
        resolvers as they are now, in one nft batch."""
        hostnets = egress.host_networks(await _run(["ip", "-j", "-4", "addr", "show"]), PREFIX)
        try:
            with open("/etc/resolv.conf") as conf:
                names = egress.resolvers(conf.read())
        except OSError:
            names = []
        chain = f"sb{self.slot}"
        rules = [f"add chain inet ketch {chain}", f"flush chain inet ketch {chain}",
                 *egress.sandbox_chain(chain, self.address, self.mark, self.allowlist, hostnets),
                 f'add element inet ketch sandboxes {{ "{self.interface}" : goto {chain} }}',
                 f'add element inet ketch live {{ {self.mark} . "{self.interface}" }}']
        script = egress.refresh_sets(hostnets, names) + "\n".join(rules) + "\n"
        await _run(["nft", "-f", "-"], script)


def fingerprint() -> str | None:
    """None where sandbox networks can be made here, else why not and what to do about it."""
    if not os.path.isdir("/proc/sys/net"):
        return "sandbox networks need Linux"
    if os.geteuid() != 0:
        return "sandbox networks need root: run the worker as root, or use block_network=True"
    missing = _missing_tool()
    if missing is not None:
        return missing
    probe = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"nftables does not work here ({probe.stderr.strip()}); the kernel needs nf_tables"
    if not os.access("/proc/sys/net/ipv4/ip_forward", os.W_OK):
        return "net.ipv4.ip_forward cannot be set here (/proc/sys is read-only)"
    return None


def _missing_tool() -> str | None:
    """Which of the programs sandbox networks are made with is not installed, and its
    package; None when both are."""
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return (f"`{tool}` is missing: sandbox networks need it; install it with "
                    f"`apt-get install {package}`")
    return None


async def _prepare_host() -> None:
    """Set up the host once per process; callers arriving meanwhile wait for the same setup."""
    global _host_ready, _host_setup
    if _host_ready:
        return
    loop = asyncio.get_running_loop()
    if _host_setup is None or _host_setup.get_loop() is not loop or _host_setup.done():
        _host_setup = loop.create_task(_setup_host())
    await asyncio.shield(_host_setup)
    _host_ready = True


async def _setup_host() -> None:
    with open("/proc/sys/net/ipv4/ip_forward", "r+") as forward:
        if forward.read().strip() != "1":  # a write resets other settings even when it is 1
            forward.seek(0)
            forward.write("1")
    await _run(["nft", "-f", "-"], HOST_RULES)
    links = json.loads(await _run(["ip", "-j", "link", "show", "type", "veth"]) or "[]")
    for link in links:
        match = ALIAS.fullmatch(link.get("ifalias", ""))
        if link["ifname"].startswith(PREFIX) and match and _owner(int(match[2])) != match[1]:
            await _teardown(int(link["ifname"].removeprefix(PREFIX)), match[3], int(match[4]))


def _allocate() -> int:
    """The lowest slot neither this process holds nor another process's veth is named after."""
    for slot in range(SLOTS):
        if slot not in _taken and not os.path.exists(f"/sys/class/net/{PREFIX}{slot}"):
            _taken.add(slot)
            return slot
    raise OSError(f"all {SLOTS} sandbox networks of {POOL} are in use")


async def _teardown(slot: int, netns: str, mark: int) -> None:
    """Delete whichever of a sandbox's veth, namespace file and rules exist."""
    interface, chain = f"{PREFIX}{slot}", f"inet ketch sb{slot}"
    links = [f"link del {interface}"] if os.path.exists(f"/sys/class/net/{interface}") else []
    if os.path.exists(f"{NETNS_DIR}/{netns}"):
        links.append(f"netns del {netns}")
    verdict, live = f'{{ "{interface}" : goto sb{slot} }}', f'{{ {mark} . "{interface}" }}'
    # Added first so that deleting them cannot fail when they are already gone.
    rules = f"""
add chain {chain}
add element inet ketch sandboxes {verdict}
add element inet ketch live {live}
delete element inet ketch sandboxes {{ "{interface}" }}
delete element inet ketch live {live}
flush chain {chain}
delete chain {chain}
"""
    steps = [_run(["nft", "-f", "-"], rules)]
    if links:
        steps.append(_run(["ip", "-batch", "-"], "\n".join(links) + "\n"))
    await _together(*steps)


def _owner(pid: int) -> str | None:
    """``pid@start time`` of a running process: unlike a pid, never names a later process."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except FileNotFoundError:
        return None
    return f"{pid}@{fields[19]}"


async def _together(*steps: Awaitable[object]) -> None:
    """Run the steps at once; raise the first failure only once none is still running."""
    for result in await asyncio.gather(*steps, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result


async def _run(argv: list[str], script: str = "") -> str:
    """Run ``argv`` with ``script`` on its stdin; OSError with its stderr when it fails."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await process.communicate(script.encode())
    except asyncio.CancelledError:
        # Whoever cleans up after a cancelled create must find the batch ended, not running.
        if process.stdin is not None:
            process.stdin.close()
        await process.wait()
        raise
    if process.returncode != 0:
        raise OSError(f"`{' '.join(argv)}` failed: {err.decode().strip()}")
    return out.decode()
