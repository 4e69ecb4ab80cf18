"""``phonetrust web``: the web administration and the HTTP API on their own.

``phonetrust serve`` serves them too, on the node's HTTPS port with the
phones' services; this command is for a machine that only administers (or
a second port). HTTPS only, with the node's ``tomcat`` certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import click

from phonetrust.cli.app import data_options, locate, open_context, own_node
from phonetrust.cli.boundary import Failed
from phonetrust.service.context import Context

log = logging.getLogger("phonetrust.web")
RELOAD_SECONDS = 2.0
"""How often the tomcat certificate is looked at (a regeneration reaches new connections)."""


def web_app(ctx: Context, host: str, data_root: Path | None = None) -> Any:
    """The ASGI application of the web administration for node ``host``."""
    from phonetrust.web.app import create_app  # noqa: PLC0415 - loaded by the commands serving it
    from phonetrust.web.state import WebState  # noqa: PLC0415

    return create_app(WebState(ctx, host, data_root))


def announce(bind: str, port: int) -> None:
    shown = f"[{bind}]" if ":" in bind else bind
    click.echo(f"Web administration: https://{shown}:{port}/ (the node's tomcat certificate)")


@click.command("web")
@click.option("--node", help="The node whose tomcat certificate is presented [default: this one].")
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8443, show_default=True)
@data_options
def web(node: str | None, bind: str, port: int, data: Path | None, db: str | None) -> None:
    """Serve the web administration and the HTTP API (/api/v1) over HTTPS until Ctrl-C."""
    from phonetrust.net import tls  # noqa: PLC0415
    from phonetrust.net.webserver import WebServer  # noqa: PLC0415
    from phonetrust.policy.domain import CertName  # noqa: PLC0415
    from phonetrust.service.identity import own_identity  # noqa: PLC0415

    ctx = open_context(data, db)
    host = node or own_node(ctx, locate(data, db))
    from phonetrust.service.changes import reading  # noqa: PLC0415

    if host is None:
        from phonetrust.service.context import publisher  # noqa: PLC0415

        with reading(ctx) as uow:
            host = publisher(uow).host

    def presented() -> bytes | None:
        """The DER of the node's current tomcat certificate (a read; no key is loaded)."""
        with reading(ctx) as uow:
            own = uow.current_certificate(host, CertName.TOMCAT)
        return None if own is None else own.der

    def context() -> tuple[bytes, Any]:
        cert, key = own_identity(ctx, host, CertName.TOMCAT)
        from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

        return cert.public_bytes(Encoding.DER), tls.server_context(cert, key)

    async def main() -> None:
        der, tls_context = context()
        try:
            server = await WebServer.start(
                web_app(ctx, host, locate(data, db).root), tls_context, host=bind, port=port
            )
        except OSError as exc:
            raise Failed(f"cannot listen on {bind}:{port}: {exc.strerror or exc}") from None
        announce(bind, server.port)
        click.echo("Ctrl-C or SIGTERM stops.")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RELOAD_SECONDS)
                try:  # the key is loaded only when the certificate changed
                    if await asyncio.to_thread(presented) in (der, None):
                        continue
                    der, new_context = await asyncio.to_thread(context)
                except Exception as exc:  # noqa: BLE001 - keep serving the last good certificate
                    log.warning("the tomcat certificate could not be read again: %s", exc)
                    continue
                server.swap_tls(new_context)
        finally:
            await server.stop()

    asyncio.run(main())
    click.echo("Stopped.")
