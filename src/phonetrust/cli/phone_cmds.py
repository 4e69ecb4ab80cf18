"""``phonetrust phone boot`` and ``phone fleet``: simulated phones against a TFTP server.

``boot`` is one phone, against phonetrust's services or a real CUCM's, with
its console log, status messages and the verdict on every file and server:
the phone's side of a trust problem, readable without a phone on the desk.
With ``--state DIR`` its flash (lists, TVS cache, keys) is kept between
runs, so the same phone can be booted, left, and booted again after an
administrator's change. Exit status: 0 when the phone ends unlocked, 1 when
it is locked (a list or its configuration refused) or cannot boot at all
(TFTP server unreachable), 2 for a usage error.

``fleet`` boots the cluster's devices many at a time (a boot storm) and
prints what they came to, grouped: which ITL and CTL they hold, how many are
locked and why. Without ``--tftp`` it serves the cluster's nodes itself, in
this process on free loopback ports, exactly as ``phonetrust serve`` would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phonetrust.cli.app import data_options, locate, open_context
from phonetrust.cli.boundary import Failed
from phonetrust.errors import PhonetrustError
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.policy.domain import Device, Node, Service
from phonetrust.policy.models import MODELS, PhoneModel
from phonetrust.policy.models import model as phone_model
from phonetrust.service import inventory
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.sim.network import Endpoint, Routes, route_services, split_endpoint

if TYPE_CHECKING:  # the simulator is imported by the commands that run it: a fast --help
    from phonetrust.sim.fleet import FleetSummary, PhoneOutcome
    from phonetrust.sim.phone import BootReport, Phone, UrlResult

DEFAULT_CONCURRENCY = 50

DEFAULT_MODEL = "8845"
START_TIMEOUT = 300.0
"""Seconds the in-process services may take to load (a large cluster's files)."""


@click.group("phone")
def phone_group() -> None:
    """Simulated phones: boot one against any TFTP server, or the cluster's devices at once."""


# -- option parsing -------------------------------------------------------------------


def _known_models() -> str:
    return ", ".join(MODELS)


def known_model(name: str) -> PhoneModel:
    """A model of the model table (``7975``, ``CP-7975``), else :class:`click.BadParameter`."""
    key = name.strip().upper().removeprefix("CP-")
    for known in MODELS:
        if known.upper() == key:
            return phone_model(known)
    raise click.BadParameter(f"unknown model {name!r}; known models: {_known_models()}")


def _mac(_: click.Context, __: click.Parameter, value: str) -> str:
    from phonetrust.sim.phone import normalise_mac  # noqa: PLC0415 - see TYPE_CHECKING

    try:
        return normalise_mac(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _model(_: click.Context, __: click.Parameter, value: str | None) -> PhoneModel | None:
    return None if value is None else known_model(value)


def _models(_: click.Context, __: click.Parameter, value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = [w for w in (w.strip() for w in value.split(",")) if w]
    if not names:
        raise click.BadParameter("name at least one model, e.g. 7975,8845")
    return frozenset(known_model(n).name for n in names)


def _endpoint(_: click.Context, __: click.Parameter, value: str | None) -> Endpoint | None:
    if value is None:
        return None
    try:
        return split_endpoint(value, STANDARD_PORTS["tftp"])
    except PhonetrustError as exc:
        raise click.BadParameter(f"{exc} (expected HOST[:PORT])") from None


def _routes(_: click.Context, __: click.Parameter, value: tuple[str, ...]) -> Routes:
    try:
        return Routes.parse(value)
    except PhonetrustError as exc:
        raise click.BadParameter(str(exc)) from None


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
        raise Failed(
            f"TFTP server {host}: cannot resolve the name: {exc.strerror or exc}"
        ) from None
    return str(found[0][4][0])


timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds one TFTP transfer or TLS exchange may take.",
)
route_option = click.option(
    "--route",
    "routes",
    multiple=True,
    metavar="NAME[:PORT]=HOST[:PORT]",
    callback=_routes,
    help="Reach a server the cluster's files name elsewhere, e.g. 10.0.0.10:2445=127.0.0.1:12445 "
    "(no port on the left: every port). Repeatable.",
)


# -- phone boot -----------------------------------------------------------------------


@phone_group.command("boot")
@click.option(
    "--tftp",
    required=True,
    metavar="HOST[:PORT]",
    callback=_endpoint,
    help="The TFTP server (DHCP option 150) [port: 69].",
)
@click.option(
    "--mac", required=True, callback=_mac, help="The phone's MAC: 001122334455, SEP..., 00:11:..."
)
@click.option(
    "--model",
    callback=_model,
    help=f"Phone model [default: the one in --state, else {DEFAULT_MODEL}].",
)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    help="The phone's flash: loaded before the boot (missing or empty: a phone fresh from "
    "the factory) and saved after it.",
)
@click.option(
    "--lsc",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Give the phone this LSC (certificate and private key, PEM).",
)
@click.option(
    "--mic",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Give the phone this MIC, its factory certificate (certificate and private key, PEM): "
    "CAPF's 'By Existing Certificate' modes and encrypted configs without an LSC use it.",
)
@route_option
@click.option("--auth-string", help="What the user keys in for a CAPF operation that asks.")
@click.option(
    "--url",
    help="After the boot, open this URL, or a service of the configuration by name "
    "(directory, services, ...: its secure URL when there is one).",
)
@timeout_option
def boot(
    tftp: Endpoint,
    mac: str,
    model: PhoneModel | None,
    state: Path | None,
    lsc: Path | None,
    mic: Path | None,
    routes: Routes,
    auth_string: str | None,
    url: str | None,
    timeout: float,
) -> None:
    """Boot one simulated phone and show its console log, status messages and verdicts.

    Works against phonetrust's `serve` or a real CUCM. Exit status 0 when the
    phone ends unlocked, 1 when it is locked or cannot reach its TFTP server.
    """
    phone = _make_phone(tftp, mac, model, state, (lsc, mic), routes, auth_string, timeout)
    report, opened = asyncio.run(_boot(phone, url, timeout))
    if state is not None:
        from phonetrust.sim import storage  # noqa: PLC0415 - see TYPE_CHECKING

        storage.save(state, phone.state, phone.keys)
    click.echo(f"Phone {phone.name}, model {phone.model.name}, TFTP {phone.tftp[0]}:{tftp[1]}")
    click.echo("Console log:")
    click.echo(phone.log.console_text(), nl=False)
    click.echo("Status messages:")
    click.echo(phone.log.status_text(), nl=False)
    click.echo("Verdicts:")
    for step in report.steps:
        detail = f" ({step.detail})" if step.detail else ""
        click.echo(f"  {step.what}: {step.outcome}{detail}")
    click.echo(f"TVS queries: {phone.tvs_queries} in all ({report.tvs_queries} during the boot)")
    if url is not None:
        click.echo(_url_line(url, opened))
    if state is not None:
        click.echo(f"State saved in {state}.")
    click.echo(report.summary())
    if report.locked:
        raise click.exceptions.Exit(1)


def _make_phone(
    tftp: Endpoint,
    mac: str,
    model: PhoneModel | None,
    state_dir: Path | None,
    identities: tuple[Path | None, Path | None],
    routes: Routes,
    auth_string: str | None,
    timeout: float,
) -> Phone:
    from phonetrust.cli.files import read_bytes  # noqa: PLC0415 - see TYPE_CHECKING
    from phonetrust.pki.pem import load_certificate_and_key  # noqa: PLC0415 - see TYPE_CHECKING
    from phonetrust.sim import storage  # noqa: PLC0415
    from phonetrust.sim.phone import Phone  # noqa: PLC0415

    keys = storage.DeviceKeys()
    trust = None
    if state_dir is not None and (state_dir / storage.STATE_FILE).exists():
        trust, keys = storage.load(state_dir)
        if model is not None and model.name != trust.model.name:
            raise click.BadParameter(
                f"the phone in {state_dir} is model {trust.model.name}, not {model.name}",
                ctx=click.get_current_context(),
                param_hint="'--model'",
            )
        model = trust.model
    lsc, mic = identities
    for path, which in ((lsc, "lsc"), (mic, "mic")):
        if path is None:
            continue
        try:
            certificate, key = load_certificate_and_key(read_bytes(path), source=str(path))
        except PhonetrustError as exc:
            raise click.BadParameter(
                str(exc), ctx=click.get_current_context(), param_hint=f"'--{which}'"
            ) from None
        identity = storage.DeviceIdentity(certificate, key)
        if which == "lsc":
            keys = replace(keys, lsc=identity)
            trust = None if trust is None else replace(trust, has_lsc=True)
        else:
            keys = replace(keys, mic=identity)
            trust = None if trust is None else replace(trust, has_mic=True)
    address = tftp_address(tftp[0], tftp[1], routes)
    return Phone(
        mac,
        model or phone_model(DEFAULT_MODEL),
        (address, tftp[1]),
        routes=routes,
        keys=keys,
        state=trust,
        auth_string=auth_string,
        timeout=timeout,
        tvs_timeout=timeout,
    )


async def _boot(phone: Phone, url: str | None, timeout: float) -> tuple[BootReport, UrlResult]:
    from phonetrust.sim.phone import UrlResult  # noqa: PLC0415 - see TYPE_CHECKING

    await _reachable(phone, timeout)
    report = await phone.boot()
    opened = UrlResult("", False)
    if url is not None:
        target = url if "://" in url else phone.service_url(url)
        if target:
            opened = await phone.open_url(target)
        else:
            opened = UrlResult("", False, via=f"the configuration has no {url} URL")
    return report, opened


async def _reachable(phone: Phone, timeout: float) -> None:
    """Ask for the phone's first file once: no answer at all means no boot, said in one line.

    Without this a phone whose server is down would wait out every file of
    its boot in turn (some 30 s) before saying nothing useful.
    """
    from phonetrust.net import tftp_remote  # noqa: PLC0415 - only when a phone boots
    from phonetrust.protocols.tftp.packets import PeerError, TftpError  # noqa: PLC0415

    real = phone.routes.resolve(*phone.tftp)
    try:
        await tftp_remote.fetch(
            real, f"CTLSEP{phone.mac}.tlv", timeout=min(timeout, 2.0), rto=0.5, retries=3
        )
    except PeerError:
        return  # "File not found" is an answer: the server is there
    except (TftpError, OSError) as exc:
        logical = f"{phone.tftp[0]}:{phone.tftp[1]}"
        where = logical if real == phone.tftp else f"{logical} (routed to {real[0]}:{real[1]})"
        raise Failed(f"TFTP server {where} is unreachable: {exc}") from None


def _url_line(url: str, opened: UrlResult) -> str:
    if not opened.url:
        return f"URL {url}: not opened: {opened.via}"
    if opened.ok:
        status = f"HTTP {opened.http_status}" if opened.http_status else "opened"
        how = f"; {opened.via}" if opened.via else ""
        tvs = "; TVS asked" if opened.tvs_asked else ""
        return f"URL {opened.url}: {status}{how}{tvs}"
    return f"URL {opened.url}: {opened.display or 'failed'} ({opened.via})"


# -- phone fleet ----------------------------------------------------------------------


@phone_group.command("fleet")
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="How many phones [default: every device that matches].",
)
@click.option(
    "--models",
    callback=_models,
    metavar="MODEL,...",
    help="Only devices of these models, e.g. 7975,8845,7960.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_CONCURRENCY,
    show_default=True,
    help="Boots in flight at once.",
)
@click.option(
    "--tftp",
    metavar="HOST[:PORT]",
    callback=_endpoint,
    help="Use this TFTP server [default: serve the cluster's nodes here, on free ports].",
)
@click.option(
    "--node",
    help="Without --tftp: the node whose TFTP the phones use [default: the publisher].",
)
@route_option
@timeout_option
@data_options
def fleet(
    count: int | None,
    models: frozenset[str] | None,
    concurrency: int,
    tftp: Endpoint | None,
    node: str | None,
    routes: Routes,
    timeout: float,
    data: Path | None,
    db: str | None,
) -> None:
    """Boot the cluster's devices as simulated phones, many at once, and summarise the outcome.

    Prints, grouped: the ITL and CTL (MD5) the phones hold, how many are
    locked and why, how many applied their configuration, TVS queries, and
    phones per second. Exit status 0 when no phone ends locked, else 1.
    """
    ctx = open_context(data, db)
    devices = _devices(ctx, models, count)
    if tftp is not None:
        address = tftp_address(tftp[0], tftp[1], routes)
        phones = _phones(devices, (address, tftp[1]), routes, timeout)
        summary = asyncio.run(_run(phones, len(devices), concurrency))
    else:
        summary = asyncio.run(
            _in_process(ctx, devices, node, routes, concurrency, timeout, locate(data, db).tftp_dir)
        )
    for line in summary.lines():
        click.echo(line)
    if summary.locked_phones or summary.failed_phones:
        raise click.exceptions.Exit(1)


def _devices(ctx: Context, models: frozenset[str] | None, count: int | None) -> list[Device]:
    devices = inventory.list_devices(ctx)
    if models is not None:
        devices = [d for d in devices if phone_model(d.model).name in models]
    which = "" if models is None else " of models " + ", ".join(sorted(models))
    if not devices:
        raise Failed(f"the cluster has no devices{which}")
    if count is not None:
        if count > len(devices):
            raise Failed(f"--count {count}: the cluster has only {len(devices)} devices{which}")
        devices = devices[:count]
    return devices


def _phones(
    devices: list[Device], tftp: Endpoint, routes: Routes, timeout: float
) -> Iterator[Phone]:
    """Made one at a time as the runner takes them: a fleet holds only the phones in flight."""
    from phonetrust.sim.phone import Phone  # noqa: PLC0415 - see TYPE_CHECKING

    for device in devices:
        yield Phone(
            device.name,
            phone_model(device.model),
            tftp,
            routes=routes,
            timeout=timeout,
            tvs_timeout=timeout,
        )


async def _run(phones: Iterator[Phone], total: int, concurrency: int) -> FleetSummary:
    from phonetrust.sim.fleet import run_fleet  # noqa: PLC0415 - see TYPE_CHECKING

    with click.progressbar(
        length=total,
        label=f"Booting {total:,} phones",
        file=sys.stderr,
        show_pos=True,
        update_min_steps=max(1, total // 200),
    ) as bar:

        def progress(_: PhoneOutcome) -> None:
            bar.update(1)

        return await run_fleet(phones, concurrency=concurrency, progress=progress)


async def _in_process(
    ctx: Context,
    devices: list[Device],
    tftp_node: str | None,
    extra_routes: Routes,
    concurrency: int,
    timeout: float,
    tftp_dir: Path,
) -> FleetSummary:
    """Serve every node of the cluster here on free ports, route the cluster's addresses to them."""
    from phonetrust.net.serve import ServeOptions, serving  # noqa: PLC0415 - servers

    def nodes() -> list[Node]:
        with reading(ctx) as uow:
            return uow.list_nodes()

    # The servers' periodic alerts (back up ITLRecovery, ...) are not the fleet's business.
    logging.getLogger("phonetrust.serve").setLevel(logging.ERROR)
    cluster_nodes = await asyncio.to_thread(nodes)
    phones_use = _tftp_node(cluster_nodes, tftp_node)
    served = [n for n in cluster_nodes if n.services & {Service.TFTP, Service.TVS, Service.CAPF}]
    routes = extra_routes
    loop = asyncio.get_running_loop()
    click.echo(f"Starting the services of {len(served)} node(s)...", err=True)
    async with contextlib.AsyncExitStack() as servers:
        for each in served:
            options = ServeOptions(
                node=each.host,
                tftp_port=0,
                tvs_port=0,
                capf_port=0,
                https_port=0,
                tftp_dir=tftp_dir,
            )
            running = await servers.enter_async_context(
                serving(ctx, options, start_timeout=START_TIMEOUT)
            )
            routes = route_services(routes, (each.host, str(each.ip)), running.ports)
        interrupted = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):  # Ctrl-C stops the fleet, then the servers
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, interrupted.set)
        try:
            tftp = (str(phones_use.ip), STANDARD_PORTS["tftp"])
            phones = _phones(devices, tftp, routes, timeout)
            fleet_task = asyncio.create_task(_run(phones, len(devices), concurrency))
            waiter = asyncio.create_task(interrupted.wait())
            await asyncio.wait({fleet_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if not fleet_task.done():
                fleet_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await fleet_task
                raise Failed("interrupted")
            return fleet_task.result()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)


def _tftp_node(cluster_nodes: list[Node], wanted: str | None) -> Node:
    tftp_nodes = [n for n in cluster_nodes if n.runs(Service.TFTP)]
    if wanted is not None:
        for n in cluster_nodes:
            if n.host.lower() == wanted.lower():
                if not n.runs(Service.TFTP):
                    raise Failed(f"--node {n.host}: that node does not run TFTP")
                return n
        known = ", ".join(n.host for n in cluster_nodes) or "none"
        raise Failed(f"--node {wanted}: unknown node (nodes: {known})")
    for n in tftp_nodes:
        if n.publisher:
            return n
    if not tftp_nodes:
        raise Failed("no node of the cluster runs TFTP")
    return tftp_nodes[0]
