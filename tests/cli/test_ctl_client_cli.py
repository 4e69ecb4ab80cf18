"""``phonetrust ctl-client`` through the installed script, with real SoftHSM eTokens (D3, D5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.store.datadir import DataDir
from phonetrust.store.sql import open_repository
from phonetrust.testing.softhsm import SoftHsm, softhsm_tokens
from tests.cli.test_cluster_commands import init_args, phonetrust

PIN = {"PHONETRUST_TOKEN_PASSWORD": "Cisco123"}


@pytest.fixture(scope="module")
def tokens() -> Iterator[SoftHsm]:
    with softhsm_tokens(3) as hsm:
        yield hsm


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    created = phonetrust(root, *init_args())
    assert created.code == 0, str(created)
    return root


def _ctl(data: Path) -> TrustList:
    shown = phonetrust(data, "admin", "-c", "show ctl").ok().stdout
    assert "The CTL file was verified successfully." in shown
    repo = open_repository(DataDir.locate(data).db_url)
    try:
        with repo.unit_of_work() as uow:
            raw = uow.published_file("cucm-pub", "CTLFile.tlv")
    finally:
        repo.close()
    assert raw is not None
    return TrustList.from_wire(raw)


def test_tokens_are_listed(tokens: SoftHsm, data: Path) -> None:
    listed = phonetrust(data, "ctl-client", "tokens").ok().stdout
    for token in tokens.tokens:
        assert f"{token.label}\t{token.serial}" in listed


def test_mixed_mode_with_two_tokens_then_a_token_outside_the_ctl_is_refused(
    tokens: SoftHsm, data: Path
) -> None:
    one, two, three = tokens.tokens
    single = phonetrust(data, "ctl-client", "set-mixed-mode", "--token", one.label, env=PIN)
    single.failure("Add Tokens")
    done = phonetrust(
        data, "ctl-client", "set-mixed-mode", "--token", one.label, "--token", two.label, env=PIN
    )
    assert done.code == 0, str(done)
    ctl = _ctl(data)
    assert [r.role for r in ctl.records].count(Role.SAST) == 2
    refused = phonetrust(data, "ctl-client", "update", "--token", three.label, env=PIN)
    refused.failure("The Security Token you have inserted does not exist in the CTL File")
    wrong = phonetrust(
        data, "ctl-client", "update", "--token", two.label, env={"PHONETRUST_TOKEN_PASSWORD": "bad"}
    )
    wrong.failure("14")
