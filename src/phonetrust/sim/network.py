"""Where the servers a phone's files name really listen.

A configuration file names TVS, CAPF and URL hosts by the cluster's
addresses (``10.0.0.10:2445``, ``https://cucm-pub:8443/...``); in a test
or on a laptop those services listen on loopback ports. A :class:`Routes`
table maps one to the other, and the phone keeps using the logical name in
its decisions and console (a CTL compares the TFTP server's *address*, D8).
Anything not in the table is used as written, so a phone booted against a
real CUCM resolves names through DNS as a real phone does.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from phonetrust.errors import LocalError
from phonetrust.net.ports import STANDARD_PORTS

Endpoint = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Routes:
    """(logical host, port) -> (real host, port); port 0 in a key matches any port."""

    table: Mapping[Endpoint, Endpoint] = field(default_factory=lambda: MappingProxyType({}))

    def resolve(self, host: str, port: int) -> Endpoint:
        key = host.strip().lower()
        found = self.table.get((key, port))
        if found is not None:
            return found
        wildcard = self.table.get((key, 0))
        if wildcard is not None:
            return (wildcard[0], wildcard[1] or port)
        return (host, port)

    def with_route(self, host: str, port: int, to: Endpoint) -> Routes:
        table = dict(self.table)
        table[(host.strip().lower(), port)] = to
        return Routes(MappingProxyType(table))

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Routes:
        """``NAME[:PORT]=HOST[:PORT]`` each: e.g. ``10.0.0.10:2445=127.0.0.1:12445``."""
        routes = cls()
        for spec in specs:
            left, sep, right = spec.partition("=")
            if not sep or not left or not right:
                raise LocalError(f"route {spec!r}: expected NAME[:PORT]=HOST[:PORT]")
            name, port = split_endpoint(left, 0)
            to = split_endpoint(right, port)
            routes = routes.with_route(name, port, to)
        return routes


def route_services(
    routes: Routes, names: Iterable[str], ports: Mapping[str, int], host: str = "127.0.0.1"
) -> Routes:
    """``routes`` plus each service of a node served here: every one of its ``names`` (host
    name, address) at the service's standard port goes to ``host`` and the port it took."""
    for service, port in ports.items():
        for name in names:
            routes = routes.with_route(name, STANDARD_PORTS[service], (host, port))
    return routes


def tftp_address(host: str, port: int, routes: Routes) -> str:
    """The address the phone knows its TFTP server by (DHCP option 150 gives an IP address).

    A name the routes know stays a name; any other name is resolved, as the
    phone's address is what a CTL's TFTP record is compared with (D8).
    """
    if routes.resolve(host, port) != (host, port):
        return host
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(host))
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise LocalError(
            f"TFTP server {host}: cannot resolve the name: {exc.strerror or exc}"
        ) from None
    return str(found[0][4][0])


def split_endpoint(text: str, default_port: int) -> Endpoint:
    """``host``, ``host:port``, ``[v6]:port`` -> (host, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise LocalError(f"{text!r}: no host")
    if not port_text:
        return host, default_port
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise LocalError(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)


def endpoint_table(pairs: Mapping[Endpoint, Endpoint]) -> Routes:
    return Routes(MappingProxyType({(h.lower(), p): to for (h, p), to in pairs.items()}))
