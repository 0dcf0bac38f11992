"""What a sandbox's network may reach: the public internet, and a private range only where its
``cidr_allowlist`` names one.

A sandbox that may use the network (``block_network=False``) must not reach what sits next to
the host: the cloud's metadata service (169.254.169.254, which hands out the machine's
credentials), the host's own networks (a database on 10.0.0.5, a router on 192.168.1.1), a
VPN's CGNAT range. So every destination in `NON_PUBLIC` or on one of the host's own subnets
(`host_networks`, read again for each sandbox: interfaces come and go) is dropped, whatever the
allowlist, unless the allowlist has an entry that lies inside that range (``10.0.0.5/32``,
``169.254.169.254/32``): naming a private address is a decision, ``0.0.0.0/0`` is not (it means
"the internet"). The documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24) are not in
`NON_PUBLIC`: the internet routes them nowhere, so they reach nobody, and the tests use them to
stand in for a public address.

One hole is kept for a sandbox without an allowlist: DNS (port 53) to the host's resolvers
(`resolvers`), which are private more often than not (a cloud's VPC resolver, a LAN router);
without it, no name resolves and the internet is out of reach by name. A sandbox with an
allowlist reaches only what its allowlist names, DNS included.

These rules are a sandbox's own chain (`sandbox_chain`); the host's address and the other
sandboxes are refused before it (`ketch.backends.netns`).

>>> print("\\n".join(sandbox_chain("sb0", "10.213.0.2", 7, ["192.168.1.9/32", "0.0.0.0/0"],
...                                [])))  # doctest: +NORMALIZE_WHITESPACE
add rule inet ketch sb0 ip saddr != 10.213.0.2 drop
add rule inet ketch sb0 ct mark set 7
add rule inet ketch sb0 ip daddr { 192.168.1.9/32 } accept
add rule inet ketch sb0 ip daddr @nonpublic drop
add rule inet ketch sb0 ip daddr @hostnets drop
add rule inet ketch sb0 ip daddr { 0.0.0.0/0 } accept
add rule inet ketch sb0 drop
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence

IPv4Network = ipaddress.IPv4Network

# Not the public internet (IANA's special-purpose registry, less the documentation ranges):
# "this network" (a connect to 0.0.0.0 reaches the local host), RFC 1918, CGNAT (and
# Tailscale), loopback, link-local (the metadata services), IETF assignments, benchmarking,
# and multicast, reserved and broadcast (224.0.0.0/3).
NON_PUBLIC = tuple(IPv4Network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
))

# The sets the chains use, made once per host (`ketch.backends.netns.HOST_RULES`).
SETS = f"""
add set inet ketch nonpublic {{ type ipv4_addr ; flags interval ; }}
flush set inet ketch nonpublic
add element inet ketch nonpublic {{ {", ".join(map(str, NON_PUBLIC))} }}
add set inet ketch hostnets {{ type ipv4_addr ; flags interval ; }}
add set inet ketch resolvers {{ type ipv4_addr ; }}
"""


def host_networks(addresses_json: str, skip_prefix: str) -> list[IPv4Network]:
    """The subnets of the host's IPv4 addresses (``ip -j -4 addr show``), merged; those of
    interfaces named ``skip_prefix``* (the sandboxes' own veths) left out."""
    networks = [
        ipaddress.IPv4Interface(f"{address['local']}/{address['prefixlen']}").network
        for link in json.loads(addresses_json or "[]")
        if not link.get("ifname", "").startswith(skip_prefix)
        for address in link.get("addr_info", []) if address.get("family", "inet") == "inet"
    ]
    return list(ipaddress.collapse_addresses(networks))


def resolvers(resolv_conf: str) -> list[ipaddress.IPv4Address]:
    """The IPv4 name servers of a resolv.conf's text, but loopback ones (a sandbox has its
    own loopback: the host's resolver there is out of its reach either way)."""
    found = []
    for line in resolv_conf.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                address = ipaddress.IPv4Address(words[1])
            except ValueError:
                continue
            if not address.is_loopback and address not in found:
                found.append(address)
    return found


def refresh_sets(hostnets: Sequence[IPv4Network],
                 names: Sequence[ipaddress.IPv4Address]) -> str:
    """nft commands that set the host's subnets and resolvers to these (in one batch with a
    sandbox's chain, so that its rules and what they refer to change at once)."""
    commands = ["flush set inet ketch hostnets", "flush set inet ketch resolvers"]
    if hostnets:
        commands.append(f"add element inet ketch hostnets {{ {', '.join(map(str, hostnets))} }}")
    if names:
        commands.append(f"add element inet ketch resolvers {{ {', '.join(map(str, names))} }}")
    return "\n".join(commands) + "\n"


def sandbox_chain(chain: str, address: str, mark: int,
                  allowlist: Sequence[IPv4Network | str] | None,
                  hostnets: Sequence[IPv4Network]) -> list[str]:
    """The rules of one sandbox's chain ``inet ketch <chain>``: only from its ``address``,
    its connections marked ``mark``, then the policy of this module's docstring."""
    rule = f"add rule inet ketch {chain}"
    rules = [f"{rule} ip saddr != {address} drop", f"{rule} ct mark set {mark}"]
    entries = [IPv4Network(entry) for entry in allowlist or ()]
    closed = [*NON_PUBLIC, *hostnets]
    named = [e for e in entries if any(e.subnet_of(c) for c in closed)]
    if named:
        rules.append(f"{rule} ip daddr {{ {', '.join(map(str, named))} }} accept")
    if allowlist is None:
        rules.append(f"{rule} ip daddr @resolvers meta l4proto {{ tcp, udp }} th dport 53 accept")
    rules += [f"{rule} ip daddr @nonpublic drop", f"{rule} ip daddr @hostnets drop"]
    if allowlist is None:
        rules.append(f"{rule} accept")
        return rules
    rest = [e for e in entries if e not in named]
    if rest:  # an empty set is a syntax error; an empty list allows nothing
        rules.append(f"{rule} ip daddr {{ {', '.join(map(str, rest))} }} accept")
    rules.append(f"{rule} drop")
    return rules
