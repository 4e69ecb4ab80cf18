"""Check 10 of ``phonetrust diagnose``: every node's services answering on their ports.

Each service is asked at once, as a phone reaches it (through the same
:class:`~phonetrust.sim.network.Routes` a simulated phone uses): TFTP for
``ITLFile.tlv``, TVS and CAPF for the certificate their TLS presents, which
must be the node's current one (what reference 002 reads in a capture).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

from phonetrust.errors import PhonetrustError
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.net.tftp_remote import fetch
from phonetrust.net.tls import client_context, close_stream
from phonetrust.planner.checks import Check, Status, check
from phonetrust.service.fileplan import ITL_NAME
from phonetrust.sim.network import Routes

PROBE_TIMEOUT = 2.0
RESTART_TFTP = "restart TFTP on that node (`utils service restart Cisco Tftp`)"


@dataclass(frozen=True, slots=True)
class Target:
    """One service of one node, where phones reach it, and what it should present."""

    node: str
    service: str
    address: str
    expect: bytes | None = field(default=None, repr=False)
    """TFTP: the ITL the store publishes; TVS and CAPF: the node's current certificate."""


async def probe(wanted: Sequence[Target], routes: Routes, timeout: float) -> Check:
    """Each service asked at once, as a phone would reach it: TFTP for ITLFile.tlv, TVS and
    CAPF for their TLS certificate; each within ``timeout`` seconds."""
    answers = await asyncio.gather(*(_probe_one(t, routes, timeout) for t in wanted))
    fails = [a for a, bad in answers if bad == Status.FAIL]
    warns = [a for a, bad in answers if bad == Status.WARN]
    oks = [a for a, bad in answers if bad == Status.OK]
    action = (
        "start the node's services (`phonetrust serve --node NODE`) or open the network path; "
        "a phone that reaches no TVS of its group cannot take a new signer (B1)"
        if fails
        else RESTART_TFTP
    )
    return check(
        "services", "services answering on their ports", fails, warns, action=action, ok=oks
    )


async def _probe_one(t: Target, routes: Routes, timeout: float) -> tuple[str, Status]:
    port = STANDARD_PORTS[t.service]
    host, real_port = routes.resolve(t.address, port)
    where = f"{t.node} {t.service.upper()} {t.address}:{port}"
    if (host, real_port) != (t.address, port):
        where += f" (at {host}:{real_port})"
    try:
        if t.service == "tftp":
            data, _ = await fetch(
                (host, real_port), ITL_NAME, timeout=timeout, rto=min(0.5, timeout), retries=3
            )
            if t.expect is not None and data != t.expect:
                return f"{where}: serves an ITL other than the store's", Status.WARN
            return f"{where}: answers", Status.OK
        presented = await _certificate(host, real_port, timeout)
    except (PhonetrustError, OSError, TimeoutError) as exc:
        return f"{where}: no answer ({exc or type(exc).__name__})", Status.FAIL
    if t.expect is not None and presented != t.expect:
        return f"{where}: presents a certificate other than its current one", Status.FAIL
    return f"{where}: answers with its current certificate", Status.OK


async def _certificate(host: str, port: int, timeout: float) -> bytes:
    """The certificate a TLS server presents (what reference 002 reads in a capture)."""
    async with asyncio.timeout(timeout):
        _, writer = await asyncio.open_connection(host, port, ssl=client_context())
    try:
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    finally:
        await close_stream(writer, wait=0.2)
    return der if isinstance(der, bytes) else b""
