"""``phonetrust diagnose phone MAC``: reference 002's four conditions and 003's ITL reset, from
the phone's last download or from files copied off it; garbage files are a clear error."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.cli.main import cli
from phonetrust.errors import LocalError
from phonetrust.planner.phonediag import Verdict, diagnose_phone
from phonetrust.policy.domain import Device
from phonetrust.service import inventory
from tests.planner.booted import boot_for_real
from tests.scenarios.conftest import run_async
from tests.service.conftest import Lab

MAC = "00AA11BB22CC"


def _boot_once(lab: Lab) -> bytes:
    """A phone of a one-server group boots once; the TFTP server records its downloads."""
    phone = run_async(boot_for_real(lab, MAC))
    assert phone.state.itl_file is not None
    return phone.state.itl_file.raw


def _lock(lab: Lab) -> None:
    lab.admin("set cert regen CallManager", "yes")
    lab.later(301)
    lab.admin("set cert regen TVS", "yes")


def test_from_the_last_download_healthy_then_reached_by_an_itl_reset(lab: Lab) -> None:
    _boot_once(lab)
    healthy = diagnose_phone(lab.ctx, MAC)
    assert healthy.verdict is Verdict.HEALTHY
    assert "last download from cucm-pub" in healthy.source
    _lock(lab)
    found = diagnose_phone(lab.ctx, f"SEP{MAC}", key_backup=False)
    assert found.delete_itl
    assert found.recovery_reaches.holds
    assert found.verdict is Verdict.ITL_RESET
    assert "utils itl reset localkey" in found.action
    # After the reset the phone takes the ITL: it recovers by itself from then on.
    lab.admin("utils itl reset localkey", "Cisco-Security-123")
    assert diagnose_phone(lab.ctx, MAC).verdict is Verdict.RECOVERS_SIGNER


def test_an_itl_without_the_current_recovery_record_must_be_deleted(lab: Lab) -> None:
    """ITLRecovery regenerated and TFTP restarted after the phone's last boot: a reset signs
    with a key its ITL does not hold (C6). Without a key backup: delete it by hand."""
    held = _boot_once(lab)
    lab.admin("set cert regen ITLRecovery", "yes")
    lab.admin("utils service restart Cisco Tftp")
    lab.later(301)
    _lock(lab)
    found = diagnose_phone(lab.ctx, MAC, itl=held, key_backup=False)
    assert not found.recovery_reaches.holds
    assert found.delete_itl
    assert found.verdict is Verdict.DELETE_ITL
    assert "Settings > Security > Trust List" in found.action
    # The store still holds the old CallManager key: restoring it is the repair (002).
    kept = diagnose_phone(lab.ctx, MAC, itl=held)
    assert not kept.no_key_backup.holds
    assert any("still in the key store" in e for e in kept.no_key_backup.evidence)
    assert kept.verdict is Verdict.RESTORE_KEY


def test_a_phone_never_seen_needs_its_files(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(f"SEP{MAC}", "8845")])
    with pytest.raises(LocalError, match="--itl FILE"):
        diagnose_phone(lab.ctx, MAC)
    with pytest.raises(LocalError, match="not a MAC address"):
        diagnose_phone(lab.ctx, "nonsense")
    served = lab.file("cucm-pub", "ITLFile.tlv")
    assert served is not None
    found = diagnose_phone(lab.ctx, MAC, itl=served)
    assert found.verdict is Verdict.HEALTHY
    with pytest.raises(LocalError, match="is not an CTL"):
        diagnose_phone(lab.ctx, MAC, ctl=served)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=600))
def test_random_bytes_are_a_clear_error_or_a_verdict(lab: Lab, data: bytes) -> None:
    """We either reach a verdict, or say which file is not a trust list; never a traceback."""
    refused = ""
    try:
        found = diagnose_phone(lab.ctx, MAC, itl=data)
    except LocalError as exc:
        refused = str(exc)
    if refused:
        assert refused.startswith("--itl: ")
    else:
        assert isinstance(found.verdict, Verdict)


def _run(lab: Lab, *args: str) -> tuple[int, str, str]:
    done = CliRunner().invoke(cli, [*args, "--data", str(lab.where.root)], prog_name="phonetrust")
    return done.exit_code, done.stdout, done.stderr


def test_the_command_text_json_and_exit_status(lab: Lab) -> None:
    held = _boot_once(lab)
    code, out, _ = _run(lab, "diagnose", "phone", MAC)
    assert code == 0, out
    assert out.splitlines()[0] == f"SEP{MAC}: healthy, nothing to do"
    _lock(lab)
    itl = lab.where.root.parent / "ITLFile.tlv"
    itl.write_bytes(held)
    code, out, _ = _run(lab, "diagnose", "phone", MAC, "--itl", str(itl), "--json")
    assert code == 1, out
    document = json.loads(out)
    assert document["verdict"] == "itl_reset"
    assert document["conditions"]["tvs_differs"]["holds"] is True
    code, out, _ = _run(lab, "diagnose", "phone", MAC, "--no-key-backup")
    assert code == 1
    assert "[yes] the TVS certificate in its ITL differs from the one TVS presents" in out
    assert "  -> on the publisher `utils itl reset localkey`" in out
    garbage = lab.where.root.parent / "garbage.tlv"
    garbage.write_bytes(b"\x01\x02not a list")
    code, out, err = _run(lab, "diagnose", "phone", MAC, "--itl", str(garbage))
    assert code == 1
    assert err.startswith("Error: --itl: not a CTL or ITL file")
