"""What each phone holds now, as far as the cluster can know: its last downloads.

The TFTP service records, per device and file, the SHA-1 of the latest
trust list and configuration each phone fetched and the node it fetched
them from (``downloads``). The bytes are found among the plan versions the
store keeps; the configuration gives the TVS servers and security mode the
phone took. A phone is taken to hold the lists it last downloaded: the
server cannot see a phone refuse a list, so a phone that refused its last
download (a phone already locked) is predicted from lists it does not hold
(``phonetrust diagnose`` reports such phones as locked now).

A phone with no recorded download was never seen: the planner says so
instead of guessing. So does one whose list bytes the store no longer keeps
(plan versions pruned since).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from phonetrust.errors import ParseError
from phonetrust.formats.cnfxml_read import ParsedConfig, read
from phonetrust.formats.sgn import SignedFile
from phonetrust.policy.domain import Device, Node
from phonetrust.policy.models import model as phone_model
from phonetrust.policy.params import EnterpriseParams
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust
from phonetrust.service import fileplan
from phonetrust.store.repository import Download, UnitOfWork

CTL_NAME = "CTLFile.tlv"
ITL_NAME = "ITLFile.tlv"
CONFIG_SUFFIXES = (".cnf.xml", ".cnf.xml.sgn", ".cnf.xml.enc.sgn")
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
        elif d.filename.endswith(CONFIG_SUFFIXES) and (config is None or d.at > config.at):
            config = d
    parsed, guessed = (None, False) if config is None else finder.config(device, config)
    state = PhoneTrust(
        phone_model(device.model),
        ctl_file=lists[CTL_NAME],
        itl_file=lists[ITL_NAME],
        tvs_servers=() if parsed is None else tuple((s.address, s.port) for s in parsed.tvs),
        has_mic=device.mic is not None,
        has_lsc=device.lsc is not None,
        security_mode=1 if parsed is None else parsed.device_security_mode,
    )
    return KnownPhone(
        device,
        state,
        tftp,
        latest.node,
        latest.at,
        sha1s[CTL_NAME],
        sha1s[ITL_NAME],
        config_guessed=guessed,
    )


class _Finder:
    """Published bytes by SHA-1: lists shared by thousands of phones are parsed once, and
    one configuration per node, CallManager group and security profile is read."""

    def __init__(self, uow: UnitOfWork, newest: int) -> None:
        self.uow, self.newest = uow, newest
        self._lists: dict[tuple[str, str, str], InstalledList | None] = {}
        self._configs: dict[tuple[str, str, str, str], tuple[ParsedConfig | None, bool]] = {}
        self._catalog: fileplan.Catalog | None = None

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

        They come from the CallManager group and the security profile, so one
        configuration per node, group, profile and form is read: the device's
        own, found by SHA-1 in the last versions, else what the store serves now.
        """
        suffix = next(s for s in reversed(CONFIG_SUFFIXES) if download.filename.endswith(s))
        key = (download.node, device.group, device.profile, suffix)
        if key not in self._configs:
            self._configs[key] = self._read_config(device, download)
        return self._configs[key]

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


def _parse(document: bytes) -> ParsedConfig | None:
    try:
        parsed = read(document)
    except ParseError:
        return None
    return parsed if parsed.full_config else None


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
