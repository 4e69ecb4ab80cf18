"""Ask a TVS server about one certificate, as a phone does (any TVS: phonetrust's or CUCM's).

Call order: connect with TLS (the context checks nothing itself), compare the
server certificate's SHA-1 with the expected one when given (the phone's
ITL TVS record), send one request, read until the response, close.

Errors leave here typed, and only here: :class:`TvsUnavailable` (refused,
unreachable, TLS failure, timeout), :class:`TvsServerUntrusted` (the server
is not the expected TVS), :class:`ProtocolError` (a malformed or
mismatched response).
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
from collections.abc import Callable

from phonetrust.errors import ProtocolError, RemoteError
from phonetrust.net.tls import client_context, close_stream
from phonetrust.protocols.tvs.messages import (
    Answer,
    Command,
    TvsServerUntrusted,
)
from phonetrust.protocols.tvs.session import ClientSession, ProtocolFailed, ResponseReceived

__all__ = ["ProtocolError", "TvsServerUntrusted", "TvsUnavailable", "query"]


class TvsUnavailable(RemoteError):
    """No answer from the TVS server: refused, unreachable, TLS failure or timeout."""


async def query(
    host: str,
    port: int,
    der: bytes,
    device: str | None = None,
    *,
    expected_tvs_sha1: bytes | None = None,
    timeout: float = 10,
    command: Command = Command.VERIFY_REQUEST,
    legacy: bool = False,
    tls: ssl.SSLContext | None = None,
    check_server: Callable[[bytes], None] | None = None,
) -> Answer:
    """TVS's answer about certificate ``der``; ``legacy`` allows TLS 1.0 servers.

    ``check_server`` sees the server's certificate (DER) before anything is
    sent, and raises to refuse it: the simulated phone judges it against the
    TVS records of its ITL (A7), which a single expected hash cannot express.
    """
    session = ClientSession(secrets.randbits(32), expected_tvs_sha1=expected_tvs_sha1)
    where = f"{host}:{port}"
    context = tls if tls is not None else client_context(legacy=legacy)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            try:
                return await _exchange(
                    session,
                    reader,
                    writer,
                    der,
                    device=device,
                    command=command,
                    check_server=check_server,
                )
            finally:
                await close_stream(writer)
    except TimeoutError:
        raise TvsUnavailable(f"no answer from TVS {where} within {timeout:g} s") from None
    except ssl.SSLError as exc:
        raise TvsUnavailable(f"TLS with TVS {where} failed: {exc.reason or exc}") from None
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise TvsUnavailable(f"connection to TVS {where} failed: {why}") from None


async def _exchange(
    session: ClientSession,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    der: bytes,
    *,
    device: str | None,
    command: Command,
    check_server: Callable[[bytes], None] | None,
) -> Answer:
    ssl_object = writer.get_extra_info("ssl_object")
    peer = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    if check_server is not None:
        check_server(peer or b"")
    session.check_server(peer or b"")
    writer.write(session.send_request(der, device, command))
    while True:
        data = await reader.read(65536)
        if data:
            session.receive_data(data)
        else:
            session.receive_eof()
        event = session.next_event()
        if isinstance(event, ResponseReceived):
            return event.response.answer()
        if isinstance(event, ProtocolFailed):
            raise event.error
        if event is not None:  # PeerClosed: cannot happen while a request is unanswered
            raise ProtocolError("the server closed the connection without answering")
