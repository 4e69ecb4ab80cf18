"""``--json`` of the listing commands: the HTTP API's shapes, printed by the installed CLI.

One lab cluster serves the whole module (each command only reads it; ``alerts`` may
re-raise its daily alert, which no test here depends on the time of). Each test checks
the facts a script would read against what the store holds, so a shape that dropped,
renamed or mislabelled a field fails here as well as in tests/service/test_shapes.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from phonetrust.policy.domain import (
    CapfAuthMode,
    CapfOperation,
    Device,
    DeviceSecurityMode,
    Protocol,
    TrustStore,
)
from phonetrust.service import inventory, shapes, truststores
from phonetrust.store.datadir import DataDir
from phonetrust.store.repository import CapfRecord
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import open_context
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import START, Lab

LOCKED = "SEP00AABBCCDDEE"
PLAIN = "SEP001122334455"
ROLLBACK = "Prepare Cluster for Rollback to pre 8.0"
LSC = make_identity(plain_name(LOCKED), issuer_name=plain_name("CAPF-lab"), slot=7).certificate
SAST = make_identity(plain_name("SAST-token"), serial=0xABCDEF, slot=8).certificate


@pytest.fixture(scope="module")
def shared(template: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab with a phone of each kind, a changed parameter, a profile, a group and a
    trusted certificate: every fact the shapes must carry, made through the service."""
    root = tmp_path_factory.mktemp("json") / "data"
    shutil.copytree(template, root)
    where = DataDir.locate(root)
    clock = FakeClock(START + 3600)
    ctx = open_context(where, clock)
    inventory.put_profile(ctx, "Enc", DeviceSecurityMode.ENCRYPTED, tftp_encrypted=True)
    inventory.put_group(ctx, "Pair", ["cucm-sub1", "cucm-pub"])
    inventory.add_devices(
        ctx,
        [
            Device(PLAIN, "7975", Protocol.SCCP),
            Device(LOCKED, "8845", Protocol.SIP, "Pair", "Enc", description="lobby"),
        ],
    )
    lsc = LSC.public_bytes(serialization.Encoding.DER)
    inventory.update_device(ctx, LOCKED, lsc=lsc, settings={"webAccess": "1"})
    inventory.schedule_capf(
        ctx,
        LOCKED,
        operation=CapfOperation.INSTALL,
        auth_mode=CapfAuthMode.AUTH_STRING,
        auth_string="123456",
        key="EC-P256",
    )
    with ctx.repo.unit_of_work() as uow:
        record = CapfRecord(status="Failure: locked", failures=3, locked_at=ctx.now())
        assert uow.record_capf(LOCKED, record)
    truststores.upload(ctx, TrustStore.PHONE_SAST, SAST, "SAST token")
    inventory.set_param(ctx, ROLLBACK, "true")
    yield Lab(where, ctx, clock)
    ctx.repo.close()


def answer(lab: Lab, *args: str) -> Any:
    done = lab.cli(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def items_by(shape: Any, key: str) -> dict[str, Any]:
    assert shape["total"] == len(shape["items"])
    return {item[key]: item for item in shape["items"]}


def test_device_list(shared: Lab) -> None:
    devices = items_by(answer(shared, "device", "list"), "name")
    assert set(devices) == {PLAIN, LOCKED}
    plain, locked = devices[PLAIN], devices[LOCKED]
    assert (plain["model"], plain["protocol"], plain["group"]) == ("7975", "SCCP", "Default")
    assert (plain["lsc"], plain["capf_operation"], plain["capf_locked"]) == (None, "none", False)
    assert (locked["model"], locked["protocol"]) == ("8845", "SIP")
    assert (locked["group"], locked["profile"], locked["description"]) == ("Pair", "Enc", "lobby")
    assert locked["settings"] == {"webAccess": "1"}
    assert locked["capf_operation"] == "install"
    assert locked["capf_auth_mode"] == "auth_string"
    assert locked["capf_key"] == "EC-P256"
    assert locked["capf_status"] == "Failure: locked"
    assert (locked["capf_auth_failures"], locked["capf_locked"]) == (3, True)
    assert locked["capf_expires"].endswith("Z")
    der = LSC.public_bytes(serialization.Encoding.DER)
    assert locked["lsc"]["sha256"] == hashlib.sha256(der).hexdigest()
    assert locked["lsc"]["subject"] == f"CN={LOCKED}"
    assert locked["lsc"]["issuer"] == "CN=CAPF-lab"
    with shared.ctx.repo.unit_of_work() as uow:
        stored = uow.list_devices()
    assert list(devices.values()) == [shapes.device(d) for d in stored]


def test_device_list_text_is_unchanged(shared: Lab) -> None:
    done = shared.cli("device", "list")
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith(LOCKED))
    assert line.endswith("Enc CAPF:install(locked) LSC")


def test_cluster_show(shared: Lab) -> None:
    shape = answer(shared, "cluster", "show")
    assert shape["name"] == "lab"
    assert (shape["security_mode"], shape["signer"]) == (0, "callmanager")
    nodes = {n["host"]: n for n in shape["nodes"]}
    assert nodes["cucm-pub"]["ip"] == "10.0.0.10"
    assert nodes["cucm-pub"]["publisher"] is True
    assert nodes["cucm-pub"]["services"] == ["CAPF", "CallManager", "TFTP", "TVS"]
    assert nodes["cucm-sub1"]["ip"] == "10.0.0.11"
    assert nodes["cucm-sub1"]["role"] == "subscriber"
    assert nodes["cucm-sub1"]["services"] == ["CallManager", "TFTP", "TVS"]
    with shared.ctx.repo.unit_of_work() as uow:
        assert shape["file_plan_version"] == uow.current_version() > 0


def test_alerts(shared: Lab) -> None:
    alerts = items_by(answer(shared, "alerts"), "kind")
    recovery = alerts["ITLRecoveryBackup"]
    assert recovery["open"] is True
    assert recovery["cleared_at"] is None
    assert "ITLRecovery" in recovery["message"]


def test_audit_newest_first(shared: Lab) -> None:
    shape = answer(shared, "audit", "--limit", "2")
    assert shape["total"] == 2
    newest, before = shape["items"]
    assert (newest["action"], newest["detail"]) == ("param set", f"{ROLLBACK} = True")
    assert before["action"] == "certificate upload"
    assert before["detail"] == "Phone-SAST-trust serial abcdef"
    assert newest["who"] == before["who"] != ""
    assert newest["at"] >= before["at"]


def test_truststore_list(shared: Lab) -> None:
    shape = answer(shared, "truststore", "list", "Phone-SAST-trust")
    assert shape["total"] == 1
    (entry,) = shape["items"]
    assert (entry["store"], entry["description"]) == ("Phone-SAST-trust", "SAST token")
    cert = entry["certificate"]
    der = SAST.public_bytes(serialization.Encoding.DER)
    assert cert["sha1"] == hashlib.sha1(der).hexdigest()
    assert cert["serial"] == "abcdef"
    assert cert["subject"] == "CN=SAST-token"
    assert x509.load_pem_x509_certificate(cert["pem"].encode()) == SAST
    everything = answer(shared, "truststore", "list")
    assert entry in everything["items"]


def test_param_list_after_param_set(shared: Lab) -> None:
    values = {p["name"]: p["value"] for p in answer(shared, "param", "list")["items"]}
    assert values[ROLLBACK] == "True"
    assert values["ClusterSecurityMode"] == "0"


def test_profile_list(shared: Lab) -> None:
    profiles = items_by(answer(shared, "profile", "list"), "name")
    enc = profiles["Enc"]
    assert (enc["mode"], enc["mode_name"], enc["tftp_encrypted"]) == (3, "encrypted", True)
    assert profiles["Authenticated Phone Profile"]["mode"] == 2


def test_group_list(shared: Lab) -> None:
    groups = items_by(answer(shared, "group", "list"), "name")
    assert groups["Pair"]["members"] == ["cucm-sub1", "cucm-pub"]
    assert groups["Default"]["members"] == ["cucm-pub", "cucm-sub1"]
