"""CAPF authentication strings: the stored hash, the lock after wrong strings, the slow-down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import serialization

from phonetrust.errors import LocalError
from phonetrust.policy import capfauth
from phonetrust.policy.capfauth import (
    MAX_FAILURES,
    AddressBackoff,
    AuthState,
    AuthStringError,
    Issuers,
    Verdict,
    certificate_problem,
    check_auth_string,
    check_format,
    generate_auth_string,
    hash_auth_string,
    install_key,
    is_hash,
    source_of,
    string_refusal,
    verify_auth_string,
)
from phonetrust.policy.domain import CapfAuthMode, Device
from phonetrust.protocols.capf.messages import CertificateBlob, CertificateType, Curve, KeySpec
from phonetrust.protocols.capf.server import AuthInput
from phonetrust.testing.pki import make_identity, plain_name

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
DIGEST = hash_auth_string("2468")


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every scrypt computation made, by the string hashed (to count verifications)."""
    made: list[str] = []
    real = capfauth._scrypt

    def counting(text: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        made.append(text)
        return real(text, salt, n, r, p)

    monkeypatch.setattr(capfauth, "_scrypt", counting)
    return made


# -- the stored form ---------------------------------------------------------------------------


def test_the_hash_is_salted_and_never_holds_the_string() -> None:
    one, two = hash_auth_string("13579"), hash_auth_string("13579")
    assert one != two  # a random salt each
    assert "13579" not in one
    assert is_hash(one)
    assert not is_hash("13579")
    scheme, n, r, p, salt, digest = one.split("$")
    assert (scheme, int(n), int(r), int(p)) == ("scrypt", 1024, 8, 1)
    assert len(salt) >= 20
    assert len(digest) >= 40
    assert verify_auth_string(one, "13579")
    assert verify_auth_string(two, "13579")
    assert not verify_auth_string(one, "13578")
    assert not verify_auth_string(one, "")
    fixed = hash_auth_string("13579", salt=b"s" * 16)
    assert fixed == hash_auth_string("13579", salt=b"s" * 16)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "13579",
        "scrypt$1024$8$1$c2FsdA==",
        "scrypt$1000$8$1$c2FsdA==$aGFzaA==",  # n not a power of two
        "scrypt$1048576$8$1$c2FsdA==$aGFzaA==",  # a cost nobody should pay
        "scrypt$1024$8$1$!!$aGFzaA==",
        "pbkdf2$1024$8$1$c2FsdA==$aGFzaA==",
    ],
)
def test_a_damaged_stored_value_matches_nothing(stored: str) -> None:
    assert verify_auth_string(stored, "13579") is False


@pytest.mark.parametrize("text", ["123", "12345678901", "12a4", "", " 1234", "１２３４", "1²34"])
def test_only_4_to_10_ascii_digits_are_strings(text: str) -> None:
    with pytest.raises(AuthStringError, match="4 to 10 digits"):
        hash_auth_string(text)


def test_generated_strings() -> None:
    made = {generate_auth_string() for _ in range(50)}
    assert all(check_format(s) == s and len(s) == 8 for s in made)
    assert len(made) > 45
    assert len(generate_auth_string(4)) == 4
    with pytest.raises(AuthStringError):
        generate_auth_string(3)


# -- the lock ----------------------------------------------------------------------------------


def test_a_right_string_is_accepted_and_resets_the_count() -> None:
    check = check_auth_string(AuthState(DIGEST, failures=3), "2468", NOW)
    assert check.verdict is Verdict.ACCEPT
    assert check.state == AuthState(DIGEST, 0, None)
    assert not check.newly_locked


def test_the_fifth_wrong_string_locks_and_then_nothing_is_checked(hashes: list[str]) -> None:
    state = AuthState(DIGEST)
    for n in range(1, MAX_FAILURES + 1):
        check = check_auth_string(state, "0000", NOW + timedelta(seconds=n))
        assert check.verdict is Verdict.REJECT
        assert check.state.failures == n
        assert check.newly_locked is (n == MAX_FAILURES)
        assert check.changed
        state = check.state
    assert state.locked
    assert state.locked_at == NOW + timedelta(seconds=MAX_FAILURES)
    hashes.clear()
    right = check_auth_string(state, "2468", NOW + timedelta(days=1))
    assert right.verdict is Verdict.LOCKED
    assert right.state == state  # nothing to store
    assert not right.changed
    assert not right.newly_locked
    # the right string was never hashed: only the dummy verification was made
    assert hashes == ["x2468"]


def test_a_count_at_the_limit_is_locked_even_without_a_time() -> None:
    check = check_auth_string(AuthState(DIGEST, failures=MAX_FAILURES), "2468", NOW)
    assert check.verdict is Verdict.LOCKED


def test_a_used_string_rejects_everything_and_counts() -> None:
    check = check_auth_string(AuthState(""), "", NOW)
    assert check.verdict is Verdict.REJECT
    assert check.state.failures == 1


def test_every_verdict_costs_one_verification(hashes: list[str]) -> None:
    """Unknown, wrong, used, locked and right all hash once: no answer is faster."""
    check_auth_string(AuthState(DIGEST), "1111", NOW)
    check_auth_string(AuthState(DIGEST), "2468", NOW)
    check_auth_string(AuthState(""), "1111", NOW)
    check_auth_string(AuthState(DIGEST, 5, NOW), "1111", NOW)
    capfauth.burn("1111")
    capfauth.burn(None)
    assert len(hashes) == 6


def test_the_limit_is_a_parameter() -> None:
    check = check_auth_string(AuthState(DIGEST), "1", NOW, limit=1)
    assert check.newly_locked
    assert check.state.locked


# -- the slow-down per address --------------------------------------------------------------


def test_an_address_gets_free_failures_then_a_doubling_wait() -> None:
    backoff = AddressBackoff(free=3, base=1.0, cap=8.0)
    assert [backoff.failed("10.0.0.1", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert backoff.wait("10.0.0.1", 0.0) == 0.0
    waits = [backoff.failed("10.0.0.1", 100.0) for _ in range(6)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert backoff.wait("10.0.0.1", 104.0) == 4.0
    assert backoff.wait("10.0.0.1", 108.0) == 0.0
    assert backoff.wait("10.0.0.2", 100.0) == 0.0  # others are unaffected


def test_success_and_quiet_forget_an_address() -> None:
    backoff = AddressBackoff(free=0, base=1.0, cap=10.0, forget_after=60.0)
    backoff.failed("a", 0.0)
    backoff.failed("a", 0.0)
    assert backoff.wait("a", 0.0) == 2.0
    backoff.succeeded("a")
    assert backoff.wait("a", 0.0) == 0.0
    backoff.failed("b", 0.0)
    backoff.failed("b", 0.0)
    assert backoff.failed("b", 61.0) == 1.0  # counted from zero again
    assert backoff.wait("b", 200.0) == 0.0
    assert len(backoff) == 0


def test_memory_is_bounded_least_recent_first() -> None:
    backoff = AddressBackoff(free=0, capacity=100)
    for i in range(1_000):
        backoff.failed(f"10.0.{i // 256}.{i % 256}", 0.0)
    assert len(backoff) == 100
    assert backoff.wait("10.0.0.0", 0.0) == 0.0  # forgotten
    assert backoff.wait("10.0.3.231", 0.0) > 0  # the most recent are kept


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="capacity"):
        AddressBackoff(capacity=0)


@pytest.mark.parametrize(
    ("peer", "source"),
    [
        ("127.0.0.1:50000", "127.0.0.1"),
        ("10.1.2.3:1", "10.1.2.3"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd:443", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1:443", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7:3804", "192.0.2.7"),
        ("unix-socket", "unix-socket"),
    ],
)
def test_addresses_are_counted_by_host_and_ipv6_by_64(peer: str, source: str) -> None:
    assert source_of(peer) == source


# -- the words of a refused string; authentication by certificate; the key of an install ---------


def test_a_refused_string_is_worded_by_what_was_stored() -> None:
    wrong = check_auth_string(AuthState(DIGEST), "1111", NOW)
    words = string_refusal(wrong, AuthState(DIGEST), "SEP001122334455", "install", " (from x)")
    assert words.problem == "authentication string mismatch"
    assert words.status == "Failure: authentication string mismatch"
    assert (
        words.audit
        == f"SEP001122334455: authentication string mismatch (1 of {MAX_FAILURES}) (from x)"
    )
    assert words.lock_message is None
    used = check_auth_string(AuthState(), "2468", NOW)
    assert string_refusal(used, AuthState(), "SEP001122334455", "install").problem == (
        "the authentication string was already used"
    )
    last = AuthState(DIGEST, MAX_FAILURES - 1)
    locking = string_refusal(
        check_auth_string(last, "1111", NOW), last, "SEP001122334455", "install"
    )
    assert locking.status.startswith(f"Failure: locked after {MAX_FAILURES} wrong")
    assert locking.lock_message is not None
    assert "CAPF install of SEP001122334455 is locked" in locking.lock_message


CAPF_CA = make_identity(plain_name("CAPF-0badf00d"), slot=5)
NAME = "SEP001122334455"
OTHER = "SEP0011223344AA"


def lsc(name: str = NAME) -> bytes:
    issued = make_identity(plain_name(name), issuer=CAPF_CA, slot=6)
    return issued.certificate.public_bytes(serialization.Encoding.DER)


def device(mode: CapfAuthMode, **fields: object) -> Device:
    return Device(NAME, "8845", capf_auth_mode=mode, **fields)  # type: ignore[arg-type]


ISSUERS = Issuers(capf=(CAPF_CA.certificate,))


@pytest.mark.parametrize(
    ("mode", "auth", "fields", "problem"),
    [
        (CapfAuthMode.NULL_STRING, AuthInput(NAME), {}, None),
        (CapfAuthMode.NONE, AuthInput(NAME), {}, "no CAPF authentication mode"),
        (CapfAuthMode.EXISTING_LSC_FIRST, AuthInput(NAME), {}, "presented no LSC or MIC"),
        (
            CapfAuthMode.EXISTING_LSC_FIRST,
            AuthInput(NAME, certificate=CertificateBlob(CertificateType.LSC, lsc())),
            {},
            None,
        ),
        (
            CapfAuthMode.EXISTING_LSC_FIRST,
            AuthInput(
                NAME, certificate=CertificateBlob(CertificateType.LSC, lsc("SEP0011223344AA"))
            ),
            {},
            "the LSC belongs to 'SEP0011223344AA'",
        ),
        (
            CapfAuthMode.EXISTING_MIC_FIRST,
            AuthInput(NAME, certificate=CertificateBlob(CertificateType.LSC, lsc())),
            {"mic": b"0"},
            "precedence to MIC",
        ),
        (
            CapfAuthMode.EXISTING_MIC_FIRST,
            AuthInput(NAME, certificate=CertificateBlob(CertificateType.MIC, lsc())),
            {},
            "not issued by a certificate in CAPF-trust",
        ),
        (
            CapfAuthMode.EXISTING_LSC_FIRST,
            AuthInput(NAME, certificate=CertificateBlob(9, lsc())),
            {},
            "unknown certificate type 9",
        ),
    ],
    ids=["null", "no-mode", "nothing", "lsc", "other-lsc", "mic-first", "mic-untrusted", "type"],
)
def test_authentication_by_certificate(
    mode: CapfAuthMode, auth: AuthInput, fields: dict[str, object], problem: str | None
) -> None:
    found = certificate_problem(device(mode, **fields), auth, ISSUERS, NOW)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found, found


def test_an_install_asks_for_the_key_set_and_rsa_for_encrypted_configuration() -> None:
    assert install_key(device(CapfAuthMode.NULL_STRING, capf_key="EC-P256"), False) == KeySpec.ec(
        Curve.P256
    )
    with pytest.raises(LocalError, match="needs an RSA key, not EC-P256"):
        install_key(device(CapfAuthMode.NULL_STRING, capf_key="EC-P256"), True)
    with pytest.raises(LocalError, match="Unknown key"):
        install_key(device(CapfAuthMode.NULL_STRING, capf_key="DSA-1024"), False)
