"""How a simulated phone reaches its TFTP and TVS servers: the one seam between its
algorithm and the network.

:class:`~phonetrust.sim.phone.Phone` asks a :class:`Network` for a file and
for a TVS answer, and judges what comes back with the same decisions
whatever answered. :class:`SocketNetwork` is the real thing (UDP TFTP, TLS
TVS, through the :class:`~phonetrust.sim.network.Routes` table); the change
planner gives the phone a network that answers from a file plan in memory,
so that a predicted boot and a real one run the same code and can only
differ by what the servers said.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from phonetrust.net import tftp_remote, tvs_client
from phonetrust.protocols.tvs.messages import Answer
from phonetrust.sim.network import Endpoint, Routes


class Network(Protocol):
    """What a phone needs of the network; failures are raised as the real clients raise them.

    ``fetch``: the file's bytes; :class:`~phonetrust.protocols.tftp.packets.PeerError`
    when the server answers with an error (file not found), another
    :class:`~phonetrust.protocols.tftp.packets.TftpError` or :class:`OSError` when nobody
    answers. ``tvs``: the server's answer; ``check_server`` sees the server's certificate
    first and raises to refuse it; a :class:`~phonetrust.errors.RemoteError` when the
    server cannot be used.
    """

    async def fetch(
        self,
        server: Endpoint,
        filename: str,
        *,
        timeout: float,
        blksize: int | None,
        rto: float,
        retries: int,
    ) -> bytes: ...

    async def tvs(
        self,
        server: Endpoint,
        certificate: bytes,
        device_type: str,
        *,
        timeout: float,
        check_server: Callable[[bytes], None],
    ) -> Answer: ...


class SocketNetwork:
    """The servers over real sockets, the phone's logical addresses routed by ``routes``."""

    def __init__(self, routes: Routes) -> None:
        self.routes = routes

    async def fetch(
        self,
        server: Endpoint,
        filename: str,
        *,
        timeout: float,
        blksize: int | None,
        rto: float,
        retries: int,
    ) -> bytes:
        data, _ = await tftp_remote.fetch(
            self.routes.resolve(*server),
            filename,
            timeout=timeout,
            blksize=blksize,
            rto=rto,
            retries=retries,
        )
        return data

    async def tvs(
        self,
        server: Endpoint,
        certificate: bytes,
        device_type: str,
        *,
        timeout: float,
        check_server: Callable[[bytes], None],
    ) -> Answer:
        host, port = self.routes.resolve(*server)
        return await tvs_client.query(
            host, port, certificate, device_type, timeout=timeout, check_server=check_server
        )
