"""A simulated phone's flash: its trust state saved to, and loaded from, its own directory.

Layout (one directory per phone)::

    PHONE/CTLFile.tlv   the installed CTL, byte for byte (absent: none installed)
    PHONE/ITLFile.tlv   the installed ITL, byte for byte
    PHONE/state.json    model, TVS servers, TVS cache, security mode, MIC/LSC flags
    PHONE/mic.pem       MIC certificate and private key (0600)
    PHONE/lsc.pem       LSC certificate and private key (0600)

This is the only module of the simulator that touches files; each file is
written whole to a temporary name and renamed, so a crash leaves the old
file or the new one. The decisions themselves live in
:mod:`phonetrust.policy.phone_trust`.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from phonetrust.errors import KeyMaterialError, LocalError, ParseError
from phonetrust.formats.tags import Role
from phonetrust.pki.pem import load_certificate_and_key, to_pem
from phonetrust.policy.models import PhoneModel
from phonetrust.policy.phone_trust import InstalledList, PhoneTrust, TvsCacheEntry

FORMAT = 1
CTL_FILE = "CTLFile.tlv"
ITL_FILE = "ITLFile.tlv"
STATE_FILE = "state.json"
MIC_FILE = "mic.pem"
LSC_FILE = "lsc.pem"
PRIVATE_MODE = 0o600
DIRECTORY_MODE = 0o700


class StorageError(LocalError):
    """A phone directory cannot be read back (missing, damaged, or from another version)."""


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """A certificate of the phone's own (MIC or LSC) and its private key."""

    certificate: x509.Certificate
    key: PrivateKeyTypes


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    mic: DeviceIdentity | None = None
    lsc: DeviceIdentity | None = None

    def decryption_key(self) -> PrivateKeyTypes | None:
        """The key that opens ``.enc.sgn`` files: the LSC's, else the MIC's (A6)."""
        own = self.lsc or self.mic
        return None if own is None else own.key


def save(directory: Path, state: PhoneTrust, keys: DeviceKeys | None = None) -> None:
    """Write the phone's state (and, when given, its keys) to ``directory``."""
    directory.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
    for name, installed in ((CTL_FILE, state.ctl_file), (ITL_FILE, state.itl_file)):
        if installed is None:
            (directory / name).unlink(missing_ok=True)
        else:
            _write(directory / name, installed.raw)
    if keys is not None:
        for name, identity in ((MIC_FILE, keys.mic), (LSC_FILE, keys.lsc)):
            if identity is None:
                (directory / name).unlink(missing_ok=True)
            else:
                _write(directory / name, to_pem(identity.certificate, identity.key), PRIVATE_MODE)
    has_mic = state.has_mic if keys is None else keys.mic is not None
    has_lsc = state.has_lsc if keys is None else keys.lsc is not None
    document = {
        "format": FORMAT,
        "model": asdict(state.model),
        "tvs_servers": [[address, port] for address, port in state.tvs_servers],
        "tvs_cache": {
            key: {
                "roles": sorted(int(r) for r in entry.roles),
                "expires_at": entry.expires_at,
                "certificate": base64.b64encode(entry.certificate).decode("ascii"),
            }
            for key, entry in sorted(state.tvs_cache.items())
        },
        "has_mic": has_mic,
        "has_lsc": has_lsc,
        "security_mode": state.security_mode,
    }
    _write(directory / STATE_FILE, (json.dumps(document, indent=2) + "\n").encode())


def load(directory: Path) -> tuple[PhoneTrust, DeviceKeys]:
    """Read back what :func:`save` wrote; :class:`StorageError` when it cannot."""
    try:
        doc = json.loads((directory / STATE_FILE).read_bytes())
        if doc.get("format") != FORMAT:
            raise StorageError(f"{directory}: state format {doc.get('format')!r}, not {FORMAT}")
        state = PhoneTrust(
            model=_model(doc["model"]),
            ctl_file=_installed(directory / CTL_FILE),
            itl_file=_installed(directory / ITL_FILE),
            tvs_servers=tuple((str(a), int(p)) for a, p in doc["tvs_servers"]),
            tvs_cache=MappingProxyType(
                {str(k): _cache_entry(v) for k, v in doc["tvs_cache"].items()}
            ),
            has_mic=bool(doc["has_mic"]),
            has_lsc=bool(doc["has_lsc"]),
            security_mode=int(doc["security_mode"]),
        )
        keys = DeviceKeys(_identity(directory / MIC_FILE), _identity(directory / LSC_FILE))
    except (OSError, ValueError, KeyError, TypeError, ParseError, KeyMaterialError) as exc:
        raise StorageError(f"{directory}: cannot load the phone's state: {exc}") from exc
    return state, keys


def _model(raw: dict[str, Any]) -> PhoneModel:
    known = {f.name for f in fields(PhoneModel)}
    if set(raw) - known:
        raise ValueError(f"unknown model fields {sorted(set(raw) - known)}")
    return PhoneModel(**raw)


def _installed(path: Path) -> InstalledList | None:
    return InstalledList(path.read_bytes()) if path.exists() else None


def _cache_entry(raw: dict[str, Any]) -> TvsCacheEntry:
    roles = frozenset(Role(int(r)) for r in raw["roles"])
    return TvsCacheEntry(roles, float(raw["expires_at"]), base64.b64decode(raw["certificate"]))


def _identity(path: Path) -> DeviceIdentity | None:
    if not path.exists():
        return None
    certificate, key = load_certificate_and_key(path.read_bytes(), source=str(path))
    return DeviceIdentity(certificate, key)


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, mode)  # O_CREAT's mode is filtered by the umask; the keys must be 0600
    os.replace(tmp, path)
