"""The phone's CAPF client over TLS: what ``phonetrust capf enroll`` and the simulator use.

Call order: connect with TLS (no CA check: a phone pins the CAPF
certificate by the SHA-1 hash of its CTL/ITL CAPF record, so the hash is
compared here when given), then pump
:class:`~phonetrust.protocols.capf.client.PhoneSession` until the server
ends the session. Header and payload of each message leave in one write.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from phonetrust.errors import RemoteError
from phonetrust.net.tls import client_context, close_stream
from phonetrust.pki.lsc import parse_key_spec
from phonetrust.protocols.capf.client import (
    Credential,
    PhoneSession,
    PrivateKey,
    generate_key,
)
from phonetrust.protocols.capf.messages import CapfServerUntrusted, KeySpec
from phonetrust.protocols.capf.server import Operation

READ_SIZE = 16 * 1024


class CapfUnreachable(RemoteError):
    """The CAPF server cannot be reached, or stopped answering."""


@dataclass(frozen=True, slots=True)
class EnrollResult:
    """How the session went, from the phone's side."""

    device: str
    operation: Operation
    success: bool
    reason: int | None
    """The END SESSION's REASON (0 no action, 1 certificate updated, 7 failure, 9 unknown)."""
    info: str
    certificate: x509.Certificate | None
    """The LSC the phone holds afterwards (the new one after an install)."""
    key: PrivateKey | None
    server_sha1: str
    """SHA-1 (hex) of the certificate the CAPF server presented."""
    session_id: int | None


def normalise_sha1(text: str) -> str:
    return text.replace(":", "").replace(" ", "").lower()


async def enroll(
    host: str,
    port: int,
    device_name: str,
    *,
    key_spec: str | KeySpec | None = None,
    key: PrivateKey | None = None,
    auth_string: str | None = None,
    lsc: Credential | None = None,
    mic: Credential | None = None,
    sudi: Credential | None = None,
    prefer_mic: bool = False,
    expected_capf_sha1: str | None = None,
    timeout: float = 30.0,
    tls: ssl.SSLContext | None = None,
    check_server: Callable[[bytes], None] | None = None,
    local_address: str | None = None,
) -> EnrollResult:
    """Run one CAPF session as phone ``device_name`` does.

    The phone generates the key CAPF asks for - or ``key_spec`` whatever CAPF
    asks (to see a server refuse it) - and uses ``key`` instead of generating
    one when it is of that kind (keys made ahead, for benchmarks).
    ``check_server`` sees the server's certificate (DER) before the session
    starts and raises to refuse it (the simulated phone's CAPF record check).
    ``local_address`` is the address to connect from (e.g. one of 127.0.0.0/8,
    to be many phones on one machine).
    """
    forced = parse_key_spec(key_spec) if isinstance(key_spec, str) else key_spec

    def key_for(asked: KeySpec) -> PrivateKey:
        wanted = forced or asked
        if key is not None and KeySpec.of_key(key.public_key()) == wanted:
            return key
        return generate_key(wanted)

    session = PhoneSession(
        device_name,
        auth_string=auth_string,
        lsc=lsc,
        mic=mic,
        sudi=sudi,
        prefer_mic=prefer_mic,
        key_for=key_for,
    )
    where = f"CAPF at {host}:{port}"
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(
                host,
                port,
                ssl=tls or client_context(),
                local_addr=None if local_address is None else (local_address, 0),
            )
            try:
                server_sha1 = _check_server(writer, expected_capf_sha1, check_server)
                while not session.done:
                    data = await reader.read(READ_SIZE)
                    if data:
                        session.receive_data(data)
                    else:
                        session.receive_eof()
                    out = session.data_to_send()
                    if out:
                        writer.write(out)
                        await writer.drain()
            finally:
                await close_stream(writer)
    except TimeoutError:
        raise CapfUnreachable(f"{where} did not finish the session within {timeout:g} s") from None
    except (ConnectionError, ssl.SSLError, OSError) as exc:
        raise CapfUnreachable(f"cannot reach {where}: {exc.strerror or exc}") from None
    result = session.result()
    held = result.lsc
    return EnrollResult(
        device=device_name,
        operation=result.operation,
        success=result.success,
        reason=result.reason,
        info=result.info,
        certificate=held[0] if held else None,
        key=held[1] if held else None,
        server_sha1=server_sha1,
        session_id=result.session_id,
    )


def _check_server(
    writer: asyncio.StreamWriter, expected: str | None, check: Callable[[bytes], None] | None
) -> str:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if not der:
        raise CapfServerUntrusted("No valid CAPF server: it presented no certificate")
    if check is not None:
        check(der)
    sha1 = hashlib.sha1(der).hexdigest()  # the CTL/ITL record's hash is SHA-1
    if expected is not None and normalise_sha1(expected) != sha1:
        raise CapfServerUntrusted(
            f"No valid CAPF server: its certificate (SHA-1 {sha1}) is not the CAPF record's "
            f"({normalise_sha1(expected)})"
        )
    return sha1
