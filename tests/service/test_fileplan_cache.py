"""The cached file plan build gives the bytes the original build gave, and every input shows.

Each plan built here is also built the original way (:mod:`tests.service.fileplan_original`:
no group memo, the original cnf.xml writer, every published ``.sgn`` parsed) in the
same transaction at the same moment, and the two must be equal byte for byte. The
``.enc.sgn`` files are the exception that proves nothing: encrypting draws a random
key, so two fresh ones always differ; for those both builds must agree on keeping
the published file or making a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phonetrust.formats import cnfxml_read
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
from phonetrust.service.context import Context
from phonetrust.store.repository import UnitOfWork
from phonetrust.testing.pki import make_identity, plain_name
from tests.service import fileplan_original
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


class _Rollback(Exception):
    """Raised to leave a unit of work without committing it."""


def _original_build(
    ctx: Context, uow: UnitOfWork, inputs: fileplan.PlanInputs, monkeypatch: pytest.MonkeyPatch
) -> fileplan.Plan:
    with monkeypatch.context() as m:
        m.setattr(fileplan, "config_document", fileplan_original.config_document)
        m.setattr(fileplan.NodeSigner, "signed", fileplan_original.signed)
        return fileplan.build(ctx, uow, inputs).files


def _compare(
    got: fileplan.Plan, expected: fileplan.Plan, published: Callable[[str, str], bytes | None]
) -> None:
    assert got.keys() == expected.keys()
    for key, data in got.items():
        if key[1].endswith(".enc.sgn"):
            before = published(*key)
            assert (data == before) == (expected[key] == before), key
        else:
            assert data == expected[key], key


def _both(
    ctx: Context,
    uow: UnitOfWork,
    monkeypatch: pytest.MonkeyPatch,
    inputs: fileplan.PlanInputs = fileplan.PlanInputs(),  # noqa: B008 - frozen
) -> fileplan.Plan:
    """The cached build, checked against the original build of the same state and moment."""
    expected = _original_build(ctx, uow, inputs, monkeypatch)
    got = fileplan.build(ctx, uow, inputs).files
    hosts = {host for host, _ in got}
    served = {h: uow.published_files(h) for h in hosts}
    _compare(got, expected, lambda host, name: served[host].get(name))
    return got


@dataclass
class Checked:
    """Counts the plans published under the original-build check."""

    builds: int = 0
    plans: list[fileplan.Plan] = field(default_factory=list)


@pytest.fixture
def checked(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Checked:
    """Every change's plan is checked against the original build before it is published."""
    seen = Checked()

    def publish(ctx: Context, uow: UnitOfWork, inputs: fileplan.PlanInputs) -> tuple[str, ...]:
        plan = _both(ctx, uow, monkeypatch, inputs)
        seen.builds += 1
        seen.plans.append(plan)
        uow.publish(plan)
        return ()

    monkeypatch.setattr(fileplan, "publish", publish)
    return seen


# -- varied devices, built both ways ------------------------------------------------

_LSC = make_identity(plain_name("SEP00AABBCCDDEE"), bits=2048, slot=3).certificate.public_bytes(
    Encoding.DER
)
_settings = st.dictionaries(
    st.sampled_from(["webAccess", "sshAccess", "settingsAccess", "loadInformation", "pcPort"]),
    st.sampled_from(["0", "1", "2", "sip8845.14-1", "a&b<c>"]),
    max_size=3,
)


@st.composite
def devices(draw: st.DrawFn) -> list[Device]:
    macs = draw(st.sets(st.integers(0, 2**48 - 1), min_size=1, max_size=8))
    out = []
    for mac in sorted(macs):
        operation = draw(st.sampled_from(list(CapfOperation)))
        out.append(
            Device(
                f"SEP{mac:012X}",
                draw(st.sampled_from(MODELS)),
                protocol=draw(st.sampled_from(list(Protocol))),
                group=draw(st.sampled_from(GROUPS)),
                profile=draw(st.sampled_from(PROFILES)),
                capf_operation=operation,
                capf_auth_mode=draw(st.sampled_from(list(CapfAuthMode))),
                settings=draw(_settings),
                lsc=_LSC if draw(st.booleans()) else None,
            )
        )
    return out


def _setup(uow: UnitOfWork) -> None:
    uow.put_group(CallManagerGroup("Pub only", ("cucm-pub",)))
    uow.put_group(CallManagerGroup("Sub first", ("cucm-sub1", "cucm-pub")))
    uow.put_profile(SecurityProfile("Custom Profile", DeviceSecurityMode.AUTHENTICATED))


@dataclass(frozen=True)
class Case:
    """Devices published first, devices put after, and the parameters of the second build."""

    first: list[Device]
    later: list[Device]
    rollback: bool
    sha512: bool


def _run(lab: Lab, monkeypatch: pytest.MonkeyPatch, case: Case) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        _setup(uow)
        for device in case.first:
            uow.put_device(device)
        uow.publish(_both(lab.ctx, uow, monkeypatch))
        for device in case.later:  # some replace published devices, some are new
            uow.put_device(device)
        uow.set_param(P.ROLLBACK, str(case.rollback))
        if case.sha512:
            uow.set_param(P.TFTP_DIGEST, "SHA-512")
        _both(lab.ctx, uow, monkeypatch)
        raise _Rollback


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.builds(Case, devices(), devices(), st.booleans(), st.booleans()))
def test_varied_devices_get_the_original_bytes(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, case: Case
) -> None:
    """Publish some devices, change devices and parameters, build again: same bytes both ways.

    Each example runs in a transaction that is rolled back, so they share one lab.
    """
    with pytest.raises(_Rollback):
        _run(lab, monkeypatch, case)


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
def fleet(lab: Lab, checked: Checked) -> Lab:
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


def test_a_device_setting_reaches_only_that_device(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[1], settings={"webAccess": "1"})
    assert _changed(before, fleet) == {NAMES[1]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[1])).content
    parsed = cnfxml_read.read(content)
    assert parsed.vendor_config["webAccess"] == "1"


def test_a_group_change_reaches_its_devices(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.put_group(fleet.ctx, "Pub only", ["cucm-sub1"])
    assert _changed(before, fleet) == {NAMES[0]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[0])).content
    assert [m.address for m in cnfxml_read.read(content).tvs] == ["10.0.0.11"]


def test_a_profile_change_reaches_its_devices(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.put_profile(fleet.ctx, "Authenticated Phone Profile", DeviceSecurityMode.ENCRYPTED)
    assert _changed(before, fleet) == {NAMES[2]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[2])).content
    assert b"<deviceSecurityMode>3</deviceSecurityMode>" in content


def test_a_device_moved_to_another_group_changes(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.update_device(fleet.ctx, NAMES[2], group="Pub only")
    assert _changed(before, fleet) == {NAMES[2]}


def test_a_capf_operation_reaches_the_device(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.schedule_capf(
        fleet.ctx, NAMES[0], operation=CapfOperation.INSTALL, auth_mode=CapfAuthMode.NULL_STRING
    )
    assert _changed(before, fleet) == {NAMES[0]}
    content = SignedFile.from_wire(_sgn(fleet, "cucm-pub", NAMES[0])).content
    assert b"<capfAuthMode>2</capfAuthMode>" in content


def test_the_rollback_parameter_reaches_every_device(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.set_param(fleet.ctx, P.ROLLBACK, "True")
    assert _changed(before, fleet) == set(NAMES)
    content = SignedFile.from_wire(_sgn(fleet, "cucm-sub1", NAMES[1])).content
    assert b'<phoneServices useHTTPS="false">' in content


def test_the_digest_parameter_resigns_every_file(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    inventory.set_param(fleet.ctx, P.TFTP_DIGEST, "SHA-512")
    assert _changed(before, fleet) == set(NAMES)
    for (node, name), old in before.items():
        new = _sgn(fleet, node, name)
        assert SignedFile.from_wire(new).content == SignedFile.from_wire(old).content


def test_a_new_callmanager_certificate_resigns_that_node_only(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    fleet.later(3 * 24 * 3600)
    nodes.regenerate(fleet.ctx, "cucm-sub1", CertName.CALLMANAGER)
    after = _snapshot(fleet)
    assert {k for k in after if after[k] != before[k]} == {("cucm-sub1", n) for n in NAMES}
    _changed(before, fleet)  # and each verifies under the new certificate


def test_an_unrelated_change_keeps_every_file(fleet: Lab, checked: Checked) -> None:
    before = _snapshot(fleet)
    fleet.later(60)
    inventory.put_group(fleet.ctx, "Unused", ["cucm-sub1"])
    assert _changed(before, fleet) == set()
    assert checked.builds >= 3


def test_an_encrypted_device_keeps_and_renews_like_before(fleet: Lab, checked: Checked) -> None:
    inventory.update_device(fleet.ctx, NAMES[1], profile=ENCRYPTED, lsc=_LSC)
    enc = fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn")
    assert enc is not None
    inventory.update_device(fleet.ctx, NAMES[0], settings={"pcPort": "1"})
    assert fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn") == enc
    inventory.update_device(fleet.ctx, NAMES[1], settings={"pcPort": "1"})
    assert fleet.file("cucm-pub", f"{NAMES[1]}.cnf.xml.enc.sgn") != enc
