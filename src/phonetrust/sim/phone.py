"""A simulated phone on the network: its boot sequence over real sockets (A1, A7, A8, F1).

The decisions are the pure functions of :mod:`phonetrust.policy.phone_trust` and
:mod:`phonetrust.policy.phone_configs`;
this module does the talking a phone does around them, in the order a phone
does it, and records what it saw::

    boot:
      CTLSEP<MAC>.tlv, else CTLFile.tlv  -> on_ctl     (TVS when pending)
      ITLSEP<MAC>.tlv, else ITLFile.tlv  -> on_itl     (Security By Default models)
      a list in force: SEP<MAC>.cnf.xml.sgn -> on_signed_config;
          the stub of an encrypted config -> SEP<MAC>.cnf.xml.enc.sgn -> on_encrypted_config
      no list:        SEP<MAC>.cnf.xml     -> on_plain_config
      the configuration applied: TVS servers, security mode, settings, URLs
      a pending CAPF operation (capfAuthMode) -> enrol (F1), then boot again
    TVS, when a decision is pending: each server of the configuration in order
      (at most three, A8); TLS; the server's certificate must match a TVS
      record of the ITL (check_tvs_server) else the next server; ask; resume.
    open_url: TLS to the URL's host; check_https_server (TVS when needed).

Every file, every server and every decision leaves console lines and status
messages in :attr:`Phone.log`, worded as a real phone words them. A reboot
is another :meth:`Phone.boot` on the same object: the installed lists, the
TVS cache and the keys stay, as in a phone's flash (and :mod:`.storage`
saves them across processes).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.clock import Clock, SystemClock
from phonetrust.errors import RemoteError
from phonetrust.formats.cnfxml_read import ParsedConfig
from phonetrust.net import capf_client
from phonetrust.net.tls import client_context
from phonetrust.policy import phone_configs as configs
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.models import PhoneModel
from phonetrust.policy.phone_console import ConsoleLine, secd, secd_error, tftp_client
from phonetrust.policy.phone_decisions import HOST_NOT_FOUND, Reason, Verdict
from phonetrust.policy.phone_trust import Decision, PhoneTrust
from phonetrust.protocols.capf.client import Credential
from phonetrust.protocols.capf.messages import CapfServerUntrusted
from phonetrust.protocols.tftp.packets import ErrorCode, PeerError, TftpError
from phonetrust.protocols.tvs.messages import Answer, TvsServerUntrusted
from phonetrust.sim.console import (
    PhoneLog,
    tftp_finished,
    tftp_requesting,
    tl_request_file,
    tvs_connecting,
)
from phonetrust.sim.network import Endpoint, Routes
from phonetrust.sim.storage import DeviceIdentity, DeviceKeys
from phonetrust.sim.transport import Network, SocketNetwork

MAX_TVS_SERVERS = 3
"""A phone asks at most the three TVS servers of its CallManager group (A8)."""
TFTP_PORT = 69
BLKSIZE = 1428
"""The block size phones that support RFC 2348 ask for (one Ethernet frame)."""


@dataclass(frozen=True, slots=True)
class Step:
    """One file or server the phone dealt with during a boot, and what came of it."""

    what: str
    """The file name, or ``TVS 10.0.0.10:2445``, ``CAPF ...``, ``https://...``."""
    outcome: str
    """accepted / rejected / not found / unreachable / pending CAPF ..."""
    detail: str = ""


@dataclass(slots=True)
class BootReport:
    """What one boot did: the files in order, the lists the phone holds after, its verdicts."""

    phone: str
    steps: list[Step] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    """TFTP file names in the order asked for (A1)."""
    status: list[str] = field(default_factory=list)
    """Status messages shown during this boot (H1)."""
    ctl_md5: str | None = None
    itl_md5: str | None = None
    list_failed: str | None = None
    """Why a downloaded CTL or ITL was refused (the old one stays in force), or None."""
    config_applied: bool = False
    config_failed: str | None = None
    """Why the configuration file was refused, or None."""
    tvs_queries: int = 0
    enrolled: bool = False

    @property
    def locked(self) -> bool:
        """The phone cannot take the cluster's files: a list or its configuration was refused."""
        return self.list_failed is not None or self.config_failed is not None

    def summary(self) -> str:
        if self.locked:
            return f"{self.phone}: LOCKED - {self.list_failed or self.config_failed}"
        lists = f"CTL {self.ctl_md5 or '-'}, ITL {self.itl_md5 or '-'}"
        applied = "configuration applied" if self.config_applied else "no configuration"
        return f"{self.phone}: OK - {lists}; {applied}"


@dataclass(frozen=True, slots=True)
class UrlResult:
    """What opening a service URL came to (A7, B2, E1)."""

    url: str
    ok: bool
    display: str = ""
    """What the phone's screen shows on failure (``Host Not Found``)."""
    via: str = ""
    http_status: str = ""
    tvs_asked: bool = False


class Phone:
    """One simulated phone: a MAC, a model, a TFTP server, its flash, and its log."""

    def __init__(
        self,
        mac: str,
        model: PhoneModel,
        tftp: Endpoint | str,
        *,
        routes: Routes | None = None,
        keys: DeviceKeys | None = None,
        state: PhoneTrust | None = None,
        clock: Clock | None = None,
        auth_string: str | None = None,
        timeout: float = 5.0,
        rto: float = 0.5,
        retries: int = 4,
        tvs_timeout: float = 5.0,
        network: Network | None = None,
        enrol: bool = True,
        device_key: object | None = None,
    ) -> None:
        self.mac = normalise_mac(mac)
        self.model = model
        self.tftp: Endpoint = (tftp, TFTP_PORT) if isinstance(tftp, str) else tftp
        self._routes = routes or Routes()
        self.network: Network = network or SocketNetwork(self._routes)
        """How TFTP and TVS are reached: sockets, or the planner's files in memory."""
        self._device_key = device_key
        """What opens encrypted configuration instead of ``keys`` (the planner's phones hold
        no private key: :class:`~phonetrust.formats.encsgn.KnownPlaintext`)."""
        self.enrols = enrol
        """Whether a boot runs the CAPF operation its configuration announces (the planner's
        phones do not: a prediction enrols nobody)."""
        self.keys = keys or DeviceKeys()
        self.state = state or PhoneTrust(
            model, has_mic=self.keys.mic is not None, has_lsc=self.keys.lsc is not None
        )
        self.clock = clock or SystemClock()
        self.auth_string = auth_string
        self.timeout, self.rto, self.retries, self.tvs_timeout = timeout, rto, retries, tvs_timeout
        self.config: ParsedConfig | None = None
        """The last full configuration the phone applied: its settings are the phone's."""
        self.log = PhoneLog()
        self.tvs_queries = 0
        """TVS requests sent over the network since the phone was made (cache hits excluded)."""
        self._transfer = 0

    @property
    def routes(self) -> Routes:
        """Where the cluster's addresses really listen (also for URLs and CAPF)."""
        return self._routes

    @routes.setter
    def routes(self, routes: Routes) -> None:
        # A test re-routes a phone mid-scenario (a rogue TFTP server, a second cluster):
        # its socket network must follow.
        self._routes = routes
        if isinstance(self.network, SocketNetwork):
            self.network.routes = routes

    # -- identity ---------------------------------------------------------------

    @property
    def name(self) -> str:
        return f"SEP{self.mac}"

    @property
    def device_type(self) -> str:
        """How TVS requests name the phone: ``CP-7975-SEP001122334455``."""
        return f"CP-{self.model.name}-{self.name}"

    @property
    def settings(self) -> dict[str, str]:
        """The settings of the applied configuration (vendorConfig: webAccess, sshAccess, ...)."""
        return {} if self.config is None else dict(self.config.vendor_config)

    # -- boot -------------------------------------------------------------------

    async def boot(self) -> BootReport:
        """Power up, or reset (the flash is kept): fetch the lists and the configuration,
        judge each, apply it."""
        return await self._boot(enrol=self.enrols)

    async def _boot(self, *, enrol: bool) -> BootReport:
        report = BootReport(self.name)
        await self._trust_list(report, "CTL")
        if self.model.security_by_default:
            await self._trust_list(report, "ITL")
        await self._configuration(report)
        if enrol and report.config_applied and self._capf_pending():
            report.enrolled = await self._enrol(report)
            if report.enrolled:
                # A new LSC: the phone resets and fetches its files again, without going
                # back to CAPF (the configuration may still announce the operation until
                # the cluster republishes it).
                again = await self._boot(enrol=False)
                again.steps[:0] = report.steps
                again.requested[:0] = report.requested
                again.status[:0] = report.status
                again.enrolled = True
                again.tvs_queries += report.tvs_queries
                return again
        report.ctl_md5 = None if self.state.ctl_file is None else self.state.ctl_file.md5
        report.itl_md5 = None if self.state.itl_file is None else self.state.itl_file.md5
        return report

    async def _trust_list(self, report: BootReport, kind: str) -> None:
        per_device = f"{kind}SEP{self.mac}.tlv"
        fallback = f"{kind}File.tlv"
        self._note(tl_request_file(per_device))
        data = await self._fetch(report, per_device)
        if data is None:
            data = await self._fetch(report, fallback)
        if data is None:
            self._not_found(report, fallback)
            return
        now = self.clock.now()
        if kind == "CTL":
            decision = trust.on_ctl(self.state, data, now, tftp_server_address=self.tftp[0])
        else:
            decision = trust.on_itl(self.state, data, now)
        decision = await self._settle(decision, report)
        self._apply(decision, report)
        name = per_device if report.requested[-1] == per_device else fallback
        if decision.accepted:
            report.steps.append(Step(name, "accepted", decision.via.value if decision.via else ""))
        elif decision.reason is Reason.NOT_SUPPORTED:
            report.steps.append(Step(name, "ignored", decision.reason.value))
        else:
            why = decision.reason.value if decision.reason else "rejected"
            report.steps.append(Step(name, "rejected", why))
            report.list_failed = f"{name}: {why}"

    async def _configuration(self, report: BootReport) -> None:
        name = f"{self.name}.cnf.xml"
        now = self.clock.now()
        if not self.state.has_anchors:
            data = await self._fetch(report, name)
            if data is not None:
                decision = configs.on_plain_config(self.state, data, filename=name)
                await self._judge_config(decision, name, report)
                return
        signed = await self._fetch(report, f"{name}.sgn")
        if signed is None:
            self._not_found(report, f"{name}.sgn")
            return
        address = self.tftp[0]
        decision = configs.on_signed_config(self.state, signed, now, tftp_server_address=address)
        decision = await self._settle(decision, report)
        if decision.accepted and decision.config is not None and not decision.config.full_config:
            self._apply(decision, report)
            report.steps.append(Step(f"{name}.sgn", "accepted", "encrypted configuration stub"))
            encrypted = await self._fetch(report, f"{name}.enc.sgn")
            if encrypted is None:
                self._not_found(report, f"{name}.enc.sgn")
                report.config_failed = f"{name}.enc.sgn: not found"
                return
            decision = configs.on_encrypted_config(
                self.state,
                encrypted,
                self._device_key or self.keys.decryption_key(),
                self.clock.now(),
                tftp_server_address=address,
            )
            decision = await self._settle(decision, report)
            await self._judge_config(decision, f"{name}.enc.sgn", report)
            return
        await self._judge_config(decision, f"{name}.sgn", report)

    async def _judge_config(self, decision: Decision, name: str, report: BootReport) -> None:
        self._apply(decision, report)
        if decision.accepted and decision.config is not None:
            self.config = decision.config
            report.config_applied = True
            report.steps.append(Step(name, "accepted", decision.via.value if decision.via else ""))
        else:
            why = decision.reason.value if decision.reason else "rejected"
            report.steps.append(Step(name, "rejected", why))
            report.config_failed = f"{name}: {why}"

    # -- TVS --------------------------------------------------------------------

    async def _settle(self, decision: Decision, report: BootReport | None) -> Decision:
        """Ask TVS while the decision is pending (a resumed decision never asks again)."""
        if not decision.pending or decision.need_tvs is None:
            return decision
        self._record(decision)
        answer = await self._ask_tvs(decision.state, decision.need_tvs.certificate, report)
        return decision.resume_with_tvs(answer, self.clock.now())

    async def _ask_tvs(
        self, state: PhoneTrust, certificate: bytes, report: BootReport | None
    ) -> Answer | None:
        for address, port in state.tvs_servers[:MAX_TVS_SERVERS]:
            where = f"{address}:{port}"
            self._note(tvs_connecting(address, port))

            def check(der: bytes, where: str = where) -> None:
                verdict = trust.check_tvs_server(state, der, address=where)
                self._record(verdict)
                if not verdict.accepted:
                    raise TvsServerUntrusted(f"TVS {where}: certificate not in the ITL")

            try:
                answer = await self.network.tvs(
                    (address, port),
                    certificate,
                    self.device_type,
                    timeout=self.tvs_timeout,
                    check_server=check,
                )
            except RemoteError as exc:
                self._note(secd_error(f"tvsConnect: TVS {where} failed: {exc}"))
                if report is not None:
                    report.steps.append(Step(f"TVS {where}", "unusable", str(exc)))
                continue
            self.tvs_queries += 1
            if report is not None:
                report.tvs_queries += 1
                verdict = "valid" if answer.valid else "not valid"
                report.steps.append(Step(f"TVS {where}", "answered", verdict))
            return answer
        return None

    # -- URLs (A7) ----------------------------------------------------------------

    def service_url(self, name: str = "directory") -> str:
        """The URL a phone opens for a service: the secure one when the configuration has it."""
        if self.config is None:
            return ""
        key = f"{name}URL"
        secure = f"secure{name[0].upper()}{name[1:]}URL"
        return self.config.secure_urls.get(secure) or self.config.urls.get(key, "")

    async def open_url(self, url: str) -> UrlResult:
        """Open ``url`` as the phone's browser does: HTTPS needs a trusted certificate (A7)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return UrlResult(url, False, display=HOST_NOT_FOUND, via="not a usable URL")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        host, real_port = self.routes.resolve(parts.hostname, port)
        if parts.scheme == "http":  # no certificate to judge (E1 turns secure URLs to HTTP)
            return UrlResult(url, True, via="plain HTTP: no certificate to verify")
        try:
            async with asyncio.timeout(self.timeout):
                reader, writer = await asyncio.open_connection(
                    host, real_port, ssl=client_context()
                )
        except (OSError, TimeoutError, ssl.SSLError) as exc:
            self._note(secd_error(f"https_connect: cannot reach <{parts.hostname}>: {exc}"))
            return UrlResult(url, False, display=HOST_NOT_FOUND, via=str(exc))
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else b""
            asked_before = self.tvs_queries
            decision = trust.check_https_server(
                self.state, der or b"", self.clock.now(), address=parts.hostname
            )
            decision = await self._settle(decision, None)
            self._apply(decision, None)
            asked = self.tvs_queries > asked_before
            if not decision.accepted:
                why = decision.reason.value if decision.reason else "not trusted"
                shown = decision.display or HOST_NOT_FOUND
                return UrlResult(url, False, display=shown, via=why, tvs_asked=asked)
            path = parts.path or "/"
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}\r\n\r\n".encode())
            async with asyncio.timeout(self.timeout):
                head = await reader.readuntil(b"\r\n")
            status = head.decode("latin-1").strip().partition(" ")[2]
            via = decision.via.value if decision.via else ""
            return UrlResult(url, True, via=via, http_status=status, tvs_asked=asked)
        except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            return UrlResult(url, False, display=HOST_NOT_FOUND, via=str(exc))
        finally:
            writer.close()

    # -- CAPF (F1) ----------------------------------------------------------------

    def _capf_pending(self) -> bool:
        return (
            self.config is not None and self.config.capf_auth_mode != 0 and bool(self.config.capf)
        )

    async def _enrol(self, report: BootReport) -> bool:
        """Run the CAPF operation the configuration announces; True when a new LSC was installed."""
        assert self.config is not None  # noqa: S101 - _capf_pending said so
        entry = self.config.capf[0]
        address, port = entry.process_node_name, entry.phone_port
        host, real_port = self.routes.resolve(address, port)
        where = f"CAPF {address}:{port}"
        state = self.state

        def check(der: bytes) -> None:
            verdict = trust.check_capf_server(state, der, address=f"{address}:{port}")
            self._record(verdict)
            if not verdict.accepted:
                raise CapfServerUntrusted(f"{where}: certificate not in the CTL/ITL")

        try:
            result = await capf_client.enroll(
                host,
                real_port,
                self.name,
                auth_string=self.auth_string,
                lsc=_credential(self.keys.lsc),
                mic=_credential(self.keys.mic),
                prefer_mic=self.config.capf_auth_mode == 4,
                check_server=check,
                timeout=self.timeout * 4,
            )
        except RemoteError as exc:
            self._note(secd_error(f"capf: {where}: {exc}"))
            report.steps.append(Step(where, "failed", str(exc)))
            return False
        report.steps.append(Step(where, "success" if result.success else "failure", result.info))
        if not (result.success and result.certificate is not None and result.key is not None):
            self._note(secd_error(f"capf: operation failed: {result.info}"))
            return False
        identity = DeviceIdentity(result.certificate, result.key)
        if self.keys.lsc is not None and _same(self.keys.lsc.certificate, result.certificate):
            return False
        self.keys = replace(self.keys, lsc=identity)
        self.state = replace(self.state, has_lsc=True)
        self._note(secd("capf: LSC installed"))
        return True

    # -- the settings menu ----------------------------------------------------------

    def erase(self) -> None:
        """Settings > Security > Trust List > Erase (G2): both lists and the TVS cache go."""
        self._apply(trust.erase(self.state), None)

    # -- plumbing -------------------------------------------------------------------

    async def _fetch(self, report: BootReport, filename: str) -> bytes | None:
        """The file, or None when the server has not got it (or does not answer)."""
        self._transfer += 1
        report.requested.append(filename)
        server = self.tftp[0]
        self._note(tftp_requesting(self._transfer, filename, server))
        try:
            data = await self.network.fetch(
                self.tftp,
                filename,
                timeout=self.timeout,
                blksize=BLKSIZE if self.model.blksize else None,
                rto=self.rto,
                retries=self.retries,
            )
        except PeerError as exc:
            if exc.code == ErrorCode.FILE_NOT_FOUND:
                self._note(tftp_client(f"File not found <{filename}>"))
            else:
                self._note(tftp_client(f"error {exc.code} for <{filename}>: {exc.message}"))
            return None
        except TftpError as exc:
            self._note(tftp_client(f"no answer for <{filename}> from {server}: {exc}"))
            report.steps.append(Step(filename, "unreachable", str(exc)))
            return None
        except OSError as exc:
            self._note(tftp_client(f"cannot reach {server}: {exc.strerror or exc}"))
            report.steps.append(Step(filename, "unreachable", str(exc)))
            return None
        self._note(tftp_finished(self._transfer, len(data)))
        return data

    def _not_found(self, report: BootReport, filename: str) -> None:
        """The last name tried is missing too: the status message (its console line is logged)."""
        decision = trust.on_file_not_found(self.state, filename)
        self.log = self.log.record(self.clock.now(), (), decision.status)
        report.status.extend(decision.status)
        report.steps.append(Step(filename, "not found"))

    def _apply(self, decision: Decision, report: BootReport | None) -> None:
        self._record(decision)
        if decision.verdict is not Verdict.PENDING:
            self.state = decision.state
        if report is not None:
            report.status.extend(decision.status)

    def _record(self, decision: Decision) -> None:
        self.log = self.log.record(self.clock.now(), decision.console, decision.status)

    def _note(self, line: ConsoleLine) -> None:
        self.log = self.log.record(self.clock.now(), (line,))


def normalise_mac(mac: str) -> str:
    """``00:11:22:33:44:55``, ``SEP001122334455``, ``0011.2233.4455`` -> ``001122334455``."""
    text = mac.strip().upper().removeprefix("SEP")
    digits = "".join(c for c in text if c not in ":-.")
    if len(digits) != 12 or any(c not in "0123456789ABCDEF" for c in digits):
        raise ValueError(f"{mac!r} is not a MAC address (12 hex digits)")
    return digits


def _credential(identity: DeviceIdentity | None) -> Credential | None:
    if identity is None:
        return None
    return (identity.certificate, identity.key)  # type: ignore[return-value]


def _same(a: x509.Certificate, b: x509.Certificate) -> bool:
    return a.public_bytes(Encoding.DER) == b.public_bytes(Encoding.DER)
