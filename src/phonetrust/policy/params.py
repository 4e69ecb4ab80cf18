"""Enterprise parameters phonetrust knows: names, defaults, what values they accept.

Names are CUCM's own (System > Enterprise Parameters), so an administrator
can type what they see in CUCM's page. ClusterSecurityMode is shown but set
only by ``utils ctl``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from phonetrust.errors import LocalError


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
