"""What each phone holds now, as far as the cluster can know: its last downloads.

The TFTP service records, per device and file, the SHA-1 of the latest
trust list and configuration each phone fetched, the node it fetched them
from, and the different list it fetched before under that name
(``downloads``). The bytes are found among the plan versions the store
keeps; the configuration gives the TVS servers and security mode the phone
took. The server cannot see a phone refuse a list, so the phone is
replayed: holding the earlier list, it judges its last download as it did
then (:func:`_took`); a phone that refused it holds the earlier one and is
locked now (``phonetrust diagnose`` reports it).

A phone with no recorded download was never seen: the planner says so
instead of guessing. So does one whose list bytes the store no longer keeps
(plan versions pruned since).
"""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from datetime import datetime

from phonetrust.errors import ParseError
from phonetrust.formats.cnfxml_read import ParsedConfig, read
from phonetrust.formats.sgn import SignedFile
from phonetrust.policy import phone_trust as trust
from phonetrust.policy.domain import CertName, Device, Node, OwnCertificate, Service
from phonetrust.policy.models import model as phone_model
from phonetrust.policy.params import EnterpriseParams
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.policy.tftpnames import CONFIGS, NameKind, RefusedName, interpret
from phonetrust.protocols.tvs.messages import Answer
from phonetrust.service import fileplan
from phonetrust.service.tvsdirectory import TvsDirectory, directory_from
from phonetrust.sim.phone import MAX_TVS_SERVERS
from phonetrust.store.repository import Download, UnitOfWork

CTL_NAME = "CTLFile.tlv"
ITL_NAME = "ITLFile.tlv"
OLD_VERSIONS = 12
"""How many plan versions back a configuration is looked for (one query each); older
than that, the configuration the store would serve now stands in."""


@dataclass(frozen=True, slots=True)
class KnownPhone:
    """One device and the trust state its downloads say its phone is in."""

    device: Device
    state: PhoneTrust | None
    """None: the phone was never seen, or what it holds is no longer known."""
    tftp: str | None = None
    """The address of the TFTP server it last used (its node's IP: phones know it by DHCP)."""
    node: str | None = None
    at: datetime | None = None
    ctl_sha1: str | None = None
    itl_sha1: str | None = None
    why_unknown: str = ""
    config_guessed: bool = False
    """The configuration it took was not found: TVS servers are those served now."""
    refused: str = ""
    """Why it refused its last download of a list (it holds the one before), or ""."""


def last_known(
    uow: UnitOfWork, *, version: int | None = None, devices: Iterable[Device] | None = None
) -> dict[str, KnownPhone]:
    """Every device (or ``devices``), by name, with its phone's last known trust state.

    ``version`` is the newest plan version a phone may have seen (the current one by
    default; a change in progress passes the version before its own).
    """
    newest = uow.current_version() if version is None else version
    nodes = {n.host: n for n in uow.list_nodes()}
    downloads: dict[str, list[Download]] = {}
    for d in uow.list_downloads():
        downloads.setdefault(d.device, []).append(d)
    finder = _Finder(uow, newest)
    out: dict[str, KnownPhone] = {}
    for device in uow.list_devices() if devices is None else devices:
        out[device.name] = _known(device, downloads.get(device.name, []), nodes, finder)
    return out


def _known(
    device: Device, seen: list[Download], nodes: dict[str, Node], finder: _Finder
) -> KnownPhone:
    if not seen:
        return KnownPhone(device, None, why_unknown="never seen: no download recorded")
    latest = max(seen, key=lambda d: d.at)
    node = nodes.get(latest.node)
    tftp = str(node.ip) if node is not None else None
    lists: dict[str, InstalledList | None] = {CTL_NAME: None, ITL_NAME: None}
    sha1s: dict[str, str | None] = {CTL_NAME: None, ITL_NAME: None}
    before: dict[str, InstalledList] = {}
    fetched: dict[str, Download] = {}
    config: Download | None = None
    for d in seen:
        if d.filename in lists:
            sha1s[d.filename] = d.sha1
            found = finder.trust_list(d.node, d.filename, d.sha1)
            if found is None:
                return KnownPhone(
                    device,
                    None,
                    tftp,
                    latest.node,
                    latest.at,
                    why_unknown=f"its {d.filename} ({d.sha1[:12]}) is no longer kept",
                )
            lists[d.filename] = found
            fetched[d.filename] = d
            held = (
                None
                if d.previous_sha1 is None
                else finder.trust_list(d.node, d.filename, d.previous_sha1)
            )
            if held is not None:
                before[d.filename] = held
        elif config_kind(d.filename) is not None and (config is None or d.at > config.at):
            config = d
    parsed, guessed = (None, False) if config is None else finder.config(device, config)
    state = PhoneTrust(
        phone_model(device.model),
        ctl_file=before.get(CTL_NAME, lists[CTL_NAME]),
        itl_file=before.get(ITL_NAME, lists[ITL_NAME]),
        tvs_servers=() if parsed is None else tuple((s.address, s.port) for s in parsed.tvs),
        has_mic=device.mic is not None,
        has_lsc=device.lsc is not None,
        security_mode=1 if parsed is None else parsed.device_security_mode,
    )
    refused = ""
    if before:
        state, refused = _took(state, lists, fetched, tftp, finder)
    return KnownPhone(
        device,
        state,
        tftp,
        latest.node,
        latest.at,
        sha1s[CTL_NAME],
        sha1s[ITL_NAME],
        config_guessed=guessed,
        refused=refused,
    )


def _took(
    state: PhoneTrust,
    lists: dict[str, InstalledList | None],
    fetched: dict[str, Download],
    tftp: str | None,
    finder: _Finder,
) -> tuple[PhoneTrust, str]:
    """The phone holding its earlier lists judges its last downloads, as it did then (CTL
    first): what it took, and why it refused what it did not.

    TVS is asked as the phone asked it: the first of its TVS servers whose certificate
    of that time its lists trust; what TVS vouched for then is not recorded, so it
    answers from what it vouches for now.
    """
    # Phones alike (same lists, servers, downloads, TVS certificates then) replay alike:
    # ten thousand phones that took one new ITL are one replay.
    at = max(d.at for d in fetched.values())
    key = (
        state,
        tftp,
        tuple((n, d.sha1) for n, d in sorted(fetched.items())),
        finder.tvs_then(state, at),
    )
    if key not in finder.replayed:
        finder.replayed[key] = _replay(state, lists, fetched, tftp, finder)
    return finder.replayed[key]


def _replay(
    state: PhoneTrust,
    lists: dict[str, InstalledList | None],
    fetched: dict[str, Download],
    tftp: str | None,
    finder: _Finder,
) -> tuple[PhoneTrust, str]:
    why = []
    for name in (CTL_NAME, ITL_NAME):
        new, download = lists[name], fetched.get(name)
        held = state.ctl_file if name == CTL_NAME else state.itl_file
        if new is None or download is None or held is None or held.raw == new.raw:
            continue
        now = download.at.timestamp()
        if name == CTL_NAME:
            decision = trust.on_ctl(state, new.raw, now, tftp_server_address=tftp)
        else:
            decision = trust.on_itl(state, new.raw, now)
        if decision.pending and decision.need_tvs is not None:
            answer = finder.tvs_answer(state, decision.need_tvs.certificate, download.at)
            decision = decision.resume_with_tvs(answer, now)
        if decision.accepted:
            state = decision.state
        else:
            reason = decision.reason.value if decision.reason else "refused"
            why.append(f"its last {name} ({download.sha1[:12]}): {reason}")
    return state, "; ".join(why)


class _Finder:
    """Published bytes by SHA-1: lists shared by thousands of phones are parsed once, and
    one configuration per node, CallManager group and security profile is read."""

    def __init__(self, uow: UnitOfWork, newest: int) -> None:
        self.uow, self.newest = uow, newest
        self._lists: dict[tuple[str, str, str], InstalledList | None] = {}
        self._configs: dict[Hashable, tuple[ParsedConfig | None, bool]] = {}
        self._served: dict[str, dict[str, str]] = {}
        self._catalog: fileplan.Catalog | None = None
        self._directory: TvsDirectory | None = None
        self._tvs: dict[str, list[OwnCertificate]] = {}
        self.replayed: dict[Hashable, tuple[PhoneTrust, str]] = {}
        """Replays of a reboot (:func:`_took`), by everything they depend on."""

    def tvs_then(self, state: PhoneTrust, at: datetime) -> tuple[bytes | None, ...]:
        """The certificate each of the phone's TVS servers (three at most) presented at
        ``at``: None for one that was no TVS node of the cluster."""
        if self._directory is None:
            self._directory = directory_from(self.uow)
            for node in self.uow.list_nodes():
                if node.runs(Service.TVS):
                    history = self.uow.certificate_history(node.host, CertName.TVS)
                    self._tvs[str(node.ip)] = self._tvs[node.host.lower()] = history
        out: list[bytes | None] = []
        for address, _ in state.tvs_servers[:MAX_TVS_SERVERS]:
            then = [c for c in self._tvs.get(address.lower(), []) if c.created_at <= at]
            out.append(then[-1].der if then else None)
        return tuple(out)

    def tvs_answer(self, state: PhoneTrust, certificate: bytes, at: datetime) -> Answer | None:
        """What the phone's TVS servers said of ``certificate`` at ``at``: the first (of
        three at most) whose TVS certificate of that time its lists trust answers from what
        TVS vouches for now; None when none could be trusted."""
        for presented in self.tvs_then(state, at):
            if presented is not None and trust.check_tvs_server(state, presented).accepted:
                assert self._directory is not None  # noqa: S101 - tvs_then read it
                return self._directory.verify(certificate)
        return None

    def trust_list(self, node: str, name: str, sha1: str) -> InstalledList | None:
        key = (node, name, sha1)
        if key not in self._lists:
            self._lists[key] = self._search_list(node, name, sha1)
        return self._lists[key]

    def _search_list(self, node: str, name: str, sha1: str) -> InstalledList | None:
        version = self.newest
        while version > 0:
            data = self.uow.published_file(node, name, version)
            if data is not None and _sha1(data) == sha1:
                try:
                    return InstalledList(data)
                except ParseError:
                    return None
            if data is None and not self.uow.published_names(node, version):
                return None  # this version (and every older one) was pruned
            version -= 1
        return None

    def config(self, device: Device, download: Download) -> tuple[ParsedConfig | None, bool]:
        """The TVS servers and security mode the phone took, and whether they were guessed.

        They come from the CallManager group and the security profile. A phone that took
        the configuration served now shares the one read for its node, group, profile and
        form; one that took an older one (its group changed since, say) has its own read,
        found by SHA-1 in the last versions, else what the store serves now.
        """
        kind = config_kind(download.filename)
        if self._current(download.node).get(download.filename) == download.sha1:
            key: Hashable = (download.node, device.group, device.profile, kind)
        else:
            key = (download.node, device.name, kind)
        if key not in self._configs:
            self._configs[key] = self._read_config(device, download)
        return self._configs[key]

    def _current(self, node: str) -> dict[str, str]:
        """{name: SHA-1} of the configuration files ``node`` serves now (read once)."""
        if node not in self._served:
            files = self.uow.published_files(node, self.newest) if self.newest else {}
            self._served[node] = {
                name: _sha1(data) for name, data in files.items() if config_kind(name)
            }
        return self._served[node]

    def _read_config(self, device: Device, download: Download) -> tuple[ParsedConfig | None, bool]:
        data = None
        version = self.newest
        while version > 0 and self.newest - version < OLD_VERSIONS:
            found = self.uow.published_file(download.node, download.filename, version)
            if found is not None and _sha1(found) == download.sha1:
                data = found
                break
            version -= 1
        if data is None or download.filename.endswith(".enc.sgn"):
            # Not kept, or encrypted for the phone's own key: what the store would serve now.
            return _parse(self._document(device)), data is None
        if download.filename.endswith(".sgn"):
            try:
                data = SignedFile.from_wire(data).content
            except ParseError:
                return None, False
        return _parse(data), False

    def _document(self, device: Device) -> bytes:
        if self._catalog is None:
            params = EnterpriseParams.from_stored(self.uow.get_params())
            self._catalog = fileplan.Catalog.read(self.uow, params)
        return fileplan.config_document(self._catalog.document_inputs(device))


def config_kind(name: str) -> NameKind | None:
    """Which configuration file ``name`` is (plain, signed, encrypted), as the TFTP service
    reads names; None for any other file."""
    try:
        kind = interpret(name).kind
    except RefusedName:
        return None
    return kind if kind in CONFIGS else None


def _parse(document: bytes) -> ParsedConfig | None:
    try:
        parsed = read(document)
    except ParseError:
        return None
    return parsed if parsed.full_config else None


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
