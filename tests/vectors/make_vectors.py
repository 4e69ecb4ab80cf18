"""Generator of the golden vectors in ``tests/vectors/``: how each of them was made.

Run from the repository root::

    .venv/bin/python tests/vectors/make_vectors.py             # rebuild outputs from stored keys
    .venv/bin/python tests/vectors/make_vectors.py --new-keys  # new RSA keys: every file changes

Provenance, in the order the files are made:

1. **Keys.** The only random inputs. ``--new-keys`` draws fresh RSA keys with
   ``cryptography`` (public exponent 65537); without it the keys are read back
   from the PEM files already here, so a rerun reproduces every file byte for byte.
2. **Certificates**, from those keys and fixed inputs (:data:`IDENTITIES`):
   subject, 16-byte serial, validity from :data:`CERT_NOW`, SHA-256 signature.
   Role certificates are self-signed with :func:`phonetrust.pki.selfsigned.self_signed`
   (CUCM's style: ``CN=..;OU=TAC;O=Cisco;L=Krakow;ST=Malopolska;C=PL``); the phone's
   LSC is issued by the CAPF key. RSA PKCS#1 v1.5 signatures are deterministic,
   so the same key always gives the same certificate. Each PEM holds the
   certificate, then the PKCS#8 key (:func:`phonetrust.pki.pem.to_pem`, the
   layout the CLI reads).
3. **Trust lists, ``.sgn`` and stub**, by phonetrust's writers, signed by the
   CallManager key with SHA-1 and the fixed :data:`TIMESTAMP`: deterministic.
4. **``.enc.sgn``**: :func:`~phonetrust.formats.encsgn.encrypt_file` with the fixed
   :data:`AES_KEY` and :data:`IV`, so IV, padding and ciphertext are fixed. The
   AES key is then wrapped for the device with RSA PKCS#1 v1.5 *encryption*,
   whose padding is random by design: the KEY element - and so the file's
   signature - differs on every call. The stored wrapped key is therefore an
   input like the RSA keys: this script reuses it while the device key still
   unwraps it to :data:`AES_KEY` (:func:`with_wrapped_key`), so reruns rewrite
   nothing. The test rebuilds the file exactly from that wrapped key, and checks
   a fresh ``encrypt_file`` against it everywhere except the KEY and SIGNATURE
   values (:func:`mask_random`).
5. **The stub**, ``SEP<MAC>.cnf.xml.stub.sgn``: what TFTP serves as
   ``SEP<MAC>.cnf.xml.sgn`` beside the ``.enc.sgn`` (that is the FILENAME in
   its header); stored under another name so it does not overwrite the
   ``.sgn`` of the full configuration.

The test (``tests/formats/test_vectors.py``) never writes here: it rebuilds
each file in memory with the functions below from the stored PEMs and demands
equality with the stored bytes.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from phonetrust.formats.algorithms import Digest
from phonetrust.formats.encsgn import ENC_VERSION, EncryptedFile, encrypt_file
from phonetrust.formats.record import ITL_DNS_NAME, Record
from phonetrust.formats.sgn import sign_file
from phonetrust.formats.signing import Signer
from phonetrust.formats.stub import build_stub
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import build_trust_list, sign_header
from phonetrust.pki import pem
from phonetrust.pki.selfsigned import Organisation, self_signed

VECTORS = Path(__file__).resolve().parent

TIMESTAMP = 1_767_225_600
"""TIMESTAMP of every signed file: 2026-01-01T00:00:00Z."""

CERT_NOW = datetime(2026, 1, 1, tzinfo=UTC)
"""The ``now`` certificates are made at (valid from five minutes before, for five years)."""

VALIDITY_DAYS = 5 * 365

AES_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
IV = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")

PUBLISHER = "cucm-1051-a-pub"
PUBLISHER_IP = ipaddress.IPv4Address("10.48.46.4")
MAC = "001122334455"
CONFIG = f"SEP{MAC}.cnf.xml"

ORG = Organisation()  # OU=TAC, O=Cisco, L=Krakow, ST=Malopolska, C=PL


@dataclass(frozen=True, slots=True)
class IdentitySpec:
    """Everything that goes into one certificate besides its key."""

    pem_name: str
    common_name: str
    bits: int
    serial_hex: str
    issued_by: str | None = None
    """PEM name of the issuing identity; None for self-signed."""

    @property
    def serial(self) -> int:
        return int(self.serial_hex, 16)


CALLMANAGER = IdentitySpec("CallManager.pem", PUBLISHER, 1024, "70caf64e2e4b0bb1a8d51c6a2f3e9d01")
TVS = IdentitySpec("TVS.pem", PUBLISHER, 2048, "5b1e6d7c8a9f0e1d2c3b4a5968778695")
CAPF = IdentitySpec("CAPF.pem", "CAPF-5a1b2c3d", 1024, "3c4d5e6f708192a3b4c5d6e7f8091a2b")
ITLRECOVERY = IdentitySpec(
    "ITLRecovery.pem", f"ITLRECOVERY_{PUBLISHER}", 1024, "4f2a6b8c0d1e3f5a7b9c0d2e4f6a8b0c"
)
DEVICE = IdentitySpec(
    f"SEP{MAC}-LSC.pem", f"SEP{MAC}", 2048, "2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f70", issued_by="CAPF.pem"
)
IDENTITIES = (CALLMANAGER, TVS, CAPF, ITLRECOVERY, DEVICE)

CONFIG_XML = f"""\
<?xml version="1.0" encoding="UTF-8"?>
<device xsi:type="axl:XIPPhone" ctiid="548" uuid="{{7fe8bd6e-1d3c-4a5b-9c2d-3e4f5a6b7c8d}}">
<fullConfig>true</fullConfig>
<deviceProtocol>SCCP</deviceProtocol>
<sshUserId></sshUserId>
<sshPassword></sshPassword>
<ipAddressMode>0</ipAddressMode>
<devicePool uuid="{{1b1b9eb6-7803-11d3-bdf0-00108302ead1}}">
<revertPriority>0</revertPriority>
<name>Default</name>
<dateTimeSetting uuid="{{9ec4850a-7748-11d3-bdf0-00108302ead1}}">
<name>CMLocal</name>
<dateTemplate>D.M.Y</dateTemplate>
<timeZone>Central Europe Standard/Daylight Time</timeZone>
<olsonTimeZone>Europe/Warsaw</olsonTimeZone>
</dateTimeSetting>
<callManagerGroup>
<name>Default</name>
<tftpDefault>true</tftpDefault>
<members>
<member priority="0">
<callManager>
<name>{PUBLISHER}</name>
<description>{PUBLISHER} (Publisher)</description>
<ports>
<ethernetPhonePort>2000</ethernetPhonePort>
<sipPort>5060</sipPort>
<securedSipPort>5061</securedSipPort>
</ports>
<processNodeName>{PUBLISHER_IP}</processNodeName>
</callManager>
</member>
</members>
</callManagerGroup>
<connectionMonitorDuration>120</connectionMonitorDuration>
</devicePool>
<TVS>
<members>
<member priority="0">
<port>2445</port>
<address>{PUBLISHER}</address>
</member>
</members>
</TVS>
<loadInformation>SCCP45.9-4-2SR4-3S</loadInformation>
<vendorConfig>
<webAccess>0</webAccess>
<sshAccess>1</sshAccess>
</vendorConfig>
<versionStamp>{TIMESTAMP}-7f1d9c2e-4b3a-4d5e-8f6a-1b2c3d4e5f60</versionStamp>
<userLocale>
<name>English_United_States</name>
<langCode>en_US</langCode>
</userLocale>
<networkLocale>United_States</networkLocale>
<deviceSecurityMode>3</deviceSecurityMode>
<authenticationURL>http://{PUBLISHER_IP}:8080/ccmcip/authenticate.jsp</authenticationURL>
<secureAuthenticationURL>https://{PUBLISHER_IP}:8443/ccmcip/authenticate.jsp\
</secureAuthenticationURL>
<transportLayerProtocol>3</transportLayerProtocol>
<capfAuthMode>0</capfAuthMode>
<capfList>
<capf>
<phonePort>3804</phonePort>
<processNodeName>{PUBLISHER}</processNodeName>
</capf>
</capfList>
<certHash></certHash>
<encrConfig>false</encrConfig>
</device>
""".encode()
"""A small SCCP phone's configuration, shaped like CUCM's (spec/config-xml.md §1)."""


@dataclass(frozen=True, slots=True)
class Identity:
    certificate: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def signer(self) -> Signer:
        return Signer.from_private_key(self.certificate, self.key)


@dataclass(frozen=True, slots=True)
class Identities:
    callmanager: Identity
    tvs: Identity
    capf: Identity
    itlrecovery: Identity
    device: Identity

    def all(self) -> tuple[Identity, ...]:
        """In the order of :data:`IDENTITIES`."""
        return (self.callmanager, self.tvs, self.capf, self.itlrecovery, self.device)


# -- step 2: certificates ------------------------------------------------------


def make_certificate(
    spec: IdentitySpec, key: rsa.RSAPrivateKey, issuer: Identity | None = None
) -> x509.Certificate:
    """The certificate of ``spec`` for ``key``; deterministic for a given key."""
    subject = ORG.name(spec.common_name)
    if issuer is None:
        return self_signed(subject, key, now=CERT_NOW, days=VALIDITY_DAYS, serial=spec.serial)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(spec.serial)
        .not_valid_before(CERT_NOW - timedelta(minutes=5))
        .not_valid_after(CERT_NOW + timedelta(days=VALIDITY_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(issuer.key, hashes.SHA256())
    )


def load_identity(directory: Path, spec: IdentitySpec) -> Identity:
    """Certificate and key as stored in ``directory``."""
    path = directory / spec.pem_name
    certificate, key = pem.load_certificate_and_key(path.read_bytes(), source=str(path))
    if not isinstance(key, rsa.RSAPrivateKey):
        raise TypeError(f"{path}: not an RSA key")
    return Identity(certificate, key)


def load_identities(directory: Path = VECTORS) -> Identities:
    return Identities(*(load_identity(directory, spec) for spec in IDENTITIES))


# -- step 3 and 4: the files -------------------------------------------------------


def build_itl(ids: Identities) -> bytes:
    """CUCM's ITL layout: SAST signer, CCM+TFTP, CAPF and TVS by hash, ITLRECOVERY as SAST."""
    cm = ids.callmanager.certificate
    records = [
        Record.from_certificate(cm, Role.SAST, dns_name=ITL_DNS_NAME),
        Record.from_certificate(cm, Role.CCM_TFTP, dns_name=ITL_DNS_NAME),
        Record.from_certificate(ids.capf.certificate, Role.CAPF, hash_only=True),
        Record.from_certificate(ids.tvs.certificate, Role.TVS, hash_only=True),
        Record.from_certificate(ids.itlrecovery.certificate, Role.SAST),
    ]
    itl = build_trust_list(
        ids.callmanager.signer, records, filename="ITLFile.tlv", timestamp=TIMESTAMP
    )
    return itl.to_wire()


def build_ctl(ids: Identities) -> bytes:
    """A tokenless CTL: the CallManager certificate as SAST and CCM+TFTP, then CAPF."""
    cm = ids.callmanager.certificate
    host, ip = PUBLISHER, PUBLISHER_IP
    records = [
        Record.from_certificate(cm, Role.SAST, dns_name=host, ip_address=ip),
        Record.from_certificate(cm, Role.CCM_TFTP, dns_name=host, ip_address=ip),
        Record.from_certificate(ids.capf.certificate, Role.CAPF, dns_name=host, ip_address=ip),
    ]
    ctl = build_trust_list(
        ids.callmanager.signer, records, filename="CTLFile.tlv", timestamp=TIMESTAMP
    )
    return ctl.to_wire()


def build_sgn(ids: Identities, config: bytes) -> bytes:
    signed = sign_file(
        config, ids.callmanager.signer, filename=f"{CONFIG}.sgn", timestamp=TIMESTAMP
    )
    return signed.to_wire()


def build_stub_sgn(ids: Identities, config: bytes) -> bytes:
    """The signed stub served as ``SEP<MAC>.cnf.xml.sgn`` beside the ``.enc.sgn``."""
    stub = build_stub(config, ids.device.certificate)
    signed = sign_file(stub, ids.callmanager.signer, filename=f"{CONFIG}.sgn", timestamp=TIMESTAMP)
    return signed.to_wire()


def encrypt_config(ids: Identities, config: bytes) -> EncryptedFile:
    """A fresh ``.enc.sgn``: equal to the stored one except the wrapped key and signature."""
    return encrypt_file(
        config,
        ids.callmanager.signer,
        ids.device.certificate,
        filename=f"{CONFIG}.enc.sgn",
        timestamp=TIMESTAMP,
        aes_key=AES_KEY,
        iv=IV,
    )


def with_wrapped_key(ids: Identities, encrypted: EncryptedFile, wrapped_key: bytes) -> bytes:
    """``encrypted`` with its KEY value replaced, re-signed the way ``encrypt_file`` signs.

    Wrapping is ``encrypt_file``'s one random step; with the wrapped key held
    fixed, header layout, element order, padding and the (deterministic)
    signature all come from the library, so the result is reproducible.
    """
    info = replace(encrypted.encryption, wrapped_key=wrapped_key)
    header = sign_header(
        ids.callmanager.signer,
        encrypted.ciphertext,
        version=ENC_VERSION,
        filename=f"{CONFIG}.enc.sgn",
        digest=Digest(info.hash_algorithm),
        timestamp=TIMESTAMP,
        extra=info.nodes(),
    )
    return EncryptedFile(header, encrypted.ciphertext).to_wire()


def mask_random(data: bytes) -> bytes:
    """An ``.enc.sgn`` with its two random values (wrapped KEY, SIGNATURE) zeroed in place."""
    parsed = EncryptedFile.from_wire(data)
    out = bytearray(data)
    signature = parsed.header.signature or b""
    for value in (parsed.encryption.wrapped_key, signature):
        at = data.find(value)
        if not value or at < 0:
            raise ValueError("value not found in the file")
        out[at : at + len(value)] = bytes(len(value))
    return bytes(out)


OUTPUTS = (
    "ITLFile.tlv",
    "CTLFile.tlv",
    f"{CONFIG}.sgn",
    f"{CONFIG}.enc.sgn",
    f"{CONFIG}.stub.sgn",
)
"""Generated files besides the PEMs and the XML (the stub is stored under a name of its own)."""


def build_deterministic(ids: Identities, config: bytes) -> dict[str, bytes]:
    """Every output that depends on nothing random: all but the ``.enc.sgn``."""
    return {
        "ITLFile.tlv": build_itl(ids),
        "CTLFile.tlv": build_ctl(ids),
        f"{CONFIG}.sgn": build_sgn(ids, config),
        f"{CONFIG}.stub.sgn": build_stub_sgn(ids, config),
    }


# -- the script --------------------------------------------------------------------


def _identities(directory: Path, new_keys: bool) -> Identities:
    made: dict[str, Identity] = {}
    for spec in IDENTITIES:
        if new_keys:
            key = rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
        else:
            key = load_identity(directory, spec).key
        if key.key_size != spec.bits:
            raise ValueError(f"{spec.pem_name}: stored key is {key.key_size} bits, not {spec.bits}")
        issuer = made[spec.issued_by] if spec.issued_by else None
        made[spec.pem_name] = Identity(make_certificate(spec, key, issuer), key)
    return Identities(*(made[spec.pem_name] for spec in IDENTITIES))


def _write(path: Path, data: bytes) -> None:
    old = path.read_bytes() if path.exists() else None
    if old != data:
        path.write_bytes(data)
    state = "unchanged" if old == data else "written"
    print(f"{path.name:40} {len(data):6} bytes  {state}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--new-keys", action="store_true", help="draw fresh RSA keys (every vector changes)"
    )
    parser.add_argument("--directory", type=Path, default=VECTORS, help="where the vectors live")
    args = parser.parse_args(argv)
    directory: Path = args.directory
    ids = _identities(directory, args.new_keys)
    for spec, ident in zip(IDENTITIES, ids.all(), strict=True):
        _write(directory / spec.pem_name, pem.to_pem(ident.certificate, ident.key))
    _write(directory / CONFIG, CONFIG_XML)
    for name, data in build_deterministic(ids, CONFIG_XML).items():
        _write(directory / name, data)
    enc_path = directory / f"{CONFIG}.enc.sgn"
    fresh = encrypt_config(ids, CONFIG_XML)
    enc = fresh.to_wire()
    if enc_path.exists() and not args.new_keys:
        # Keep the stored wrapped key while the device key still unwraps it to
        # AES_KEY: reruns then rewrite nothing, and a changed writer changes
        # only what it must.
        stored_key = EncryptedFile.from_wire(enc_path.read_bytes()).encryption.wrapped_key
        if ids.device.key.decrypt(stored_key, padding.PKCS1v15()) == AES_KEY:
            enc = with_wrapped_key(ids, fresh, stored_key)
    _write(enc_path, enc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
