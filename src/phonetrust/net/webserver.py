"""HTTPS on the node's web port (8443), with its ``tomcat`` certificate, as Tomcat does.

What runs there is an ASGI application: the web administration when
``phonetrust serve`` or ``phonetrust web`` gives one, else only what phones
ask for (:func:`phone_urls`). Phones reach the secure URLs of their
configuration here (directories, services, authentication), and the
TLS handshake is their part of scenario A7: the ``tomcat`` certificate is in
neither CTL nor ITL, so a phone asks TVS before it trusts the connection.

uvicorn runs the ASGI app on a socket bound here, its connections accepted
by a :class:`~.webgate.Gate` (bounded, each TLS handshake within a deadline,
as the other TLS services). Its TLS context is a shell
whose SNI callback hands each new connection the *current* context, so a
regenerated tomcat certificate reaches new connections without a restart
(running ones keep theirs), as the other TLS services do. uvicorn's own
signal handling is switched off: the process that embeds it (``serve``)
owns SIGTERM and Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Generator, MutableMapping
from typing import Any
from xml.sax.saxutils import escape

import uvicorn

from phonetrust.net.ssllistener import HANDSHAKE_TIMEOUT
from phonetrust.net.webgate import Gate

log = logging.getLogger("phonetrust.https")
DEFAULT_PORT = 8443
MAX_CONNECTIONS = 256
KEEP_ALIVE = 5
MAX_HEAD = 16 * 1024
GRACE = 3.0
"""Seconds stop() waits for open requests to finish, then as long for the server to end."""


class _Embedded(uvicorn.Server):
    """uvicorn's server, with its connections accepted by a :class:`~.webgate.Gate` and
    without its own signal handling."""

    gate_options: dict[str, Any]

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's startup for given sockets, a :class:`Gate` where it makes its server."""
        await self.lifespan.startup()
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            made: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return made

        assert config.ssl is not None  # noqa: S101 - WebServer always gives its shell
        gates: list[Any] = [
            Gate(sock, config.ssl, create_protocol, **self.gate_options) for sock in sockets or ()
        ]
        self.servers = gates
        self.started = True


class WebServer:
    """The web application on one port; :meth:`swap_tls` presents a new certificate."""

    def __init__(
        self,
        app: Any,
        tls: ssl.SSLContext,
        *,
        max_connections: int = MAX_CONNECTIONS,
        max_per_address: int | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self._current = tls
        self._app = app
        self.max_connections = max_connections
        self.max_per_address = max_per_address or max_connections
        self.handshake_timeout = handshake_timeout
        self._server: _Embedded | None = None
        self._task: asyncio.Task[None] | None = None
        self.port = 0

    @classmethod
    async def start(
        cls,
        app: Any,
        tls: ssl.SSLContext,
        *,
        host: str = "127.0.0.1",
        port: int = 8443,
        max_connections: int = MAX_CONNECTIONS,
        max_per_address: int | None = None,
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
    ) -> WebServer:
        server = cls(
            app,
            tls,
            max_connections=max_connections,
            max_per_address=max_per_address,
            handshake_timeout=handshake_timeout,
        )
        await server._start(host, port)
        return server

    @property
    def gate(self) -> Gate | None:
        """The gate accepting this server's connections (its counts, for monitoring)."""
        servers = getattr(self._server, "servers", [])
        return servers[0] if servers and isinstance(servers[0], Gate) else None

    def swap_tls(self, tls: ssl.SSLContext) -> None:
        self._current = tls

    def _shell(self) -> ssl.SSLContext:
        shell = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        shell.minimum_version = ssl.TLSVersion.TLSv1_2

        def pick(sslobj: ssl.SSLObject, _name: str | None, _ctx: ssl.SSLContext) -> None:
            sslobj.context = self._current

        shell.sni_callback = pick
        return shell

    async def _start(self, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY on accepted sockets only when their
        # protocol says TCP (with 0 each answer waited ~40 ms for a delayed ACK).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            server_header=False,
            proxy_headers=False,
            limit_concurrency=self.max_connections + 1,  # the gate bounds connections
            timeout_keep_alive=KEEP_ALIVE,
            h11_max_incomplete_event_size=MAX_HEAD,
            http="h11",
            ws="none",
        )
        config.load()
        config.ssl = self._shell()
        self._server = _Embedded(config)
        self._server.gate_options = {
            "max_connections": self.max_connections,
            "max_per_address": self.max_per_address,
            "handshake_timeout": self.handshake_timeout,
        }
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise OSError("the web server stopped while starting")
            await asyncio.sleep(0.01)
        log.info("HTTPS (web administration) listening on %s:%d", host, self.port)

    async def stop(self) -> None:
        """Stop listening, let open connections finish (a few seconds at most), then drop them.

        Idle kept-alive connections are closed at once; ones still open at the
        end are aborted, so no transport outlives the server half-closed."""
        if self._server is None or self._task is None:
            return
        server = self._server
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), GRACE)
        except TimeoutError:
            server.force_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, GRACE)
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()


async def phone_urls(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """What a phone finds at its secure URLs: a ``CiscoIPPhoneText`` naming the path.

    The application behind the URL does not matter to trust; the answer
    shows the phone reached it. Anything but GET or HEAD is refused, and any
    path outside ``/ccmcip/`` is not found.
    """
    if scope["type"] != "http":
        return
    root, path = str(scope.get("root_path", "")), str(scope.get("path", ""))
    if not path.startswith(root):  # older Starlette mounts strip the prefix
        path = root + path
    method = scope.get("method")
    status, body = (
        200,
        (
            '<?xml version="1.0" encoding="UTF-8"?>\n<CiscoIPPhoneText>'
            f"<Title>phonetrust</Title><Text>{escape(path)}</Text></CiscoIPPhoneText>\n"
        ).encode(),
    )
    if not path.startswith("/ccmcip/"):
        status, body = 404, b""
    elif method not in ("GET", "HEAD"):
        status, body = 405, b""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/xml"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
