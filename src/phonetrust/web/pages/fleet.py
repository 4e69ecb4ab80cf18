"""Fleet and Alerts: which lists the phones hold, who is locked, CAPF, alerts, service health.

RTMT's part. The lists each phone holds come straight from the TFTP
service's download records (the latest CTL and ITL of each device, by
SHA-1), compared with what each TFTP node serves now. Which phones are
locked takes the planner (every phone rebooted in memory against the
current files): that costs seconds on a large cluster, so the prediction is
kept until the cluster's plan version, its devices or its downloads change.
Service health connects to every node's ports with a short timeout and is
fetched after the page (htmx), or on request without JavaScript, so the
page itself never waits for a node that does not answer.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from phonetrust.net.ports import STANDARD_PORTS
from phonetrust.net.tls import client_context
from phonetrust.planner.predict import Outcome, PhoneVerdict, Prediction
from phonetrust.policy.domain import CapfOperation, CertName, Node, SecurityMode, Service
from phonetrust.service import alerts as alert_service
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.service.fileplan import CTL_NAME, ITL_NAME
from phonetrust.store.repository import Alert, UnitOfWork
from phonetrust.web.auth import PageReader
from phonetrust.web.pages.devices_find import PhoneIndex, index_of
from phonetrust.web.render import page

router = APIRouter(include_in_schema=False)
log = logging.getLogger("phonetrust.web")

EXPIRY_ALERT = timedelta(days=60)
HEALTH_TIMEOUT = 0.4
"""Seconds each port may take to answer (all are asked at once)."""
SHOWN = 10
"""Locked and unknown phones listed on the page (the Phones page finds the rest)."""


@dataclass(frozen=True, slots=True)
class HeldList:
    """Phones whose last download of ``filename`` had this SHA-1."""

    filename: str
    sha1: str
    phones: int
    current_on: tuple[str, ...]
    """TFTP nodes serving exactly this list now."""


@dataclass(frozen=True, slots=True)
class OpenAlert:
    alert: Alert
    action: str
    """What to do, as the CUCM command that clears it."""


@dataclass(frozen=True, slots=True)
class Fleet:
    mode: SecurityMode
    nodes: tuple[Node, ...]
    devices: int
    seen: int
    lists: tuple[HeldList, ...]
    locked: tuple[PhoneVerdict, ...]
    unknown: tuple[PhoneVerdict, ...]
    capf_pending: int
    capf_locked: int
    lsc: int
    alerts: tuple[OpenAlert, ...]

    def held(self, filename: str) -> list[HeldList]:
        return [h for h in self.lists if h.filename == filename]

    def counts(self) -> dict[str, object]:
        """The fleet as ``GET /api/v1/fleet`` answers it."""
        return {
            "security_mode": self.mode.name.lower(),
            "nodes": len(self.nodes),
            "devices": self.devices,
            "seen": self.seen,
            "locked": len(self.locked),
            "unknown": len(self.unknown),
            "lists": [
                {
                    "file": h.filename,
                    "sha1": h.sha1,
                    "phones": h.phones,
                    "current_on": list(h.current_on),
                }
                for h in self.lists
            ],
            "capf": {
                "pending": self.capf_pending,
                "locked": self.capf_locked,
                "lsc_installed": self.lsc,
            },
            "alerts": len(self.alerts),
        }


# -- the prediction, kept while nothing it depends on changes ------------------------------

STALE_FOR = 60.0
"""Seconds a prediction may be shown while phones' downloads have moved on since (it is
made again in the background): on a cluster whose phones keep booting the page stays fast."""


@dataclass
class _Kept:
    cluster: Hashable
    """What the prediction was made of, phones' downloads aside (plan, devices, day)."""
    downloads: Hashable
    prediction: Prediction
    made: float
    refreshing: bool = False


_kept: dict[int, _Kept] = {}
_kept_guard = threading.Lock()


def _prediction(ctx: Context, cluster: Hashable, downloads: Hashable) -> Prediction:
    """Every phone rebooted in memory (``planner.predict``), kept until the cluster changes.

    When only downloads moved (a phone booted), the kept prediction is shown
    for up to STALE_FOR seconds while a new one is made beside it."""
    with _kept_guard:
        found = _kept.get(id(ctx.repo))
        if found is not None and found.cluster == cluster:
            if found.downloads == downloads:
                return found.prediction
            if time.monotonic() - found.made < STALE_FOR:
                if not found.refreshing:
                    found.refreshing = True
                    threading.Thread(
                        target=_remake_aside, args=(ctx, cluster, downloads), daemon=True
                    ).start()
                return found.prediction
    return _remake(ctx, cluster, downloads)


def _remake(ctx: Context, cluster: Hashable, downloads: Hashable) -> Prediction:
    from phonetrust.planner.predict import reboot_all  # noqa: PLC0415 - loads the simulator

    with _computing:  # one computation at a time: a second request waits and reuses it
        found = _kept.get(id(ctx.repo))
        if found is not None and (found.cluster, found.downloads) == (cluster, downloads):
            return found.prediction
        with reading(ctx) as uow:
            _, prediction = reboot_all(uow, ctx.clock)
        with _kept_guard:
            _kept[id(ctx.repo)] = _Kept(cluster, downloads, prediction, time.monotonic())
        return prediction


_computing = threading.Lock()


def _remake_aside(ctx: Context, cluster: Hashable, downloads: Hashable) -> None:
    """:func:`_remake` in a thread of its own: a failure is logged, and the next request
    tries again (the kept prediction no longer counts as being refreshed)."""
    try:
        _remake(ctx, cluster, downloads)
    except Exception:
        log.exception("the fleet's prediction could not be made again")
        with _kept_guard:
            found = _kept.get(id(ctx.repo))
            if found is not None:
                found.refreshing = False


def fleet(ctx: Context, index: PhoneIndex) -> Fleet:
    """The whole fleet; what costs (the device list, the prediction) is kept until it changes.

    The devices are the Phones page's kept list (``index``), read again when
    the plan version or the newest audit entry moves; which lists phones hold
    is counted by the database; the prediction is made again only when the
    device list, any download or the day changes.
    """
    snapshot = index.snapshot(ctx)
    devices = snapshot.devices
    with reading(ctx) as uow:
        state = uow.get_cluster()
        nodes = tuple(uow.list_nodes())
        held = uow.count_downloads((ITL_NAME, CTL_NAME))
        mark = uow.downloads_mark()
        serving: dict[tuple[str, str], list[str]] = {}
        for n in nodes:
            if n.runs(Service.TFTP):
                for name in (ITL_NAME, CTL_NAME):
                    data = uow.published_file(n.host, name)
                    if data is not None:
                        digest = hashlib.sha1(data).hexdigest()
                        serving.setdefault((name, digest), []).append(n.host)
        open_alerts = tuple(_alerts(ctx, uow, nodes))
    cluster = (snapshot.marker, snapshot.generation, len(devices), ctx.now().date())
    prediction = _prediction(ctx, cluster, mark)
    lists = tuple(
        HeldList(name, sha1, n, tuple(serving.get((name, sha1), ())))
        for (name, sha1), n in sorted(held.items(), key=lambda kv: (kv[0][0] != ITL_NAME, -kv[1]))
    )
    unknown = tuple(prediction.of(Outcome.UNKNOWN))
    return Fleet(
        mode=state.security_mode if state else SecurityMode.NON_SECURE,
        nodes=nodes,
        devices=len(devices),
        seen=len(devices) - len(unknown),
        lists=lists,
        locked=tuple(prediction.locked),
        unknown=unknown,
        capf_pending=sum(d.capf_operation is not CapfOperation.NONE for d in devices),
        capf_locked=sum(d.capf_locked_at is not None for d in devices),
        lsc=sum(d.lsc is not None for d in devices),
        alerts=open_alerts,
    )


def open_alerts(ctx: Context) -> list[OpenAlert]:
    """The open alerts alone, without the fleet's prediction."""
    with reading(ctx) as uow:
        return _alerts(ctx, uow, tuple(uow.list_nodes()))


def _alerts(ctx: Context, uow: UnitOfWork, nodes: tuple[Node, ...]) -> list[OpenAlert]:
    """Open alerts, with the ones the cluster would raise today (a GET raises nothing)."""
    now = ctx.now()
    found = {a.kind: a for a in uow.list_alerts(open_only=True)}
    state = uow.get_cluster()
    if (
        alert_service.RECOVERY_BACKUP not in found
        and state is not None
        and alert_service.recovery_pending(state)
    ):
        found[alert_service.RECOVERY_BACKUP] = Alert(
            alert_service.RECOVERY_BACKUP, alert_service.RECOVERY_MESSAGE, now
        )
    publisher = next((n.host for n in nodes if n.publisher), "the publisher")
    out = [OpenAlert(a, _action(a.kind, publisher)) for a in found.values()]
    for n in nodes:
        for name in CertName:
            own = uow.current_certificate(n.host, name)
            if own is None or name is CertName.IPSEC:
                continue
            after = x509.load_der_x509_certificate(own.der).not_valid_after_utc
            kind = f"CertificateExpiry {n.host} {name.value}"
            if kind in found or after - now > EXPIRY_ALERT:
                continue
            said = "expired" if after <= now else "expires"
            message = f"{n.host} {name.value}.pem {said} {after:%Y-%m-%d}"
            action = (
                f"On {n.host}: `set cert regen {name.value}` (plan it first); one certificate "
                "at a time, never CallManager and TVS of one node together, then update the "
                "CTL in mixed mode"
            )
            out.append(OpenAlert(Alert(kind, message, now), action))
    return out


def _action(kind: str, publisher: str) -> str:
    if kind == alert_service.RECOVERY_BACKUP:
        return (
            f"On {publisher}: `file get tftp ITLRecovery.p12` to an SFTP server, and keep it "
            "safe: it is the only way back for phones that no longer trust the cluster"
        )
    return "See the message; `phonetrust diagnose` checks the cluster"


# -- service health -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Health:
    node: str
    service: str
    address: str
    answers: bool
    said: str


def _ask(node: str, service: str, address: str, expect: bytes | None) -> Health:
    """One port, asked in a blocking socket closed before this returns: TFTP must answer a
    read request for the ITL (data or an error), the others complete a TLS handshake (a
    bare TCP accept, which a firewall or proxy may give, is not a service)."""
    port = STANDARD_PORTS[service]
    where = f"{address}:{port}"
    try:
        if service == "tftp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.settimeout(HEALTH_TIMEOUT)
                udp.sendto(b"\x00\x01" + ITL_NAME.encode() + b"\x00octet\x00", (address, port))
                udp.recvfrom(600)
        else:
            with (
                socket.create_connection((address, port), timeout=HEALTH_TIMEOUT) as raw,
                client_context().wrap_socket(raw) as tls,
            ):
                presented = tls.getpeercert(binary_form=True)
            if presented != expect:
                said = "answers with a certificate other than the node's current one"
                return Health(node, service, where, False, said)
    except (OSError, ssl.SSLError) as exc:
        return Health(node, service, where, False, f"not answering ({type(exc).__name__})")
    return Health(node, service, where, True, "answers")


def health(ctx: Context) -> list[Health]:
    """Every node's TFTP, TVS, CAPF and HTTPS ports, asked at once, each briefly; a TLS
    service must present the node's current certificate, as a phone checks it."""
    wanted = []
    with reading(ctx) as uow:
        for n in uow.list_nodes():
            for service, runs, name in (
                ("tftp", n.runs(Service.TFTP), None),
                ("tvs", n.runs(Service.TVS), CertName.TVS),
                ("capf", n.runs(Service.CAPF), CertName.CAPF),
                ("https", True, CertName.TOMCAT),
            ):
                own = None if name is None else uow.current_certificate(n.host, name)
                if runs:
                    expect = None if own is None else own.der
                    wanted.append((n.host, service, str(n.ip), expect))
    if not wanted:
        return []
    with ThreadPoolExecutor(max_workers=min(32, len(wanted))) as pool:
        return list(pool.map(lambda w: _ask(*w), wanted))


# -- pages ----------------------------------------------------------------------------------


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(request: Request, caller: PageReader) -> Response:
    found = fleet(caller.ctx, index_of(request.app.state))
    checked = health(caller.ctx) if request.query_params.get("health") else None
    return page(
        request,
        caller,
        "fleet.html",
        title="Fleet and Alerts",
        fleet=found,
        chart=chart(found),
        shown=SHOWN,
        health=checked,
        ITL_NAME=ITL_NAME,
        CTL_NAME=CTL_NAME,
    )


@router.get("/fleet/health", response_class=HTMLResponse)
def fleet_health(request: Request, caller: PageReader) -> Response:
    """The health table alone, for htmx to put in the page once it has loaded."""
    return page(request, caller, "fleet_health.html", health=health(caller.ctx))


# -- the chart ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Bar:
    y: int
    width: int
    label: str
    count: str
    current: bool


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    label_width: int
    bar_height: int


def chart(found: Fleet) -> Chart:
    """Horizontal bars, one per list held, drawn on the server (no script, no styles)."""
    label_width, span, row, bar = 330, 420, 26, 18
    most = max((h.phones for h in found.lists), default=1)
    bars = []
    for i, h in enumerate(found.lists):
        kind = "ITL" if h.filename == ITL_NAME else "CTL"
        where = f"current on {', '.join(h.current_on)}" if h.current_on else "not served now"
        bars.append(
            Bar(
                y=i * row,
                width=max(2, round(span * h.phones / most)),
                label=f"{kind} {h.sha1[:10]} ({where})",
                count=f"{h.phones:,}",
                current=bool(h.current_on),
            )
        )
    return Chart(label_width + span + 70, max(row, row * len(bars)), tuple(bars), label_width, bar)
