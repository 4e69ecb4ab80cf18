"""``phonetrust user``: users made, listed, changed and removed from the command line."""

from __future__ import annotations

import json

from tests.service.conftest import Lab


def test_user_commands_add_list_set_and_remove(lab: Lab) -> None:
    env = {"PHONETRUST_ADMIN_PASSWORD": "Operator-Pass-1"}
    added = lab.cli("user", "add", "operator", "--role", "read-only", env=env)
    assert added.returncode == 0, added.stderr
    assert "Standard CCM Read Only" in added.stdout
    listed = json.loads(lab.cli("user", "list", "--json").stdout)
    assert listed["items"][0]["name"] == "operator"
    assert listed["items"][0]["read_only"]
    assert "password_hash" not in listed["items"][0]
    assert lab.cli("user", "set", "operator", "--role", "super").returncode == 0
    token = lab.cli("user", "token", "operator", "--label", "ci").stdout.strip()
    assert token.startswith("pt_")
    refused = lab.cli("user", "remove", "operator")  # the only super user now
    assert refused.returncode == 1
    assert "last" in refused.stderr
    no_password = lab.cli("user", "add", "other")
    assert no_password.returncode == 1
    assert "PHONETRUST_ADMIN_PASSWORD" in no_password.stderr
