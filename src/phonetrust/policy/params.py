"""Enterprise parameters phonetrust knows: names, defaults, what values they accept.

Names are CUCM's own (System > Enterprise Parameters), so an administrator
can type what they see in CUCM's page. ClusterSecurityMode is shown but set
only by ``utils ctl``.

The store keeps each parameter as the text an administrator set (normalised
by its :class:`Param`), so backups and the database stay readable; the rules
read an :class:`EnterpriseParams`, parsed once from that text, so none of
them compares strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from phonetrust.errors import LocalError
from phonetrust.formats.algorithms import Digest


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    default: str
    help: str
    normalise: Callable[[str], str]
    read_only: bool = False


def _bool(text: str) -> str:
    value = text.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return "True"
    if value in ("false", "0", "no", "off"):
        return "False"
    raise LocalError(f"{text!r} is not True or False")


def _digest(text: str) -> str:
    value = text.strip().upper().replace("_", "-")
    if value in ("SHA-1", "SHA1"):
        return "SHA-1"
    if value in ("SHA-512", "SHA512"):
        return "SHA-512"
    raise LocalError(f"{text!r} is not SHA-1 or SHA-512")


def _int_range(low: int, high: int) -> Callable[[str], str]:
    def check(text: str) -> str:
        try:
            value = int(text.strip())
        except ValueError:
            raise LocalError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise LocalError(f"{value} is outside {low}..{high}")
        return str(value)

    return check


MAX_ALTERNATES = 10
DEFAULT_TFTP_PORT = 69
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_SERVER_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def parse_servers(text: str) -> list[tuple[str, int]]:
    """``host[:port], ...`` as (host, port) pairs, port 69 by default; at most ten."""
    servers: list[tuple[str, int]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        host, _, port_text = item.partition(":")
        if not _SERVER_HOST.match(host):
            raise LocalError(f"{item!r} is not host[:port] (a host name or IPv4 address)")
        port = DEFAULT_TFTP_PORT
        if port_text:
            if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
                raise LocalError(f"{item!r}: the port must be 1..65535")
            port = int(port_text)
        servers.append((host, port))
    if len(servers) > MAX_ALTERNATES:
        raise LocalError(f"at most {MAX_ALTERNATES} alternate file servers")
    return servers


def _servers(text: str) -> str:
    return ", ".join(h if p == DEFAULT_TFTP_PORT else f"{h}:{p}" for h, p in parse_servers(text))


def _mode(text: str) -> str:
    if text.strip() not in ("0", "1"):
        raise LocalError("ClusterSecurityMode is 0 (non-secure) or 1 (mixed)")
    return text.strip()


CLUSTER_SECURITY_MODE = "ClusterSecurityMode"
ROLLBACK = "Prepare Cluster for Rollback to pre 8.0"
TFTP_DIGEST = "TFTP File Signature Digest Algorithm"
CAPF_EXPIRY_DAYS = "CAPF Operation Expires in (days)"
TVS_TTL = "TVS Certificate Cache TTL (seconds)"
AUTO_REGISTRATION = "Auto-registration"
ALTERNATE_FILE_SERVERS = "Alternate Cisco File Servers"

PARAMS: dict[str, Param] = {
    p.name: p
    for p in (
        Param(
            CLUSTER_SECURITY_MODE,
            "0",
            "0 non-secure, 1 mixed mode; changed with utils ctl set-cluster",
            _mode,
            read_only=True,
        ),
        Param(
            ROLLBACK,
            "False",
            "serve an ITL with empty functions so phones can move to pre-8.0 (scenario E1); "
            "not to be left on",
            _bool,
        ),
        Param(TFTP_DIGEST, "SHA-1", "digest of TFTP file signatures: SHA-1 or SHA-512", _digest),
        Param(
            CAPF_EXPIRY_DAYS, "10", "days a pending CAPF operation stays valid", _int_range(1, 365)
        ),
        Param(TVS_TTL, "86400", "seconds phones may cache a TVS answer", _int_range(1, 10**7)),
        Param(
            AUTO_REGISTRATION,
            "True",
            "unknown phones get XMLDefault.cnf.xml; mixed mode turns it off",
            _bool,
        ),
        Param(
            ALTERNATE_FILE_SERVERS,
            "",
            "TFTP servers of remote clusters, host[:port] separated by commas: files this "
            "cluster lacks are fetched from them (centralized TFTP, scenario E2)",
            _servers,
        ),
    )
}


def lookup(name: str) -> Param:
    """A parameter by name, case and spacing forgiven."""
    wanted = " ".join(name.split()).lower()
    for param in PARAMS.values():
        if param.name.lower() == wanted:
            return param
    raise LocalError(f"Unknown enterprise parameter {name!r}; known: " + "; ".join(PARAMS))


def effective(stored: dict[str, str]) -> dict[str, str]:
    """Every parameter's value: the stored one, else its default."""
    return {name: stored.get(name, p.default) for name, p in PARAMS.items()}


Server = tuple[str, int]
_DIGESTS = {"SHA-1": Digest.SHA1, "SHA-512": Digest.SHA512}
"""The digests TFTP File Signature Digest Algorithm offers, by the text ``_digest`` leaves."""
_DIGEST_TEXT = {digest: text for text, digest in _DIGESTS.items()}


@dataclass(frozen=True, slots=True)
class EnterpriseParams:
    """The enterprise parameters the rules read, typed; a missing one has its default.

    ClusterSecurityMode is not here: the cluster's record is what holds the
    mode (``utils ctl`` changes it), and ``param list`` shows it from there.
    """

    rollback: bool = False
    """Prepare Cluster for Rollback to pre 8.0 (E1)."""
    tftp_digest: Digest = Digest.SHA1
    capf_expiry_days: int = 10
    tvs_ttl: int = 86_400
    auto_registration: bool = True
    alternate_file_servers: tuple[Server, ...] = ()

    def __post_init__(self) -> None:
        """A value ``param set`` would refuse cannot be built either, so none is ever stored."""
        if self.tftp_digest not in _DIGEST_TEXT:
            raise LocalError(f"{TFTP_DIGEST} is SHA-1 or SHA-512, not {self.tftp_digest.name}")
        for name, text in self.stored().items():
            PARAMS[name].normalise(text)

    @classmethod
    def from_stored(cls, stored: Mapping[str, str]) -> EnterpriseParams:
        """Parse what the store keeps; a value no ``param set`` could have written is an error
        naming the parameter, rather than a silent default."""

        def text(name: str) -> str:
            value = stored.get(name, PARAMS[name].default)
            try:
                return PARAMS[name].normalise(value)
            except LocalError as exc:
                raise LocalError(f"enterprise parameter {name!r} holds {value!r}: {exc}") from None

        return cls(
            rollback=text(ROLLBACK) == "True",
            tftp_digest=_DIGESTS[text(TFTP_DIGEST)],
            capf_expiry_days=int(text(CAPF_EXPIRY_DAYS)),
            tvs_ttl=int(text(TVS_TTL)),
            auto_registration=text(AUTO_REGISTRATION) == "True",
            alternate_file_servers=tuple(parse_servers(text(ALTERNATE_FILE_SERVERS))),
        )

    def stored(self) -> dict[str, str]:
        """The text the store keeps for each of these parameters (the inverse of
        :meth:`from_stored`)."""
        return {
            ROLLBACK: str(self.rollback),
            TFTP_DIGEST: _DIGEST_TEXT[self.tftp_digest],
            CAPF_EXPIRY_DAYS: str(self.capf_expiry_days),
            TVS_TTL: str(self.tvs_ttl),
            AUTO_REGISTRATION: str(self.auto_registration),
            ALTERNATE_FILE_SERVERS: _servers(
                ", ".join(f"{h}:{p}" for h, p in self.alternate_file_servers)
            ),
        }
