"""Signed session cookies and CSRF tokens: what the signer accepts and what it refuses."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from phonetrust.web.sessions import IDLE, MAX_AGE, Session, Signer

KEY = b"k" * 32
NOW = 1_800_000_000.0


def test_a_session_survives_while_active_and_ends_when_idle_or_old() -> None:
    signer = Signer(KEY)
    session = signer.new("admin", 3, NOW)
    cookie = signer.dump(session)
    assert signer.load(cookie, NOW + IDLE - 1) == session
    assert signer.load(cookie, NOW + IDLE + 1) is None  # idle too long
    refreshed = signer.dump(Session("admin", session.sid, 3, NOW, NOW + MAX_AGE - 10))
    assert signer.load(refreshed, NOW + MAX_AGE - 5) is not None
    assert signer.load(refreshed, NOW + MAX_AGE + 1) is None  # active, but too old


def test_another_key_or_a_changed_byte_is_refused() -> None:
    signer = Signer(KEY)
    session = signer.new("viewer", 0, NOW)
    cookie = signer.dump(session)
    assert Signer(b"x" * 32).load(cookie, NOW) is None
    mac = cookie.partition(".")[2]
    forged = Signer(KEY).dump(Session("admin", session.sid, 0, NOW, NOW)).partition(".")[0]
    assert signer.load(f"{forged}.{mac}", NOW) is None  # another user under the old MAC
    # (Logout ends sessions through the user's epoch in the store: tests/web/test_auth.py.)


def test_csrf_tokens_are_bound_to_their_session() -> None:
    signer = Signer(KEY)
    one, two = signer.new("a", 0, NOW), signer.new("a", 0, NOW)
    assert signer.csrf_ok(one.sid, signer.csrf(one.sid))
    assert not signer.csrf_ok(one.sid, signer.csrf(two.sid))
    assert not signer.csrf_ok(one.sid, None)
    assert not signer.csrf_ok(one.sid, "")


@settings(max_examples=200)
@given(value=st.text(max_size=300))
def test_no_guessed_cookie_is_a_session(value: str) -> None:
    assert Signer(KEY).load(value, NOW) is None


@given(presented=st.text(max_size=80))
def test_no_guessed_csrf_token_passes(presented: str) -> None:
    signer = Signer(KEY)
    assert not signer.csrf_ok("a-session", presented)
