"""``phonetrust serve``: run a node's TFTP, TVS and CAPF services."""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phonetrust.cli.app import data_options, locate, open_context, own_node
from phonetrust.cli.boundary import Failed
from phonetrust.cli.web_cmd import announce, web_app
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.policy.domain import SecurityMode
from phonetrust.service import security
from phonetrust.service.context import Context

if TYPE_CHECKING:
    from phonetrust.net.serve import Running


@click.command("serve")
@click.option(
    "--node",
    help="The node whose services run here [default: this machine's node, else the publisher].",
)
@click.option("--bind", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--tftp-port", type=click.IntRange(0, 65535), help="[default: 69, else 6969]")
@click.option("--tvs-port", type=click.IntRange(0, 65535), help="[default: 2445]")
@click.option("--capf-port", type=click.IntRange(0, 65535), help="[default: 3804]")
@click.option("--https-port", type=click.IntRange(0, 65535), help="[default: 8443]")
@click.option(
    "--no-https", is_flag=True, help="Do not run HTTPS (the web administration and phone URLs)."
)
@click.option("--legacy-tls", is_flag=True, help="Allow TLS 1.0 and old ciphers for old phones.")
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
@data_options
def serve(
    node: str | None,
    bind: str,
    tftp_port: int | None,
    tvs_port: int | None,
    capf_port: int | None,
    https_port: int | None,
    no_https: bool,
    legacy_tls: bool,
    verbose: bool,
    data: Path | None,
    db: str | None,
) -> None:
    """Serve a node's files and trust services until SIGTERM or Ctrl-C.

    Changes made meanwhile (certificates, devices, mixed mode, ITL reset)
    are picked up within a second, without a restart.
    """
    # Imported here: the servers' modules are only needed by this command.
    from phonetrust.net.serve import PortInUse, ServeOptions, run  # noqa: PLC0415

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("phonetrust.serve").setLevel(logging.INFO)
    ctx = open_context(data, db)
    options = ServeOptions(
        node or own_node(ctx, locate(data, db)),
        bind,
        tftp_port,
        tvs_port,
        capf_port,
        https_port,
        not no_https,
        legacy_tls=legacy_tls,
        tftp_dir=locate(data, db).tftp_dir,
        web=partial(web_app, data_root=locate(data, db).root),
    )
    try:
        order = phone_requests(ctx)
        asyncio.run(run(ctx, options, ready=lambda running: _announce(running, bind, order)))
    except PortInUse as exc:
        raise Failed(f"{exc}; stop it or choose --{exc.service}-port") from None
    click.echo("Stopped.")


def phone_requests(ctx: Context) -> str:
    """The files a booting phone asks this cluster for, in order, as the banner says.

    In mixed mode a phone asks for its CTL first (A3, D1), so an administrator
    watching the TFTP trace expects CTLSEP<MAC>.tlv before anything else.
    """
    mixed = security.security_mode(ctx) is SecurityMode.MIXED
    first = "CTLSEP<MAC>.tlv, then ITLSEP<MAC>.tlv" if mixed else "ITLSEP<MAC>.tlv"
    return f"phones ask for {first}, then SEP<MAC>.cnf.xml.sgn."


def _announce(running: Running, bind: str, requests: str) -> None:
    services = ", ".join(f"{name.upper()} on port {port}" for name, port in running.ports.items())
    click.echo(f"Serving node {running.node.host}: {services or 'no services'}.")
    if "tftp" in running.ports:
        port = running.ports["tftp"]
        click.echo(
            f"Point a phone's TFTP server (DHCP option 150) at this host, port {port}; {requests}"
        )
        routes = " ".join(
            f"--route {running.node.ip}:{STANDARD_PORTS[name]}={bind}:{p}"
            for name, p in running.ports.items()
            if name != "tftp"
        )
        click.echo(
            f"Or boot a simulated phone: phonetrust phone boot --tftp {bind}:{port} "
            f"--mac <a device's MAC> {routes}"
        )
    if "https" in running.ports:
        announce(bind, running.ports["https"])
    click.echo("Ctrl-C or SIGTERM stops.")
