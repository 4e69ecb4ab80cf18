"""Golden vectors: phonetrust's writers must reproduce the stored files byte for byte.

The files in ``tests/vectors/`` were written once by ``tests/vectors/make_vectors.py``
(see its docstring and ``tests/vectors/README.md`` for their provenance). Here
each is rebuilt in memory from the stored PEMs and compared with the stored
bytes; nothing is ever written. A failure means a writer's output changed: if
that was intended, rerun the generator and review the diff of the vectors.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from phonetrust.formats import legacy
from phonetrust.formats.detect import parse_any
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file
from phonetrust.formats.header import Header
from phonetrust.formats.record import Record
from phonetrust.formats.sgn import SignedFile
from phonetrust.formats.stub import build_stub
from phonetrust.formats.tags import HeaderTag, RecordTag, Role
from phonetrust.formats.trustlist import Kind, TrustList
from phonetrust.pki import pem
from phonetrust.wire import Reader
from tests.vectors import make_vectors as mv
from tests.vectors.make_vectors import CONFIG, Identities

VECTORS = mv.VECTORS
SGN = f"{CONFIG}.sgn"
ENC = f"{CONFIG}.enc.sgn"
STUB = f"{CONFIG}.stub.sgn"
TRUST_LISTS = ("ITLFile.tlv", "CTLFile.tlv")


def stored(name: str) -> bytes:
    return (VECTORS / name).read_bytes()


@pytest.fixture(scope="module")
def ids() -> Identities:
    return mv.load_identities(VECTORS)


@pytest.fixture(scope="module")
def config() -> bytes:
    return stored(CONFIG)


@pytest.fixture(scope="module")
def rebuilt(ids: Identities, config: bytes) -> dict[str, bytes]:
    return mv.build_deterministic(ids, config)


# -- the vector set itself -------------------------------------------------------


def test_every_vector_is_present_and_the_set_is_small() -> None:
    names = [spec.pem_name for spec in mv.IDENTITIES] + [CONFIG, *mv.OUTPUTS]
    sizes = {name: (VECTORS / name).stat().st_size for name in names}
    assert all(sizes.values()), sizes
    assert sum(sizes.values()) < 50_000


def test_stored_config_is_the_generators() -> None:
    assert stored(CONFIG) == mv.CONFIG_XML


@pytest.mark.parametrize("spec", mv.IDENTITIES, ids=lambda s: s.pem_name)
def test_certificates_and_pem_rebuild_from_the_stored_keys(
    ids: Identities, spec: mv.IdentitySpec
) -> None:
    ident = ids.all()[mv.IDENTITIES.index(spec)]
    issuer = ids.capf if spec.issued_by == mv.CAPF.pem_name else None
    assert ident.key.key_size == spec.bits
    assert ident.certificate.serial_number == spec.serial
    assert len(bytes.fromhex(spec.serial_hex)) == 16
    remade = mv.make_certificate(spec, ident.key, issuer)
    der = serialization.Encoding.DER
    assert remade.public_bytes(der) == ident.certificate.public_bytes(der)
    assert pem.to_pem(ident.certificate, ident.key) == stored(spec.pem_name)


# -- golden comparison: rebuild from the stored PEMs, compare bytes -----------------------


@pytest.mark.parametrize("name", [*TRUST_LISTS, SGN, STUB])
def test_writer_reproduces_the_stored_file(rebuilt: dict[str, bytes], name: str) -> None:
    assert rebuilt[name] == stored(name)


def test_enc_sgn_rebuilds_exactly_from_its_stored_wrapped_key(
    ids: Identities, config: bytes
) -> None:
    # RSA PKCS#1 v1.5 *encryption* pads with random bytes, so the wrapped AES
    # key is the one input that cannot be recomputed: take it from the file.
    data = stored(ENC)
    wrapped = EncryptedFile.from_wire(data).encryption.wrapped_key
    fresh = mv.encrypt_config(ids, config)
    assert mv.with_wrapped_key(ids, fresh, wrapped) == data


def test_fresh_encryption_differs_from_the_stored_file_only_in_key_and_signature(
    ids: Identities, config: bytes
) -> None:
    data = stored(ENC)
    fresh = mv.encrypt_config(ids, config).to_wire()
    assert len(fresh) == len(data)
    assert mv.mask_random(fresh) == mv.mask_random(data)


# -- parse and re-serialise ------------------------------------------------------------


@pytest.mark.parametrize("name", [*TRUST_LISTS, SGN, STUB, ENC])
def test_parse_then_serialise_is_identity(name: str) -> None:
    data = stored(name)
    assert parse_any(data).to_wire() == data
    header = Header.from_wire(data)
    assert header.to_wire() == data[: header.size]
    assert header.timestamp == mv.TIMESTAMP


@pytest.mark.parametrize("name", TRUST_LISTS)
def test_records_round_trip_one_by_one(name: str) -> None:
    trust_list = TrustList.from_wire(stored(name))
    for record in trust_list.records:
        wire = record.to_wire()
        reader = Reader(wire)
        assert Record.read(reader) == record
        assert reader.at_end()
        assert len(wire) == record.length


# -- verification -----------------------------------------------------------------------


@pytest.mark.parametrize("name", TRUST_LISTS)
def test_trust_list_verifies_by_its_signer_record(ids: Identities, name: str) -> None:
    trust_list = TrustList.from_wire(stored(name))
    assert trust_list.kind is Kind.from_filename(name)
    outcome = trust_list.verify()
    assert outcome.verified, outcome.reason
    assert outcome.signer_record == 0
    assert trust_list.verify_with(ids.callmanager.certificate.public_key()).verified
    assert not trust_list.verify_with(ids.tvs.certificate.public_key()).verified


def test_sgn_verifies_and_carries_the_config(ids: Identities, config: bytes) -> None:
    signed = SignedFile.from_wire(stored(SGN))
    assert signed.content == config
    assert signed.header.filename == SGN
    assert signed.verify(ids.callmanager.certificate).verified
    assert not signed.verify(ids.itlrecovery.certificate).verified


def test_stub_verifies_and_is_the_stub_of_the_config(ids: Identities, config: bytes) -> None:
    signed = SignedFile.from_wire(stored(STUB))
    assert signed.header.filename == SGN  # served under the .sgn name beside the .enc.sgn
    assert signed.content == build_stub(config, ids.device.certificate)
    der = ids.device.certificate.public_bytes(serialization.Encoding.DER)
    assert f"<certHash>{legacy.md5_hex(der)}</certHash>".encode() in signed.content
    assert signed.verify(ids.callmanager.certificate).verified


def test_enc_sgn_verifies_and_decrypts_to_the_stored_config(ids: Identities, config: bytes) -> None:
    encrypted = EncryptedFile.from_wire(stored(ENC))
    assert encrypted.verify(ids.callmanager.certificate).verified
    info = encrypted.encryption
    assert info.iv == mv.IV
    assert info.key_size_bits == 2048
    assert ids.device.key.decrypt(info.wrapped_key, padding.PKCS1v15()) == mv.AES_KEY
    assert decrypt_file(encrypted, ids.device.key) == config


@pytest.mark.parametrize("name", [*TRUST_LISTS, SGN, STUB, ENC])
def test_a_flipped_body_byte_breaks_the_signature(ids: Identities, name: str) -> None:
    data = bytearray(stored(name))
    data[-1] ^= 0x01
    parsed = parse_any(bytes(data))
    if isinstance(parsed, TrustList):
        assert not parsed.verify().verified
    else:
        assert not parsed.verify(ids.callmanager.certificate).verified


# -- layout cross-checks against spec/formats.md -------------------------------------------


def test_signer_fields_match_the_tokenless_reference_layout() -> None:
    # Reference 000 (tokenless CTL): signer name / serial / CA name 62 / 16 / 62, SIGNERID 149.
    for name in TRUST_LISTS:
        header = Header.from_wire(stored(name))
        signer_id = header.node(HeaderTag.SIGNERID)
        assert signer_id is not None
        assert signer_id.size - 3 == 149
        assert header.size % 4 == 0


def field_sizes(record: Record) -> dict[int, int]:
    return {e.tag: len(e.value) for e in record.elements[1:]}


def test_ctl_ccm_tftp_record_matches_the_tokenless_reference_fields() -> None:
    # Reference 000 CCM+TFTP: 2:16 3:62 4:2 5:62 6:16 7:140 8:128 9:(cert) 10:4.
    ctl = TrustList.from_wire(stored("CTLFile.tlv"))
    record = next(r for r in ctl.records if r.role is Role.CCM_TFTP)
    sizes = field_sizes(record)
    cert_size = sizes.pop(RecordTag.CERTIFICATE)
    assert sizes == {2: 16, 3: 62, 4: 2, 5: 62, 6: 16, 7: 140, 8: 128, 10: 4}
    assert record.length == 1156 - 694 + cert_size


def test_itl_hash_only_records_match_the_reference_fields() -> None:
    # Reference 003 ITL CAPF: 2:2 3:49 4:2 5:49 6:16 7:140 8:128 11:20 12:1 (names differ here).
    itl = TrustList.from_wire(stored("ITLFile.tlv"))
    roles = [r.role for r in itl.records]
    assert roles == [Role.SAST, Role.CCM_TFTP, Role.CAPF, Role.TVS, Role.SAST]
    capf, tvs = itl.records[2], itl.records[3]
    for record, key_bytes, sig_bytes in ((capf, 140, 128), (tvs, 270, 256)):
        sizes = field_sizes(record)
        assert list(sizes) == [2, 3, 4, 5, 6, 7, 8, 11, 12]
        assert (sizes[2], sizes[4], sizes[6], sizes[7], sizes[8], sizes[11], sizes[12]) == (
            2,
            2,
            16,
            key_bytes,
            sig_bytes,
            20,
            1,
        )


def test_generator_rerun_into_a_copy_reproduces_the_set(tmp_path: Path) -> None:
    # Provenance: from the stored keys (and wrapped AES key), the script
    # writes exactly the stored files. It writes into a copy, never here.
    for name in [spec.pem_name for spec in mv.IDENTITIES] + [ENC]:
        (tmp_path / name).write_bytes(stored(name))
    assert mv.main(["--directory", str(tmp_path)]) == 0
    for name in [CONFIG, *mv.OUTPUTS]:
        assert (tmp_path / name).read_bytes() == stored(name), name
