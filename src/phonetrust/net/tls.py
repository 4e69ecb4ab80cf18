"""TLS contexts for the phone-facing services, from key material held in memory.

Python's ``ssl`` only loads certificates and keys from files, so the PEM is
written to a private temporary file (0600, in a 0700 directory), loaded, and
removed at once. Old phones may need TLS 1.0 and older ciphers: that is an
explicit option, off by default.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes


def server_context(
    certificate: x509.Certificate, key: PrivateKeyTypes, *, legacy: bool = False
) -> ssl.SSLContext:
    """A server context presenting ``certificate``; client certificates are not requested."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    if legacy:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, certificate, key)
    context.verify_mode = ssl.CERT_NONE
    return context


def mutual_server_context(
    certificate: x509.Certificate, key: PrivateKeyTypes, client_cas: list[x509.Certificate]
) -> ssl.SSLContext:
    """A server context that asks clients for a certificate issued by one of ``client_cas``."""
    context = server_context(certificate, key)
    context.verify_mode = ssl.CERT_OPTIONAL
    if client_cas:
        context.load_verify_locations(
            cadata="".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in client_cas)
        )
    return context


def client_context(*, legacy: bool = False) -> ssl.SSLContext:
    """A client context that checks nothing itself: phones pin the server certificate by hash
    against their trust lists, so the caller checks ``getpeercert(binary_form=True)``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if legacy:
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


def _load(context: ssl.SSLContext, certificate: x509.Certificate, key: PrivateKeyTypes) -> None:
    pem = certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory(prefix="phonetrust-tls-") as tmp:
        path = Path(tmp) / "identity.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        context.load_cert_chain(path)


CLOSE_WAIT = 1.0
"""Seconds a client waits for the peer's close_notify before dropping the connection."""


async def close_stream(writer: asyncio.StreamWriter, wait: float = CLOSE_WAIT) -> None:
    """Send close_notify and wait briefly for the peer's; then drop the connection.

    A TLS stream only closed (not waited for) keeps its socket until the peer
    answers or asyncio's 30 s shutdown timeout, and past the end of the event
    loop: a client must leave nothing open behind it.
    """
    writer.close()
    try:
        async with asyncio.timeout(wait):
            await writer.wait_closed()
    except TimeoutError:
        # The close waiter was cancelled with the timeout: abort, and let the transport
        # report connection_lost, instead of awaiting that waiter again.
        writer.transport.abort()
        await asyncio.sleep(0)
    except OSError:
        pass  # the server reset the connection after answering: nothing left to do
