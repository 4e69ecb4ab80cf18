"""Bad input to the administration: a clear message, and nothing changed."""

from __future__ import annotations

import pytest

from phonetrust.cli.admin.commands import UnknownCommand
from phonetrust.errors import LocalError
from phonetrust.policy.domain import Device, Node, check_ipv4
from phonetrust.service import inventory, nodes
from tests.service.conftest import Lab


def _version(lab: Lab) -> int:
    with lab.ctx.repo.unit_of_work() as uow:
        return uow.current_version()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("show ctll", 'Invalid command: "show ctll"'),
        ("frobnicate", 'Invalid command: "frobnicate"'),
        ("set cert regen", "Incorrect number of arguments; usage: set cert regen NAME"),
        ("utils itl reset remotekey host only", "usage: utils itl reset remotekey HOST USER PATH"),
        ("file get tftp other.p12", "only 'file get tftp ITLRecovery.p12' is supported"),
        ("file delete tftp ITLFile.tlv", "only 'file delete tftp CTLFile.tlv' is supported"),
        ("show cert own nothing", "Invalid certificate name"),
    ],
)
def test_bad_commands_say_what_is_wrong_and_change_nothing(
    lab: Lab, line: str, message: str
) -> None:
    before = _version(lab)
    with pytest.raises(LocalError) as failure:
        lab.admin(line, "y")
    assert message in str(failure.value)
    assert _version(lab) == before


def test_unknown_command_suggests_commands_sharing_its_first_word(lab: Lab) -> None:
    with pytest.raises(UnknownCommand, match="did you mean: show ctl, show itl"):
        lab.admin("show nothing")


def test_commands_are_case_insensitive_like_cucm(lab: Lab) -> None:
    assert "Parse ITL File" in lab.admin("SHOW ITL")


def test_unknown_node_is_named(lab: Lab) -> None:
    with pytest.raises(LocalError, match=r"Unknown node 'ghost' \(nodes: cucm-pub, cucm-sub1\)"):
        lab.admin("show itl", node="ghost")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("SEP0011", "Invalid device name or MAC"),
        ("SEPZZ1122334455", "Invalid device name or MAC"),
        ("00:11:22:33:44:5G", "Invalid device name or MAC"),
    ],
)
def test_invalid_device_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(LocalError, match=message):
        Device(name, "7975")


def test_a_mac_with_separators_becomes_a_device_name() -> None:
    assert Device("00:11:22:aa:bb:cc", "7975").name == "SEP001122AABBCC"


def test_duplicate_devices_and_nodes_are_refused_without_change(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975")])
    before = _version(lab)
    with pytest.raises(LocalError, match="already exists"):
        inventory.add_devices(
            lab.ctx, [Device("SEP00112233AAAA", "8845"), Device("SEP001122334455", "7975")]
        )
    assert _version(lab) == before
    assert [d.name for d in inventory.list_devices(lab.ctx)] == ["SEP001122334455"]
    with pytest.raises(LocalError, match="already exists"):
        nodes.add_node(lab.ctx, Node("cucm-sub1", check_ipv4("10.0.0.99")))
    with pytest.raises(LocalError, match="already has the address"):
        nodes.add_node(lab.ctx, Node("cucm-sub2", check_ipv4("10.0.0.11")))
    assert _version(lab) == before


def test_devices_need_known_groups_and_profiles(lab: Lab) -> None:
    with pytest.raises(LocalError, match="Unknown CallManager group"):
        inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975", group="Nope")])
    with pytest.raises(LocalError, match="Unknown phone security profile"):
        inventory.add_devices(lab.ctx, [Device("SEP001122334455", "7975", profile="Nope")])


def test_csv_import_reports_the_bad_line(lab: Lab) -> None:
    text = "name,model,protocol\nSEP001122334455,7975,SCCP\nSEP0011,8845,SIP\n"
    with pytest.raises(LocalError, match="CSV line 3: Invalid device name"):
        inventory.parse_device_csv(text)
    with pytest.raises(LocalError, match="unknown CSV columns: colour"):
        inventory.parse_device_csv("name,model,colour\n")
    devices = inventory.parse_device_csv("name,model,protocol\nSEP001122334455,7975,sccp\n")
    assert inventory.add_devices(lab.ctx, devices) == 1


def test_parameters_are_validated(lab: Lab) -> None:
    with pytest.raises(LocalError, match="Unknown enterprise parameter"):
        inventory.set_param(lab.ctx, "No Such Thing", "1")
    with pytest.raises(LocalError, match="read-only"):
        inventory.set_param(lab.ctx, "ClusterSecurityMode", "1")
    with pytest.raises(LocalError, match="not SHA-1 or SHA-512"):
        inventory.set_param(lab.ctx, "TFTP File Signature Digest Algorithm", "MD5")
    assert inventory.set_param(lab.ctx, "tftp file signature digest algorithm", "sha512") == (
        "TFTP File Signature Digest Algorithm",
        "SHA-512",
    )
