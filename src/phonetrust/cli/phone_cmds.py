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
With ``--state DIR`` every phone's flash is kept in ``DIR/SEP<MAC>/``, so a
second run boots phones that remember the first.
The serving, routing and node choice are :mod:`phonetrust.sim.fleet`'s; this
module parses options and prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from phonetrust.cli.app import data_options, locate, open_context
from phonetrust.cli.boundary import Failed
from phonetrust.errors import PhonetrustError
from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.policy.models import MODELS, PhoneModel
from phonetrust.policy.models import model as phone_model
from phonetrust.sim.network import Endpoint, Routes, split_endpoint, tftp_address

if TYPE_CHECKING:  # the simulator is imported by the commands that run it: a fast --help
    from phonetrust.sim.fleet import PhoneOutcome
    from phonetrust.sim.phone import BootReport, Phone, UrlResult

DEFAULT_CONCURRENCY = 50

DEFAULT_MODEL = "8845"


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
@click.option(
    "--state",
    metavar="DIR",
    type=click.Path(file_okay=False, writable=True, path_type=Path),
    help="Keep every phone's flash (ITL, CTL, TVS cache, keys) in DIR/SEP<MAC>/, the layout "
    "of 'phone boot --state': loaded before each boot (none yet: a phone fresh from the "
    "factory) and saved as each phone finishes, locked or not, so the next run boots phones "
    "that remember this one. A phone whose directory cannot be loaded (damaged, another "
    "format or model) does not boot: it is counted as a simulator failure and its directory "
    "is left as it was.",
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
    state: Path | None,
    routes: Routes,
    timeout: float,
    data: Path | None,
    db: str | None,
) -> None:
    """Boot the cluster's devices as simulated phones, many at once, and summarise the outcome.

    Prints, grouped: the ITL and CTL (MD5) the phones hold, how many are
    locked and why, how many applied their configuration, TVS queries, and
    phones per second. Exit status 0 when no phone ends locked or fails to
    boot, else 1.
    """
    from phonetrust.sim import fleet as runner  # noqa: PLC0415 - see TYPE_CHECKING

    ctx = open_context(data, db)
    devices = runner.cluster_devices(ctx, models, count)
    if tftp is not None:
        boots = runner.boot_against(
            tftp,
            devices,
            routes,
            concurrency=concurrency,
            timeout=timeout,
            progress=_progress_bar,
            state_dir=state,
        )
    else:
        boots = runner.boot_in_process(
            ctx,
            devices,
            node=node,
            routes=routes,
            concurrency=concurrency,
            timeout=timeout,
            tftp_dir=locate(data, db).tftp_dir,
            progress=_progress_bar,
            announce=lambda text: click.echo(text, err=True),
            state_dir=state,
        )
    summary = asyncio.run(boots)
    for line in summary.lines():
        click.echo(line)
    if state is not None:
        click.echo(f"Flash kept in {state} (a directory per phone).")
    if summary.locked_phones or summary.failed_phones:
        raise click.exceptions.Exit(1)


@contextlib.contextmanager
def _progress_bar(total: int) -> Iterator[Callable[[PhoneOutcome], None]]:
    """A bar on stderr that moves by one phone: stdout keeps only the summary."""
    with click.progressbar(
        length=total,
        label=f"Booting {total:,} phones",
        file=sys.stderr,
        show_pos=True,
        update_min_steps=max(1, total // 200),
    ) as bar:

        def done(_: PhoneOutcome) -> None:
            bar.update(1)

        yield done
