"""What a file name asked of TFTP means, and which names are never served.

A request names either one of the file plan's own files - the cluster's
``CTLFile.tlv`` / ``ITLFile.tlv``, a device's ``CTLSEP<MAC>.tlv`` /
``ITLSEP<MAC>.tlv`` (served the cluster file, spec/protocols.md), a
device's ``SEP<MAC>.cnf.xml[.sgn|.enc.sgn]`` - or some other file that may
come from the TFTP directory (firmware, ring lists, ``Desktops/...``).

:func:`interpret` normalises the name (backslashes become slashes; the
plan's names are matched without regard to case and given their canonical
spelling, the MAC in upper case) and refuses with :class:`RefusedName`:

- the empty name, a name longer than 255 characters, NUL or other control
  characters;
- absolute paths (``/x``, ``\\x``, ``C:x``), empty, ``.`` and ``..``
  segments, and hidden names (a segment starting with a dot);
- key material, whatever its folder: ``*.p12`` (``ITLRecovery.p12``),
  ``*.pfx``, ``*.pem``, ``*.key``, ``*.jks``, ``*.keystore``.

Every refusal is answered "File not found" (error 1), so that probing
learns nothing; the reason goes to the log only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from phonetrust.errors import RemoteError

MAX_NAME = 255
KEY_SUFFIXES = (".p12", ".pfx", ".pem", ".key", ".jks", ".keystore")
CTL_NAME = "CTLFile.tlv"
ITL_NAME = "ITLFile.tlv"


class RefusedName(RemoteError):
    """A name TFTP never serves; ``reason`` is for the log."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name[:80]!r}: {reason}")
        self.reason = reason


class NameKind(Enum):
    CTL = "cluster CTL"
    ITL = "cluster ITL"
    CTL_DEVICE = "per-device CTL"
    ITL_DEVICE = "per-device ITL"
    CONFIG = "configuration"
    CONFIG_SIGNED = "signed configuration"
    CONFIG_ENCRYPTED = "encrypted configuration"
    OTHER = "other file"


TRUST_LISTS = frozenset({NameKind.CTL, NameKind.ITL, NameKind.CTL_DEVICE, NameKind.ITL_DEVICE})
CONFIGS = frozenset({NameKind.CONFIG, NameKind.CONFIG_SIGNED, NameKind.CONFIG_ENCRYPTED})


@dataclass(frozen=True, slots=True)
class TftpName:
    name: str
    """The canonical name (for other files: the normalised path)."""
    kind: NameKind
    device: str | None = None
    """``SEP<MAC>`` for per-device names."""

    @property
    def plan_name(self) -> str:
        """The file of the plan that answers this name."""
        if self.kind is NameKind.CTL_DEVICE:
            return CTL_NAME
        if self.kind is NameKind.ITL_DEVICE:
            return ITL_NAME
        return self.name

    @property
    def trust_list(self) -> bool:
        return self.kind in TRUST_LISTS


_PER_DEVICE = re.compile(r"^(CTL|ITL)SEP([0-9A-F]{12})\.tlv$", re.IGNORECASE)
_CLUSTER = re.compile(r"^(CTL|ITL)File\.tlv$", re.IGNORECASE)
_CONFIG = re.compile(r"^SEP([0-9A-F]{12})\.cnf\.xml(\.sgn|\.enc\.sgn)?$", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONFIG_KINDS = {
    "": NameKind.CONFIG,
    ".sgn": NameKind.CONFIG_SIGNED,
    ".enc.sgn": NameKind.CONFIG_ENCRYPTED,
}


def interpret(raw: str) -> TftpName:
    """The meaning of a requested name, or :class:`RefusedName`."""
    if not raw:
        raise RefusedName(raw, "empty name")
    if len(raw) > MAX_NAME:
        raise RefusedName(raw, f"longer than {MAX_NAME} characters")
    if _CONTROL.search(raw):
        raise RefusedName(raw, "NUL or control characters")
    name = raw.replace("\\", "/")
    if name.startswith("/") or _DRIVE.match(name):
        raise RefusedName(raw, "absolute path")
    segments = name.split("/")
    for segment in segments:
        if segment in ("", ".", ".."):
            raise RefusedName(raw, "path outside the TFTP directory")
        if segment.startswith("."):
            raise RefusedName(raw, "hidden file")
    if segments[-1].lower().endswith(KEY_SUFFIXES):
        raise RefusedName(raw, "key material is never served")
    if len(segments) > 1:
        return TftpName(name, NameKind.OTHER)
    if match := _PER_DEVICE.match(name):
        which, mac = match.group(1).upper(), match.group(2).upper()
        kind = NameKind.CTL_DEVICE if which == "CTL" else NameKind.ITL_DEVICE
        return TftpName(f"{which}SEP{mac}.tlv", kind, f"SEP{mac}")
    if match := _CLUSTER.match(name):
        which = match.group(1).upper()
        return (
            TftpName(CTL_NAME, NameKind.CTL) if which == "CTL" else TftpName(ITL_NAME, NameKind.ITL)
        )
    if match := _CONFIG.match(name):
        mac, suffix = match.group(1).upper(), (match.group(2) or "").lower()
        return TftpName(f"SEP{mac}.cnf.xml{suffix}", _CONFIG_KINDS[suffix], f"SEP{mac}")
    return TftpName(name, NameKind.OTHER)
