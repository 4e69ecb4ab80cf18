"""Certificates with exact byte counts, for the layout and listing tests.

The byte counts CUCM prints depend on name lengths, serial lengths, key
sizes and the certificate's DER size. :func:`phonetrust.testing.pki` fixes
the first three; :func:`exact_certificate` also reaches an exact DER size by
padding the certificate with one private, non-critical extension of tuned
length. RSA PKCS#1 v1.5 signatures always have the modulus' size, so the
size of a certificate does not depend on which key signs it.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from phonetrust.formats import names
from phonetrust.formats.record import ETOKEN_DNS_NAME, Record
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList, build_trust_list
from phonetrust.pki.selfsigned import Organisation
from phonetrust.testing.pki import FIXED_NOW, Identity, name_of_length, plain_name, rsa_key

PAD_OID = "1.3.6.1.4.1.55555.7"
"""A private arc for the padding extension (nothing reads it)."""

NOT_AFTER = datetime(2031, 1, 1, tzinfo=UTC)

ETOKEN_ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Cisco Manufacturing CA"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cisco Systems"),
    ]
)
"""Renders ``CN=Cisco Manufacturing CA;O=Cisco Systems``: 42 bytes with its NUL, as in 004."""


def rendered_length(name: x509.Name) -> int:
    """SUBJECTNAME / ISSUERNAME / SIGNERNAME / CANAME length: CUCM rendering plus NUL."""
    return len(names.encode_text(names.cucm_name(name)))


def cucm_name_of_length(length: int, *, host: str = "h") -> x509.Name:
    """A name whose CUCM rendering with NUL is ``length`` bytes.

    Long enough lengths give CUCM's six-attribute shape (``CN=..;OU=TAC;...;C=PL``),
    shorter ones a lone CN (``CN=JASBURNS-AD``: 15 bytes).
    """
    try:
        name = name_of_length(length)
    except ValueError:
        name = plain_name((host * length)[: length - len("CN=") - 1])
    assert rendered_length(name) == length, (length, names.cucm_name(name))
    return name


def etoken_subject(adn: str = "ADN008580ef") -> x509.Name:
    """An eToken subject whose rendering has the length of ``cn="SAST-ADN.. ";ou=IPCBU;o="..."``.

    The quotes are part of the values so that the rendering
    ``CN="SAST-ADN008580ef ";OU=IPCBU;O="Cisco Systems, Inc."`` has the same 56
    bytes as CUCM's lower-case spelling.
    """
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f'"SAST-{adn} "'),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "IPCBU"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, '"Cisco Systems, Inc."'),
        ]
    )
    assert rendered_length(name) == 56
    return name


def der_size(cert: x509.Certificate) -> int:
    return len(cert.public_bytes(serialization.Encoding.DER))


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    serial: int,
    key: rsa.RSAPublicKey,
    signing_key: rsa.RSAPrivateKey,
    *,
    pad: int = 0,
    oid_extra: int = 0,
) -> x509.Certificate:
    oid = x509.ObjectIdentifier(PAD_OID + ".1" * oid_extra)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(serial)
        .not_valid_before(FIXED_NOW)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.UnrecognizedExtension(oid, b"\x00" * pad), critical=False)
        .sign(signing_key, hashes.SHA256())
    )


def exact_certificate(
    subject: x509.Name,
    *,
    serial: int,
    bits: int = 1024,
    slot: int = 0,
    issuer: x509.Name | None = None,
    issuer_bits: int | None = None,
    issuer_slot: int = 99,
    size: int | None = None,
    public_exponent: int | None = None,
) -> Identity:
    """A certificate of ``size`` DER bytes (any size when None).

    Self-signed unless ``issuer`` is given; then it claims that issuer and is
    signed by a cached ``issuer_bits`` key (the SIGNATURE element's length).
    ``public_exponent`` replaces 65537 in the certified public key (the
    identity's private key then no longer matches it; only for layouts).
    """
    key = rsa_key(bits, slot)
    if issuer is None:
        issuer, signing_key = subject, key
    else:
        signing_key = rsa_key(issuer_bits or bits, issuer_slot)
    public = key.public_key()
    if public_exponent is not None:
        modulus = public.public_numbers().n
        public = rsa.RSAPublicNumbers(public_exponent, modulus).public_key()
    base = der_size(_certificate(subject, issuer, serial, public, signing_key))
    if size is None or size == base:
        cert = _certificate(subject, issuer, serial, public, signing_key)
        return Identity(cert, key)
    if size < base:
        raise ValueError(f"the smallest such certificate is {base} bytes, not {size}")
    # Each DER length that crosses 127 or 255 grows by a byte, so the size can
    # jump over the target; one more OID arc shifts the series by a byte.
    for oid_extra in range(4):
        first = max(0, size - base - oid_extra - 8)
        for pad in range(first, size - base + 1):
            cert = _certificate(
                subject, issuer, serial, public, signing_key, pad=pad, oid_extra=oid_extra
            )
            got = der_size(cert)
            if got == size:
                return Identity(cert, key)
            if got > size:
                break
    raise ValueError(f"no padding gives a certificate of exactly {size} bytes")


# -- the ITL of reference listing 003 ------------------------------------------------

LAB_003 = Organisation(unit="tac", organisation="cisco", locality="rtp", state="nc", country="US")
"""``CN=..;OU=tac;O=cisco;L=rtp;ST=nc;C=US``: the cluster of listing 003."""

PUB_003 = "test10pub.joemar2.lab"
SUB_003 = "test10sub.joemar2.lab"
RECOVERY_003 = "ITLRECOVERY_test10pub.jmr2.lab"
"""003 prints ``CN=ITLRECOVERY_test10pub.joemar2.lab;...`` (69 bytes) with the length 66:
the document's host names were edited. The length is what CUCM wrote, so this
CN is shortened to give 66 bytes."""

ITL_003_WRITTEN = datetime(2014, 2, 26, 10, 24, 27, tzinfo=timezone(timedelta(hours=-8), "PST"))
"""``The ITL File was last modified on Wed Feb 26 10:24:27 PST 2014``."""

ITL_003_RESET = datetime(2014, 2, 26, 10, 34, 46, tzinfo=timezone(timedelta(hours=-8), "PST"))
"""``... Wed Feb 26 10:34:46 PST 2014``: after ``utils itl reset localkey``."""


def _serial(colon_hex: str) -> int:
    return int(colon_hex.replace(":", ""), 16)


@dataclass(frozen=True)
class Cluster003:
    """The certificates of listing 003, with its names, serials, key and DER sizes."""

    callmanager: Identity
    capf: Identity
    tvs: Identity
    itlrecovery: Identity
    sub_tvs: Identity

    def records(self) -> tuple[Record, ...]:
        """Records 1-6 of 003: SAST, TFTP, CAPF and TVS (hashes), ITLRECOVERY, TVS of the sub."""
        return (
            Record.from_certificate(self.callmanager.certificate, Role.SAST),
            Record.from_certificate(self.callmanager.certificate, Role.TFTP),
            Record.from_certificate(self.capf.certificate, Role.CAPF, hash_only=True),
            Record.from_certificate(self.tvs.certificate, Role.TVS, hash_only=True),
            Record.from_certificate(self.itlrecovery.certificate, Role.SAST),
            Record.from_certificate(self.sub_tvs.certificate, Role.TVS, hash_only=True),
        )

    def itl(self, *, reset: bool = False) -> TrustList:
        """The ITL before reset (signed by CallManager) or after (signed by ITLRecovery)."""
        signer = (self.itlrecovery if reset else self.callmanager).signer
        written = ITL_003_RESET if reset else ITL_003_WRITTEN
        return build_trust_list(
            signer, self.records(), filename="ITLFile.tlv", timestamp=int(written.timestamp())
        )


@functools.cache
def cluster_003() -> Cluster003:
    return Cluster003(
        callmanager=exact_certificate(
            LAB_003.name(PUB_003),
            serial=_serial("61:40:52:E9:1E:E9:7C:77:9B:7B:5E:81:0A:B1:46:A5"),
            slot=0,
            size=684,
        ),
        capf=exact_certificate(
            LAB_003.name("CAPF-75638ad9"),
            serial=_serial("42:BF:37:77:9B:16:AF:1C:D2:30:88:C2:17:24:9D:AA"),
            slot=1,
        ),
        tvs=exact_certificate(
            LAB_003.name(PUB_003),
            serial=_serial("76:59:84:D8:B7:30:60:63:36:E5:C7:B6:A7:DD:B9:D6"),
            slot=2,
        ),
        itlrecovery=exact_certificate(
            LAB_003.name(RECOVERY_003),
            serial=_serial("6E:3F:65:C2:97:B3:E0:1F:E7:42:81:AB:52:CC:55:DC"),
            slot=3,
            size=692,
        ),
        sub_tvs=exact_certificate(
            LAB_003.name(SUB_003),
            serial=_serial("67:D1:A1:9E:F8:AB:91:E6:C0:A6:10:35:26:30:EE:02"),
            bits=2048,
            slot=1,
        ),
    )


# -- the CTL of reference listing 004 ------------------------------------------------

CTL_004_WRITTEN = datetime(2011, 8, 31, 13, 28, 3, tzinfo=timezone(timedelta(hours=-4), "EDT"))
"""``The CTL File was last modified on Wed Aug 31 13:28:03 EDT 2011``."""

SERVER_004 = ipaddress.IPv4Address("14.48.44.80")
TOKEN_IP = ipaddress.IPv4Address("0.0.0.0")  # noqa: S104 - an address value, nothing listens


@dataclass(frozen=True)
class Cluster004:
    """The eTokens and certificates of listing 004 (hardware-token CTL client, CUCM 8.x)."""

    token: Identity  # ADN4e31f914, signs the CTL
    backup_token: Identity  # ADN5bbd7b14
    callmanager: Identity
    capf: Identity

    def records(self) -> tuple[Record, ...]:
        """Records 1-4 of 004: the two eTokens, CCM+TFTP, CAPF; no certificate signatures."""

        def token(identity: Identity) -> Record:
            return Record.from_certificate(
                identity.certificate,
                Role.SAST,
                dns_name=ETOKEN_DNS_NAME,
                ip_address=TOKEN_IP,
                include_signature=False,
            )

        def server(identity: Identity, role: Role) -> Record:
            return Record.from_certificate(
                identity.certificate,
                role,
                dns_name=str(SERVER_004),
                ip_address=SERVER_004,
                include_signature=False,
            )

        return (
            token(self.token),
            token(self.backup_token),
            server(self.callmanager, Role.CCM_TFTP),
            server(self.capf, Role.CAPF),
        )

    def ctl(self) -> TrustList:
        return build_trust_list(
            self.token.signer,
            self.records(),
            filename="CTLFile.tlv",
            timestamp=int(CTL_004_WRITTEN.timestamp()),
        )


@functools.cache
def cluster_004() -> Cluster004:
    carolina = Organisation(locality="RTP", state="North Carolina", country="US")
    return Cluster004(
        token=exact_certificate(
            etoken_subject("ADN4e31f914"),
            serial=_serial("BD:A3:02:00:00:00:D8:88:64:1F"),
            slot=4,
            issuer=ETOKEN_ISSUER,
            issuer_bits=2048,
            size=894,
        ),
        # 004 lists this token's PUBLICKEY as 141 bytes: one more than a 1024-bit
        # key with exponent 65537. A 4-byte exponent gives that byte.
        backup_token=exact_certificate(
            etoken_subject("ADN5bbd7b14"),
            serial=_serial("AA:C9:20:00:00:00:78:C4:2E:22"),
            slot=5,
            issuer=ETOKEN_ISSUER,
            issuer_bits=2048,
            size=895,
            public_exponent=0x01000001,
        ),
        callmanager=exact_certificate(
            Organisation(unit="AS", locality="RTP", state="NC", country="US").name(
                "CUCM8-Publisher.bbbburns.lab"
            ),
            serial=_serial("74:AE:9E:6B:DB:C2:A5:1D"),
            slot=6,
            size=738,
        ),
        capf=exact_certificate(
            carolina.name("CAPF-9c4cba7d"),
            serial=_serial("0A:DC:6E:77:42:91:4A:53"),
            slot=7,
            size=674,
        ),
    )
