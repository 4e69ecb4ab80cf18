"""The file plan keeps a file while the digest of its inputs is the published one.

Cold versus warm: from any cluster reached by a run of random changes, each
published incrementally (files kept by their inputs), a build from scratch
gives the very same files. Then each kind of input is shown to reach exactly
the files it should, and nothing else.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.formats import cnfxml_read
from phonetrust.formats.encsgn import EncryptedFile, decrypt_file
from phonetrust.formats.sgn import SignedFile
from phonetrust.policy import params as P
from phonetrust.policy.domain import (
    CallManagerGroup,
    CapfAuthMode,
    CapfOperation,
    CertName,
    Device,
    DeviceSecurityMode,
    Protocol,
    SecurityProfile,
)
from phonetrust.service import fileplan, inventory, nodes
from phonetrust.service.changes import change
from phonetrust.store.repository import UnitOfWork
from phonetrust.testing.pki import make_identity, plain_name
from tests.service.conftest import Lab
from tests.service.helpers import current

ENCRYPTED = "Encrypted Phone Profile with TFTP Encryption"
PROFILES = [
    "Universal Device Template - Model-independent Security Profile",
    "Authenticated Phone Profile",
    "Encrypted Phone Profile",
    ENCRYPTED,
    "Custom Profile",
]
GROUPS = ["Default", "Pub only", "Sub first", "Missing group"]
MODELS = ["7975", "8845", "7821", "7960", "9971"]
MACS = [f"SEP0000000000{i:02X}" for i in range(6)]

_PHONE = make_identity(plain_name("SEP00AABBCCDDEE"), bits=2048, slot=3)
_LSC = _PHONE.certificate.public_bytes(Encoding.DER)


class _Rollback(Exception):
    """Raised to leave a unit of work without committing it."""


# -- cold versus warm ---------------------------------------------------------------

_settings = st.dictionaries(
    st.sampled_from(["webAccess", "sshAccess", "settingsAccess", "loadInformation", "pcPort"]),
    st.sampled_from(["0", "1", "2", "sip8845.14-1", "a&b<c>"]),
    max_size=3,
)
_devices = st.builds(
    Device,
    st.sampled_from(MACS),
    st.sampled_from(MODELS),
    protocol=st.sampled_from(list(Protocol)),
    group=st.sampled_from(GROUPS),
    profile=st.sampled_from(PROFILES),
    capf_operation=st.sampled_from(list(CapfOperation)),
    capf_auth_mode=st.sampled_from(list(CapfAuthMode)),
    settings=_settings,
    lsc=st.sampled_from([None, _LSC]),
)
_members = st.lists(st.sampled_from(["cucm-pub", "cucm-sub1"]), unique=True, min_size=1, max_size=2)
_EDITS: dict[str, st.SearchStrategy[object]] = {
    "model": st.sampled_from(MODELS),
    "protocol": st.sampled_from(list(Protocol)),
    "group": st.sampled_from(GROUPS),
    "profile": st.sampled_from(PROFILES),
    "capf_operation": st.sampled_from(list(CapfOperation)),
    "capf_auth_mode": st.sampled_from(list(CapfAuthMode)),
    "settings": _settings,
    "lsc": st.sampled_from([None, _LSC]),
}
"""One field of a device and a new value, so that each input is seen changing alone."""

_CHANGES: dict[str, st.SearchStrategy[object]] = {
    "device": _devices,
    "edit": st.tuples(
        st.integers(0, 5),
        st.sampled_from(sorted(_EDITS)).flatmap(lambda f: st.tuples(st.just(f), _EDITS[f])),
    ),
    "remove device": st.sampled_from(MACS),
    "group": st.builds(CallManagerGroup, st.sampled_from(GROUPS[:3]), _members.map(tuple)),
    "remove group": st.sampled_from(GROUPS[1:3]),
    "profile": st.builds(
        SecurityProfile,
        st.sampled_from(PROFILES[1:]),
        st.sampled_from([DeviceSecurityMode.AUTHENTICATED, DeviceSecurityMode.ENCRYPTED]),
        st.booleans(),
    ),
    "param": st.sampled_from(
        [
            (P.ROLLBACK, "True"),
            (P.ROLLBACK, "False"),
            (P.TFTP_DIGEST, "SHA-512"),
            (P.TFTP_DIGEST, "SHA-1"),
        ]
    ),
    "node ip": st.tuples(
        st.sampled_from(["cucm-pub", "cucm-sub1"]), st.sampled_from(["10.0.0.12", "10.0.0.13"])
    ),
}
# sampled_from, not one_of: every kind of change is drawn about as often
_changes = st.sampled_from(sorted(_CHANGES)).flatmap(
    lambda kind: st.tuples(st.just(kind), _CHANGES[kind])
)


def _apply(uow: UnitOfWork, change: tuple[str, object]) -> None:
    kind, value = change
    if kind == "device" and isinstance(value, Device):
        uow.put_device(value)
    elif kind == "edit" and isinstance(value, tuple):
        index, (field, setting) = value  # of a device there is
        devices = uow.list_devices()
        if devices:
            uow.put_device(replace(devices[index % len(devices)], **{field: setting}))
    elif kind == "remove device" and isinstance(value, str):
        uow.delete_device(value)
    elif kind == "group" and isinstance(value, CallManagerGroup):
        uow.put_group(value)
    elif kind == "remove group" and isinstance(value, str):
        uow.delete_group(value)
    elif kind == "profile" and isinstance(value, SecurityProfile):
        uow.put_profile(value)
    elif kind == "param" and isinstance(value, tuple):
        uow.set_param(*value)
    elif kind == "node ip" and isinstance(value, tuple):
        host, ip = value
        node = uow.get_node(host)
        assert node is not None
        uow.put_node(replace(node, ip=type(node.ip)(ip)))


def _publish(lab: Lab, uow: UnitOfWork) -> fileplan.BuiltPlan:
    built = fileplan.build(lab.ctx, uow, fileplan.PlanInputs())
    uow.publish(built.files, built.inputs)
    return built


def _same_file(name: str, warm: bytes, cold: bytes) -> None:
    """Equal bytes; an .enc.sgn draws a fresh AES key, so there the same plaintext and signer."""
    if not name.endswith(".enc.sgn"):
        assert warm == cold, name
        return
    a, b = EncryptedFile.from_wire(warm), EncryptedFile.from_wire(cold)
    assert decrypt_file(a, _PHONE.key) == decrypt_file(b, _PHONE.key), name
    assert (a.header.signer_serial, a.header.digest) == (b.header.signer_serial, b.header.digest)


def _run(lab: Lab, fleet: list[Device], changes: list[tuple[str, object]]) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        for device in fleet:
            uow.put_device(device)
        uow.publish({})  # start from files all made at this moment (the lab's are older)
        _publish(lab, uow)
        for change in changes:
            _apply(uow, change)
            warm = _publish(lab, uow)
        uow.publish({})  # nothing left to keep
        cold = _publish(lab, uow)
        assert warm.files.keys() == cold.files.keys()
        assert warm.inputs == cold.inputs
        assert warm.notes == cold.notes
        for (host, name), data in warm.files.items():
            _same_file(name, data, cold.files[host, name])
        raise _Rollback


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(_devices, min_size=1, max_size=6), st.lists(_changes, min_size=1, max_size=8))
def test_warm_builds_give_the_files_a_cold_build_gives(
    lab: Lab, fleet: list[Device], changes: list[tuple[str, object]]
) -> None:
    """Publish a fleet, then after each random change, keeping files by their inputs; then
    build from scratch.

    Each example runs in a transaction that is rolled back, so they share one lab
    (and its clock, which stands still: a kept file and a new one have one timestamp).
    """
    with pytest.raises(_Rollback):
        _run(lab, fleet, changes)


# -- each input reaches the files -----------------------------------------------------

NAMES = ["SEP001122330001", "SEP001122330002", "SEP001122330003"]


def _sgn(lab: Lab, node: str, name: str) -> bytes:
    data = lab.file(node, f"{name}.cnf.xml.sgn")
    assert data is not None
    return data


def _snapshot(lab: Lab) -> dict[tuple[str, str], bytes]:
    return {
        (node, name): _sgn(lab, node, name) for node in ("cucm-pub", "cucm-sub1") for name in NAMES
    }


@pytest.fixture
def fleet(lab: Lab) -> Lab:
    inventory.put_group(lab.ctx, "Pub only", ["cucm-pub"])
    inventory.add_devices(
        lab.ctx,
        [
            Device(NAMES[0], "8845", group="Pub only"),
            Device(NAMES[1], "7975", protocol=Protocol.SCCP),
            Device(NAMES[2], "8845", profile="Authenticated Phone Profile"),
        ],
    )
    return lab


def _changed(before: dict[tuple[str, str], bytes], lab: Lab) -> set[str]:
    after = _snapshot(lab)
    changed = {name for (_, name), data in after.items() if data != before[_, name]}
    for (node, name), data in after.items():  # what changed is signed right, the rest kept
        signed = SignedFile.from_wire(data)
        assert signed.verify(current(lab.ctx, node, CertName.CALLMANAGER)).verified
        assert signed.content == lab.file(node, f"{name}.cnf.xml")
    return changed


def test_a_device_setting_reaches_only_that_device(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[1], settings={"webAccess": "1"})
    assert _changed(before, fleet) == {NAMES[1]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[1])).content
    parsed = cnfxml_read.read(content)
    assert parsed.vendor_config["webAccess"] == "1"


def test_a_group_change_reaches_its_devices(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.put_group(fleet.ctx, "Pub only", ["cucm-sub1"])
    assert _changed(before, fleet) == {NAMES[0]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[0])).content
    assert [m.address for m in cnfxml_read.read(content).tvs] == ["10.0.0.11"]


def test_a_profile_change_reaches_its_devices(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.put_profile(fleet.ctx, "Authenticated Phone Profile", DeviceSecurityMode.ENCRYPTED)
    assert _changed(before, fleet) == {NAMES[2]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[2])).content
    assert b"<deviceSecurityMode>3</deviceSecurityMode>" in content


def test_a_device_moved_to_another_group_changes(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[2], group="Pub only")
    assert _changed(before, fleet) == {NAMES[2]}


def test_a_capf_operation_reaches_the_device(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.schedule_capf(
        fleet.ctx, NAMES[0], operation=CapfOperation.INSTALL, auth_mode=CapfAuthMode.NULL_STRING
    )
    assert _changed(before, fleet) == {NAMES[0]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[0])).content
    assert b"<capfAuthMode>2</capfAuthMode>" in content


def test_the_rollback_parameter_reaches_every_device(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.set_param(fleet.ctx, P.ROLLBACK, "True")
    assert _changed(before, fleet) == set(NAMES)
    content = SignedFile.from_wire(_sgn(fleet, "cucm-sub1", NAMES[1])).content
    assert b'<phoneServices useHTTPS="false">' in content


def test_the_digest_parameter_resigns_every_file(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.set_param(fleet.ctx, P.TFTP_DIGEST, "SHA-512")
    assert _changed(before, fleet) == set(NAMES)
    for (node, name), old in before.items():
        new = _sgn(fleet, node, name)
        assert SignedFile.from_wire(new).content == SignedFile.from_wire(old).content


def test_a_new_callmanager_certificate_resigns_that_node_only(fleet: Lab) -> None:
    before = _snapshot(fleet)
    fleet.later(3 * 24 * 3600)
    nodes.regenerate(fleet.ctx, "cucm-sub1", CertName.CALLMANAGER)
    after = _snapshot(fleet)
    assert {k for k in after if after[k] != before[k]} == {("cucm-sub1", n) for n in NAMES}
    _changed(before, fleet)  # and each verifies under the new certificate


def test_an_unrelated_change_keeps_every_file(fleet: Lab) -> None:
    before = _snapshot(fleet)
    fleet.later(60)
    inventory.put_group(fleet.ctx, "Unused", ["cucm-sub1"])
    assert _changed(before, fleet) == set()


def test_an_encrypted_device_keeps_and_renews_like_before(fleet: Lab) -> None:
    inventory.update_device(fleet.ctx, NAMES[1], profile=ENCRYPTED, lsc=_LSC)
    enc = fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn")
    assert enc is not None
    inventory.update_device(fleet.ctx, NAMES[0], settings={"pcPort": "1"})
    assert fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn") == enc
    inventory.update_device(fleet.ctx, NAMES[1], settings={"pcPort": "1"})
    assert fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn") != enc


def test_a_protocol_change_reaches_the_device(fleet: Lab) -> None:
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[0], protocol=Protocol.SCCP)
    assert _changed(before, fleet) == {NAMES[0]}


def test_a_new_model_alone_keeps_the_files(fleet: Lab) -> None:
    """The document does not show the model, so it is not an input."""
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[0], model="7975")
    assert _changed(before, fleet) == set()


def test_a_node_address_reaches_the_devices_whose_document_names_it(fleet: Lab) -> None:
    """The subscriber is in the default group only; the publisher in every group (and CAPF)."""
    before = _snapshot(fleet)
    for host, expected in (("cucm-sub1", {NAMES[1], NAMES[2]}), ("cucm-pub", set(NAMES))):
        with change(fleet.ctx, "test", f"{host} moves") as ch:
            node = ch.uow.get_node(host)
            assert node is not None
            ch.uow.put_node(
                replace(node, ip=type(node.ip)("10.0.0.20" if node.publisher else "10.0.0.21"))
            )
        assert _changed(before, fleet) == expected
        before = _snapshot(fleet)


def test_the_auth_mode_of_a_pending_operation_reaches_the_device(fleet: Lab) -> None:
    inventory.schedule_capf(
        fleet.ctx, NAMES[1], operation=CapfOperation.INSTALL, auth_mode=CapfAuthMode.NULL_STRING
    )
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[1], capf_auth_mode=CapfAuthMode.EXISTING_MIC_FIRST)
    assert _changed(before, fleet) == {NAMES[1]}
