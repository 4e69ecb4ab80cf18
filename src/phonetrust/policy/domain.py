"""The cluster as immutable values: nodes, certificates, devices, profiles, parameters.

These are what the store saves and the service reasons about. Names follow
CUCM's spelling (``CallManager``, ``Phone-SAST-trust``, ``SEP<MAC>``) so that
an administrator recognises every word.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

from phonetrust.errors import LocalError


class Service(StrEnum):
    """Services a node may run (CUCM's feature services)."""

    CALLMANAGER = "CallManager"
    TFTP = "TFTP"
    TVS = "TVS"
    CAPF = "CAPF"


class CertName(StrEnum):
    """A node's own certificates, by the name ``show cert list own`` prints."""

    CALLMANAGER = "CallManager"
    TVS = "TVS"
    CAPF = "CAPF"
    IPSEC = "ipsec"
    TOMCAT = "tomcat"
    ITLRECOVERY = "ITLRecovery"

    @classmethod
    def parse(cls, text: str) -> CertName:
        for name in cls:
            if name.value.lower() == text.strip().lower():
                return name
        raise LocalError(
            f"Invalid certificate name {text!r}; use one of " + ", ".join(n.value for n in cls)
        )


class TrustStore(StrEnum):
    """Trust stores (``<unit>-trust``) where uploaded certificates live."""

    CALLMANAGER = "CallManager-trust"
    CAPF = "CAPF-trust"
    PHONE_SAST = "Phone-SAST-trust"
    PHONE = "Phone-trust"
    PHONE_VPN = "Phone-VPN-trust"
    TOMCAT = "tomcat-trust"
    IPSEC = "ipsec-trust"
    TVS = "TVS-trust"
    ITLRECOVERY = "ITLRecovery-trust"

    @classmethod
    def parse(cls, text: str) -> TrustStore:
        for store in cls:
            if store.value.lower() == text.strip().lower():
                return store
        raise LocalError(
            f"Unknown trust store {text!r}; use one of " + ", ".join(s.value for s in cls)
        )


class SecurityMode(IntEnum):
    """Enterprise parameter ClusterSecurityMode."""

    NON_SECURE = 0
    MIXED = 1


class SignerOption(StrEnum):
    """Who signs ITL and CTL (scenario H5): CUCM 8-11 use CallManager, 12.0+ ITLRecovery."""

    CALLMANAGER = "callmanager"
    ITLRECOVERY = "itlrecovery"


class DeviceSecurityMode(IntEnum):
    """deviceSecurityMode in the configuration file (from the phone security profile)."""

    NON_SECURE = 1
    AUTHENTICATED = 2
    ENCRYPTED = 3


class Protocol(StrEnum):
    SIP = "SIP"
    SCCP = "SCCP"


class CapfOperation(StrEnum):
    NONE = "none"
    INSTALL = "install"
    DELETE = "delete"
    FETCH = "fetch"


class CapfAuthMode(IntEnum):
    """capfAuthMode of the configuration; same numbers as the CAPF AUTH TYPE element."""

    NONE = 0
    AUTH_STRING = 1
    NULL_STRING = 2
    EXISTING_LSC_FIRST = 3
    EXISTING_MIC_FIRST = 4


_HOST = re.compile(r"^(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_DOMAIN = re.compile(
    r"^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$"
)
_DEVICE = re.compile(r"^SEP[0-9A-F]{12}$")


def check_host(host: str) -> str:
    if not _HOST.match(host):
        raise LocalError(
            f"Invalid host name {host!r}: letters, digits and hyphens, 1-63 characters, "
            "not starting or ending with a hyphen"
        )
    return host


def check_domain(domain: str) -> str:
    if domain and not _DOMAIN.match(domain):
        raise LocalError(f"Invalid domain {domain!r}")
    return domain


def check_ipv4(text: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise LocalError(f"Invalid IPv4 address {text!r} (expected A.B.C.D)") from None


def device_name(text: str) -> str:
    """``SEP`` + 12 upper-case hex digits; a bare MAC (any separators) is accepted."""
    raw = text.strip().upper()
    if raw.startswith("SEP"):
        raw = raw[3:]
    mac = re.sub(r"[:.\-]", "", raw)
    name = f"SEP{mac}"
    if not _DEVICE.match(name):
        raise LocalError(
            f"Invalid device name or MAC {text!r}: expected SEP followed by 12 hex digits"
        )
    return name


@dataclass(frozen=True, slots=True)
class Node:
    host: str
    ip: ipaddress.IPv4Address
    domain: str = ""
    publisher: bool = False
    services: frozenset[Service] = frozenset(Service)

    def __post_init__(self) -> None:
        check_host(self.host)
        check_domain(self.domain)

    @property
    def fqdn(self) -> str:
        return f"{self.host}.{self.domain}" if self.domain else self.host

    def runs(self, service: Service) -> bool:
        return service in self.services


@dataclass(frozen=True, slots=True)
class OwnCertificate:
    """A node's certificate for one role, as stored (DER), with when it was made."""

    node: str
    name: CertName
    der: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TrustedCertificate:
    store: TrustStore
    der: bytes
    added_at: datetime
    description: str = ""


@dataclass(frozen=True, slots=True)
class CallManagerGroup:
    """An ordered list of up to three CallManager nodes: call control and TVS servers."""

    name: str
    members: tuple[str, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.members) <= 3:
            raise LocalError(
                f"CallManager group {self.name!r} must list 1 to 3 nodes, not {len(self.members)}"
            )
        if len(set(self.members)) != len(self.members):
            raise LocalError(f"CallManager group {self.name!r} lists a node twice")


@dataclass(frozen=True, slots=True)
class SecurityProfile:
    """A phone security profile: how the device registers and whether its config is encrypted."""

    name: str
    mode: DeviceSecurityMode = DeviceSecurityMode.NON_SECURE
    tftp_encrypted: bool = False
    protocol: Protocol | None = None


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    model: str
    protocol: Protocol = Protocol.SIP
    group: str = "Default"
    profile: str = "Universal Device Template - Model-independent Security Profile"
    capf_operation: CapfOperation = CapfOperation.NONE
    capf_auth_mode: CapfAuthMode = CapfAuthMode.NONE
    capf_auth_hash: str = ""
    """The authentication string's salted hash (``policy.capfauth``); never the string."""
    capf_key: str = "RSA-2048"
    capf_expires: datetime | None = None
    settings: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    description: str = ""
    lsc: bytes | None = None
    """The device's LSC (DER), issued by CAPF; encrypted configuration is wrapped for it."""
    capf_status: str = ""
    """The outcome of the last CAPF operation, e.g. "Upgrade Success" or "Failure: ..."."""
    mic: bytes | None = None
    """The device's manufacturer certificate (DER), when known; used when there is no LSC."""
    capf_auth_failures: int = 0
    """Wrong authentication strings since the operation was scheduled (or the last right one)."""
    capf_locked_at: datetime | None = None
    """When too many wrong strings locked the CAPF operation; scheduling it again unlocks it."""

    @property
    def certificate(self) -> bytes | None:
        """The certificate encrypted configuration is wrapped for: the LSC, else the MIC."""
        return self.lsc or self.mic

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", device_name(self.name))
