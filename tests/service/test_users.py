"""Application users: argon2 hashes, CUCM's roles, lock-out after wrong passwords, tokens."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.service import users
from tests.service.conftest import Lab


def _actions(lab: Lab) -> list[str]:
    with lab.ctx.repo.unit_of_work() as uow:
        return [e.action for e in uow.list_audit(100)]


def test_a_password_is_stored_as_an_argon2_hash_only(lab: Lab) -> None:
    user = users.add_user(lab.ctx, "alice", "Alice-Password-1", "super")
    assert user.role == users.SUPER_USERS
    assert user.password_hash.startswith("$argon2id$")
    assert "Alice-Password-1" not in user.password_hash
    assert users.authenticate(lab.ctx, "alice", "Alice-Password-1").name == "alice"
    assert "user add" in _actions(lab)


def test_five_wrong_passwords_lock_the_account_until_the_lock_ends(lab: Lab) -> None:
    users.add_user(lab.ctx, "bob", "Bob-Password-1", "read-only")
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.LoginRefused, match="Invalid username or password"):
            users.authenticate(lab.ctx, "bob", "wrong")
    with pytest.raises(users.LoginRefused, match="Invalid username or password"):
        users.authenticate(lab.ctx, "bob", "Bob-Password-1")
    assert "user locked" in _actions(lab)
    lab.later(users.LOCK_SECONDS + 1)
    assert users.authenticate(lab.ctx, "bob", "Bob-Password-1").failures == 0


def test_an_administrator_can_unlock_and_a_right_password_resets_the_count(lab: Lab) -> None:
    users.add_user(lab.ctx, "carol", "Carol-Password-1", "read-only")
    for _ in range(users.MAX_FAILURES):
        with pytest.raises(users.LoginRefused):
            users.authenticate(lab.ctx, "carol", "nope")
    users.set_user(lab.ctx, "carol", unlock=True)
    users.authenticate(lab.ctx, "carol", "Carol-Password-1")
    with pytest.raises(users.LoginRefused):
        users.authenticate(lab.ctx, "carol", "nope")
    assert users.authenticate(lab.ctx, "carol", "Carol-Password-1").failures == 0


def test_an_unknown_name_is_refused_like_a_wrong_password(lab: Lab) -> None:
    with pytest.raises(users.LoginRefused) as refused:
        users.authenticate(lab.ctx, "nobody", "whatever-password")
    assert str(refused.value) == users.REFUSED


def test_the_last_super_user_cannot_be_removed_or_demoted(lab: Lab) -> None:
    users.add_user(lab.ctx, "root", "Root-Password-1", users.SUPER_USERS)
    with pytest.raises(users.UserError, match="last"):
        users.remove_user(lab.ctx, "root")
    with pytest.raises(users.UserError, match="last"):
        users.set_user(lab.ctx, "root", role="read-only")
    users.add_user(lab.ctx, "second", "Second-Password-1", users.SUPER_USERS)
    users.remove_user(lab.ctx, "root")
    assert [u.name for u in users.list_users(lab.ctx)] == ["second"]


def test_a_password_change_moves_the_session_epoch_and_needs_the_old_one(lab: Lab) -> None:
    before = users.add_user(lab.ctx, "dave", "Dave-Password-1", "read-only")
    with pytest.raises(users.LoginRefused):
        users.change_password(lab.ctx, "dave", "wrong", "Dave-Password-2")
    after = users.change_password(lab.ctx, "dave", "Dave-Password-1", "Dave-Password-2")
    assert after.session_epoch == before.session_epoch + 1


@pytest.mark.parametrize(
    ("name", "password", "says"),
    [
        ("", "Long-Enough-1", "not a user name"),
        ("a" * 65, "Long-Enough-1", "not a user name"),
        ("<script>", "Long-Enough-1", "not a user name"),
        ("eve", "short", "at least 8"),
        ("eve", "x" * 300, "at most"),
        ("eve", "bad\x00password", "control"),
    ],
)
def test_bad_names_and_passwords_are_refused(lab: Lab, name: str, password: str, says: str) -> None:
    with pytest.raises(users.UserError, match=says):
        users.add_user(lab.ctx, name, password, "read-only")


def test_tokens_work_until_revoked_and_only_their_owner_may_revoke_them(lab: Lab) -> None:
    users.add_user(lab.ctx, "erin", "Erin-Password-1", "super")
    users.add_user(lab.ctx, "frank", "Frank-Password-1", "read-only")
    token, text = users.create_token(lab.ctx, "erin", "deploy")
    found = users.token_user(lab.ctx, text)
    assert found is not None
    assert found.name == "erin"
    assert users.token_user(lab.ctx, text[:-1] + ("A" if text[-1] != "A" else "B")) is None
    with pytest.raises(users.UserError):
        users.revoke_token(lab.ctx, token.token_id, owner="frank")
    users.revoke_token(lab.ctx, token.token_id, owner="erin")
    assert users.token_user(lab.ctx, text) is None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(presented=st.text(max_size=120))
def test_no_guessed_token_opens_anything(lab: Lab, presented: str) -> None:
    assert users.token_user(lab.ctx, presented) is None
