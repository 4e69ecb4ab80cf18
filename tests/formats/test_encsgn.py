"""Encrypted configuration (``.enc.sgn``) and the signed stub served beside it.

Encryption is checked from the outside: with the AES key and IV pinned, the
raw AES-128-CBC body is decrypted here with ``cryptography`` to see the
``0x0D`` padding; the wrapped key is unwrapped with the device key; the
header layout is read element by element against spec/formats.md. The stub
is parsed with ``xml.etree`` like a phone would.
"""

from __future__ import annotations

import functools
import hashlib
import re
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.errors import DecryptionError, KeyMaterialError, ParseError
from phonetrust.formats.algorithms import Digest
from phonetrust.formats.detect import parse_any
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file, encrypt_file
from phonetrust.formats.header import PAD_BYTE, Header
from phonetrust.formats.sgn import sign_file
from phonetrust.formats.signing import Failure
from phonetrust.formats.stub import build_stub
from phonetrust.formats.tags import HeaderTag
from phonetrust.pki.selfsigned import Organisation
from phonetrust.testing.pki import FIXED_NOW, Identity, make_identity, serial_of_length
from phonetrust.wire.tlv import Container, Element, Node

TIMESTAMP = 1767225600
ENC_NAME = "SEP001122334455.cnf.xml.enc.sgn"
AES_KEY = bytes(range(16))
IV = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
LENGTHS = (0, 1, 15, 16, 17, 7000)
ORG = Organisation()


@functools.cache
def tftp() -> Identity:
    return make_identity(ORG.name("cucm-pub"), bits=1024, serial=serial_of_length(16), slot=0)


@functools.cache
def device(bits: int = 1024, slot: int = 2) -> Identity:
    """The phone's LSC; another slot is another phone's key."""
    return make_identity(ORG.name(f"SEP00112233445{slot}"), bits=bits, slot=slot)


def plaintext_of(length: int) -> bytes:
    """Configuration-like text, no 16-byte block of it repeated (so leaks would show)."""
    lines = b"".join(
        b"<line%05d><secretPassword>pw-%05d</secretPassword></line%05d>\n" % (i, i * 7919, i)
        for i in range(length // 40 + 1)
    )
    return lines[:length]


def encrypted(
    plaintext: bytes,
    *,
    digest: Digest = Digest.SHA1,
    device_identity: Identity | None = None,
    pinned: bool = True,
) -> EncryptedFile:
    return encrypt_file(
        plaintext,
        tftp().signer,
        (device_identity or device()).certificate,
        filename=ENC_NAME,
        timestamp=TIMESTAMP,
        digest=digest,
        aes_key=AES_KEY if pinned else None,
        iv=IV if pinned else None,
    )


def raw_aes_decrypt(ciphertext: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(AES_KEY), modes.CBC(IV)).decryptor()
    return decryptor.update(ciphertext) + decryptor.finalize()


def leaf(header: Header, tag: HeaderTag) -> bytes:
    node = header.node(tag)
    assert isinstance(node, Element), tag
    return node.value


def shape(node: Node) -> object:
    """A node's tag and, for containers, its children's shapes."""
    if isinstance(node, Container):
        return (node.tag, [shape(child) for child in node.children])
    return node.tag


# -- encryption ----------------------------------------------------------------------------


@pytest.mark.parametrize("length", LENGTHS)
def test_round_trip(length: int) -> None:
    plaintext = plaintext_of(length)
    assert len(plaintext) == length
    data = encrypted(plaintext).to_wire()
    parsed = EncryptedFile.from_wire(data)
    assert parsed.to_wire() == data
    assert parse_any(data) == parsed
    assert decrypt_file(parsed, device().key) == plaintext


@pytest.mark.parametrize("length", LENGTHS)
def test_round_trip_with_a_fresh_key_and_iv(length: int) -> None:
    plaintext = plaintext_of(length)
    parsed = EncryptedFile.from_wire(encrypted(plaintext, pinned=False).to_wire())
    assert decrypt_file(parsed, device().key) == plaintext


@pytest.mark.parametrize("length", LENGTHS)
def test_padding_is_1_to_16_bytes_0x0d(length: int) -> None:
    plaintext = plaintext_of(length)
    file = encrypted(plaintext)
    padded = raw_aes_decrypt(file.ciphertext)
    assert padded[:length] == plaintext
    pad = padded[length:]
    assert 1 <= len(pad) <= 16
    assert len(pad) == 16 - length % 16
    assert pad == b"\x0d" * len(pad)
    assert len(file.ciphertext) == length + len(pad)
    assert len(file.ciphertext) % 16 == 0
    assert int.from_bytes(leaf(file.header, HeaderTag.PADDINGCOUNT), "big") == len(pad)
    assert file.encryption.padding_count == len(pad)


@pytest.mark.parametrize("bits", [1024, 2048])
def test_key_size_is_the_device_modulus_and_the_key_is_wrapped_for_it(bits: int) -> None:
    phone = device(bits, slot=2 if bits == 1024 else 0)
    file = encrypted(b"<device/>", device_identity=phone)
    header = EncryptedFile.from_wire(file.to_wire()).header
    assert int.from_bytes(leaf(header, HeaderTag.KEYSIZE), "big") == bits
    wrapped = leaf(header, HeaderTag.KEY)
    assert len(wrapped) == bits // 8
    assert phone.key.decrypt(wrapped, padding.PKCS1v15()) == AES_KEY
    assert decrypt_file(file, phone.key) == b"<device/>"


@pytest.mark.parametrize(("digest", "code"), [(Digest.SHA1, 1), (Digest.SHA512, 3)])
def test_header_layout(digest: Digest, code: int) -> None:
    plaintext = plaintext_of(17)
    data = encrypted(plaintext, digest=digest).to_wire()
    header = Header.from_wire(data)
    assert header.version == (2, 0)
    assert header.filename == ENC_NAME
    assert [shape(node) for node in header.nodes] == [
        HeaderTag.VERSION,
        HeaderTag.HEADERLENGTH,
        (HeaderTag.SIGNERID, [4, 5, 6]),
        (HeaderTag.SIGNATUREINFO, [8, (9, [10, 11])]),
        HeaderTag.SIGNATURE,
        HeaderTag.FILENAME,
        HeaderTag.TIMESTAMP,
        (16, [(17, [18, 19, 20]), (21, [22, 23, 24, 25])]),
        26,
        27,
    ]
    assert leaf(header, HeaderTag.IVUNKNOWN) == b"\x00"
    assert leaf(header, HeaderTag.IV) == IV
    assert leaf(header, HeaderTag.PADDINGCOUNT) == (16 - 17 % 16).to_bytes(2, "big")
    assert leaf(header, HeaderTag.KEYUNKNOWN) == b"\x00"
    assert leaf(header, HeaderTag.KEYSIZE) == (1024).to_bytes(2, "big")
    assert leaf(header, HeaderTag.KEYALGORITHM) == b"\x01"
    assert leaf(header, HeaderTag.ENCRYPTIONHASHALGORITHM) == bytes([code])
    assert leaf(header, HeaderTag.DIGESTALGORTITHM) == bytes([code])
    assert leaf(header, HeaderTag.ENCRYPTIONHASH) == digest.digest(plaintext)
    # No SIGNER VERSION; padding last, 0x0D up to a multiple of 4.
    assert HeaderTag.SIGNERVERSION not in [node.tag for node in header.nodes]
    assert header.size % 4 == 0
    assert 0 <= header.padding < 4
    assert data[header.size - header.padding : header.size] == bytes([PAD_BYTE]) * header.padding
    # The encryption elements sit right after TIMESTAMP in the bytes themselves.
    after_timestamp = data.index(TIMESTAMP.to_bytes(4, "big")) + 4
    assert data[after_timestamp] == HeaderTag.ENCRYPTIONINFO


def test_plaintext_digest_is_over_the_unpadded_plaintext() -> None:
    plaintext = plaintext_of(100)
    header = encrypted(plaintext).header
    assert leaf(header, HeaderTag.ENCRYPTIONHASH) == hashlib.sha1(plaintext).digest()
    padded = plaintext + b"\x0d" * 12
    assert leaf(header, HeaderTag.ENCRYPTIONHASH) != hashlib.sha1(padded).digest()


# -- a network observer sees no plaintext ---------------------------------------------------


def test_no_plaintext_chunk_appears_in_the_file() -> None:
    plaintext = plaintext_of(7000)
    data = encrypted(plaintext).to_wire()
    chunk = 8
    leaks = [
        plaintext[i : i + chunk]
        for i in range(len(plaintext) - chunk + 1)
        if plaintext[i : i + chunk] in data
    ]
    assert leaks == []
    assert b"secretPassword" not in data


def test_repeated_plaintext_blocks_do_not_repeat_in_the_ciphertext() -> None:
    plaintext = b"<a>same-block</a>"[:16] * 400
    ciphertext = encrypted(plaintext).ciphertext
    blocks = [ciphertext[i : i + 16] for i in range(0, len(ciphertext), 16)]
    assert len(set(blocks)) == len(blocks)


def test_every_file_gets_a_fresh_key_and_iv() -> None:
    first = encrypted(b"<device/>", pinned=False)
    second = encrypted(b"<device/>", pinned=False)
    assert first.encryption.iv != second.encryption.iv
    assert first.ciphertext != second.ciphertext
    first_key = device().key.decrypt(first.encryption.wrapped_key, padding.PKCS1v15())
    second_key = device().key.decrypt(second.encryption.wrapped_key, padding.PKCS1v15())
    assert first_key != second_key


# -- keys that do not fit -------------------------------------------------------------------


@pytest.mark.parametrize(("bits", "slot"), [(1024, 3), (2048, 1)])
def test_another_device_key_cannot_decrypt(bits: int, slot: int) -> None:
    file = EncryptedFile.from_wire(encrypted(plaintext_of(300)).to_wire())
    with pytest.raises(DecryptionError):
        decrypt_file(file, device(bits, slot).key)


@functools.cache
def ec_device() -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = ORG.name("SEP0011223344EC")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial_of_length(16))
        .not_valid_before(FIXED_NOW)
        .not_valid_after(FIXED_NOW.replace(year=2031))
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def test_an_ec_device_certificate_is_refused() -> None:
    certificate, _ = ec_device()
    with pytest.raises(KeyMaterialError, match="RSA"):
        encrypt_file(
            b"<device/>", tftp().signer, certificate, filename=ENC_NAME, timestamp=TIMESTAMP
        )


def test_an_ec_device_key_cannot_decrypt() -> None:
    _, key = ec_device()
    with pytest.raises(KeyMaterialError):
        decrypt_file(encrypted(b"<device/>"), key)


@pytest.mark.parametrize(("aes_key", "iv"), [(bytes(15), IV), (AES_KEY, bytes(8))])
def test_a_pinned_key_or_iv_of_the_wrong_size_is_refused(aes_key: bytes, iv: bytes) -> None:
    with pytest.raises(KeyMaterialError):
        encrypt_file(
            b"<device/>",
            tftp().signer,
            device().certificate,
            filename=ENC_NAME,
            timestamp=TIMESTAMP,
            aes_key=aes_key,
            iv=iv,
        )


# -- the signature --------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [Digest.SHA1, Digest.SHA512])
def test_signature_verifies_against_the_signer_certificate(digest: Digest) -> None:
    parsed = EncryptedFile.from_wire(encrypted(plaintext_of(64), digest=digest).to_wire())
    verification = parsed.verify(tftp().certificate)
    assert verification.verified
    assert not parsed.verify(device().certificate).verified


@pytest.mark.parametrize("block", ["first", "last"])
def test_tampered_ciphertext_fails_the_signature(block: str) -> None:
    original = encrypted(plaintext_of(64)).to_wire()
    header_size = Header.from_wire(original).size
    position = header_size + 3 if block == "first" else len(original) - 16 + 3
    data = bytearray(original)
    data[position] ^= 0x40
    parsed = EncryptedFile.from_wire(bytes(data))
    verification = parsed.verify(tftp().certificate)
    assert not verification.verified
    assert verification.failure is Failure.BAD_SIGNATURE
    if block == "first":  # the first plaintext block changes, and its digest with it
        with pytest.raises(DecryptionError):
            decrypt_file(parsed, device().key)


def value_offset(nodes: tuple[Node, ...], tag: int, pos: int = 0) -> int | None:
    """Absolute offset of the first ``tag`` leaf's value, walking the header's elements."""
    for node in nodes:
        if node.tag == tag and isinstance(node, Element):
            return pos + 3
        if isinstance(node, Container):
            inner = value_offset(node.children, tag, pos + 3)
            if inner is not None:
                return inner
        pos += node.size
    return None


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        (HeaderTag.KEYALGORITHM, b"\x02", "unknown key algorithm 2"),
        (HeaderTag.ENCRYPTIONHASHALGORITHM, b"\x09", "unknown plaintext digest algorithm 9"),
        (HeaderTag.PADDINGCOUNT, b"\x00\x00", "padding count 0 is impossible"),
        (HeaderTag.PADDINGCOUNT, b"\x00\x11", "padding count 17 is impossible"),
        (HeaderTag.PADDINGCOUNT, b"\x00\x02", "does not match its digest"),
        (HeaderTag.IV, bytes(16), "does not match its digest"),
        (HeaderTag.ENCRYPTIONHASH, bytes(20), "does not match its digest"),
        (HeaderTag.KEY, bytes(128), "unwrap|does not match its digest"),
    ],
    ids=lambda v: v.hex() if isinstance(v, bytes) else str(v),
)
def test_a_header_that_lies_about_the_encryption_is_a_decryption_error(
    tag: HeaderTag, value: bytes, message: str
) -> None:
    original = encrypted(plaintext_of(40)).to_wire()
    at = value_offset(Header.from_wire(original).nodes, tag)
    assert at is not None
    data = original[:at] + value + original[at + len(value) :]
    assert data != original
    parsed = EncryptedFile.from_wire(data)
    with pytest.raises(DecryptionError, match=message):
        decrypt_file(parsed, device().key)
    assert not parsed.verify(tftp().certificate).verified


def test_an_enc_sgn_without_its_signature_does_not_verify() -> None:
    original = encrypted(b"<device/>").to_wire()
    start = original.index(bytes([HeaderTag.SIGNATURE, 0, 128]))
    parsed = EncryptedFile.from_wire(original[:start] + b"\x63" + original[start + 1 :])
    assert parsed.header.signature is None
    verification = parsed.verify(tftp().certificate)
    assert not verification.verified
    assert verification.failure is Failure.NO_SIGNATURE
    assert decrypt_file(parsed, device().key) == b"<device/>"


def test_a_body_of_partial_blocks_is_a_parse_error() -> None:
    data = encrypted(plaintext_of(40)).to_wire()
    with pytest.raises(ParseError, match="whole AES blocks") as info:
        EncryptedFile.from_wire(data[:-1])
    assert info.value.offset == Header.from_wire(data).size


def test_an_sgn_is_not_an_encrypted_file() -> None:
    sgn = sign_file(b"<device/>", tftp().signer, filename="x.sgn", timestamp=TIMESTAMP)
    with pytest.raises(ParseError, match=r"version 2\.0"):
        EncryptedFile.from_wire(sgn.to_wire())


# -- the stub ----------------------------------------------------------------------------------

ROOT_ATTRIBUTES = ' xsi:type="axl:XIPPhone" ctiid="548"'
FULL_CONFIG_TEMPLATE = """<?xml version="1.0" encoding="UTF-8"?>
<device{attributes}>
<fullConfig>true</fullConfig>
<deviceProtocol>SIP</deviceProtocol>
<sshUserId>admin</sshUserId>
<ipAddressMode>0</ipAddressMode>
<devicePool>
  <name>Default</name>
  <callManagerGroup><members><member priority="0"><callManager>
    <processNodeName>10.48.46.4</processNodeName>
  </callManager></member></members></callManagerGroup>
</devicePool>
<loadInformation model="Cisco 7975">SIP75.9-4-2SR3-1S</loadInformation>
<vendorConfig><webAccess>0</webAccess></vendorConfig>
<capfAuthMode>0</capfAuthMode>
<capfList>
  <capf>
    <phonePort>3804</phonePort>
    <processNodeName>10.48.46.4</processNodeName>
  </capf>
</capfList>
<certHash>ffff</certHash>
<encrConfig>false</encrConfig>
</device>
"""
FULL_CONFIG = FULL_CONFIG_TEMPLATE.format(attributes=ROOT_ATTRIBUTES).encode()
COPIED = ["ipAddressMode", "loadInformation", "capfAuthMode", "capfList"]


def canonical(element: ET.Element) -> str:
    copy = ET.fromstring(ET.tostring(element))  # noqa: S314 - our own test XML
    copy.tail = None
    return ET.canonicalize(ET.tostring(copy, encoding="unicode"), strip_text=True)


def device_der() -> bytes:
    return device().certificate.public_bytes(serialization.Encoding.DER)


def parse_stub(stub: bytes) -> ET.Element:
    root = ET.fromstring(stub)  # noqa: S314 - the stub under test, built here
    assert root.tag == "device"
    return root


def test_stub_of_a_cucm_config() -> None:
    assert ROOT_ATTRIBUTES.encode() in FULL_CONFIG
    root = parse_stub(build_stub(FULL_CONFIG, device().certificate))
    assert [child.tag for child in root] == [
        "fullConfig",
        *COPIED,
        "certHash",
        "encrConfig",
    ]
    assert root.findtext("fullConfig") == "false"
    assert root.findtext("encrConfig") == "true"
    # The copies are the full configuration's elements, attributes and children included.
    plain = ET.fromstring(FULL_CONFIG_TEMPLATE.format(attributes="").encode())  # noqa: S314
    for name in COPIED:
        original, copy = plain.find(name), root.find(name)
        assert original is not None
        assert copy is not None
        assert canonical(copy) == canonical(original), name
    load = root.find("loadInformation")
    assert load is not None
    assert load.get("model") == "Cisco 7975"


def test_stub_cert_hash_is_the_md5_of_the_device_certificate() -> None:
    root = parse_stub(build_stub(FULL_CONFIG, device().certificate))
    cert_hash = root.findtext("certHash")
    assert cert_hash is not None
    assert re.fullmatch(r"[0-9a-f]{32}", cert_hash)
    assert cert_hash == hashlib.md5(device_der()).hexdigest()
    other = parse_stub(build_stub(FULL_CONFIG, device(1024, 3).certificate))
    assert other.findtext("certHash") != cert_hash


def test_stub_copies_only_what_the_config_has() -> None:
    config = b'<device xsi:type="axl:XIPPhone"><capfAuthMode>1</capfAuthMode></device>'
    root = parse_stub(build_stub(config, device().certificate))
    assert [child.tag for child in root] == ["fullConfig", "capfAuthMode", "certHash", "encrConfig"]
    assert root.findtext("capfAuthMode") == "1"


@pytest.mark.parametrize(
    "config",
    [
        b"",
        b"not xml at all",
        b"\x00\xff\xfe<device",
        b"<device><capfList></device>",
        b"<phone><capfList/></phone>",
        b'{"device": {"capfList": []}}',
    ],
    ids=["empty", "text", "binary", "broken-xml", "other-root", "json"],
)
def test_stub_of_a_non_config_has_no_copies(config: bytes) -> None:
    root = parse_stub(build_stub(config, device().certificate))
    assert [child.tag for child in root] == ["fullConfig", "certHash", "encrConfig"]
    assert root.findtext("certHash") == hashlib.md5(device_der()).hexdigest()


@settings(deadline=None, max_examples=100)
@given(st.binary(max_size=200))
def test_stub_of_any_bytes_is_a_valid_stub(config: bytes) -> None:
    root = parse_stub(build_stub(config, device().certificate))
    assert root.findtext("fullConfig") == "false"
    assert root.findtext("encrConfig") == "true"


@pytest.mark.parametrize("encoding", ["bogus", "utf-32", "shift_jis", "hex", "idna"])
def test_stub_of_a_config_in_an_unusable_encoding_has_no_copies(encoding: str) -> None:
    config = b'<?xml version="1.0" encoding="%s"?><device><capfList/></device>' % encoding.encode()
    root = parse_stub(build_stub(config, device().certificate))
    assert root.findtext("encrConfig") == "true"
