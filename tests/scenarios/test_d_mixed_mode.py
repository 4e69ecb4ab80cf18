"""Scenarios D1-D10: mixed mode and the CTL, as the phones live through it, end to end.

Each test sets the cluster up with the administrator's commands (``utils ctl
...``, ``set cert regen``, ``file delete tftp``, the hardware CTL client with
SoftHSM eTokens), serves it on loopback, and boots simulated phones before
and after, asserting what the phones accept, what they show and whether they
end up locked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.names import serial_bytes
from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.pki.etoken import TokenInfo, TokenLocked, WrongTokenPassword
from phonetrust.policy import etokens
from phonetrust.policy import params as P
from phonetrust.policy.domain import CertName, Node, Service, TrustStore, check_ipv4
from phonetrust.policy.phone_decisions import Reason, Via
from phonetrust.service import ctlclient, inventory, nodes, truststores
from phonetrust.sim.phone import BootReport, Phone
from phonetrust.testing.softhsm import SoftHsm, softhsm_available, softhsm_tokens
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import Lab
from tests.service.helpers import current

NOT_COVERED: dict[str, str] = {}

MAC = "00112233D001"
MAC_SUB = "00112233D002"
OLD_MAC = "00112233D7A0"
NODES = ("cucm-pub", "cucm-sub1")
MIXED = "utils ctl set-cluster mixed-mode"
UPDATE = "utils ctl update CTLFile"
NOT_FOUND_CTL = "File Not Found <CTLFile.tlv>"
D10 = (
    "Length of CTL file: 0\n"
    "CTL File not found. Please run CTLClient plugin or run the CLI - utils ctl.. "
    "to generate the CTL file.\n"
    "Error parsing the CTL File.\n"
)
needs_softhsm = pytest.mark.skipif(not softhsm_available(), reason="SoftHSM is not installed")


# -- helpers ---------------------------------------------------------------------------


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def served_ctl(lab: Lab, node: str = "cucm-pub") -> bytes:
    data = lab.file(node, "CTLFile.tlv")
    assert data is not None, f"{node} serves no CTLFile.tlv"
    return data


def phone_ctl(phone: Phone) -> TrustList:
    tl = phone.state.ctl
    assert tl is not None, f"{phone.name} holds no CTL"
    return tl


def phone_ctl_raw(phone: Phone) -> bytes:
    assert phone.state.ctl_file is not None, f"{phone.name} holds no CTL"
    return phone.state.ctl_file.raw


def step(report: BootReport, what: str) -> tuple[str, str]:
    """(outcome, detail) of the last step about ``what`` (a file name or its suffix)."""
    found = [s for s in report.steps if s.what.endswith(what)]
    assert found, f"no step about {what}: {report.steps}"
    return found[-1].outcome, found[-1].detail


def ctl_step(report: BootReport) -> tuple[str, str]:
    """The per-device CTL is asked first; either name carries the cluster's CTL."""
    found = [s for s in report.steps if s.what.startswith("CTL") and s.what.endswith(".tlv")]
    assert found, f"no CTL step: {report.steps}"
    return found[-1].outcome, found[-1].detail


def signer_serial_is(tl: TrustList, cert: x509.Certificate) -> bool:
    return tl.header.signer_serial == serial_bytes(cert.serial_number)


def sast_records(tl: TrustList) -> list[bytes | None]:
    return [r.certificate_der for r in tl.records if r.role is Role.SAST]


async def show(site: Site, line: str, node: str = "cucm-pub") -> str:
    """A read-only admin command: nothing for the services to pick up."""
    return await asyncio.to_thread(site.lab.admin, line, node=node)


async def tokenless_mixed(site: Site, *phones: Phone) -> None:
    """Mixed mode (tokenless), then every phone takes the CTL: the usual starting point."""
    await site.admin(MIXED, "y")
    for phone in phones:
        report = await phone.boot()
        assert not report.locked, report.summary()
        assert phone.state.ctl is not None


# -- D1 ----------------------------------------------------------------------------------


async def _d1(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        pub_phone = await site.phone(MAC, tftp="cucm-pub")
        sub_phone = await site.phone(MAC_SUB, tftp="cucm-sub1")
        for phone in (pub_phone, sub_phone):
            first = await phone.boot()
            assert first.status == [NOT_FOUND_CTL, "ITL installed"]
            assert phone.state.ctl is None
            assert phone.state.itl is not None
        out = await site.admin(MIXED, "y")
        assert out.splitlines()[1:] == [
            "Moving Cluster to Mixed Mode",
            "Cluster set to Mixed Mode",
            "Please Restart the TFTP and Cisco CallManager services on all nodes in the "
            "cluster that run these services",
        ]
        params = await asyncio.to_thread(inventory.list_params, lab.ctx)
        assert params[P.CLUSTER_SECURITY_MODE] == "1"
        assert params[P.AUTO_REGISTRATION] == "False"
        ctl_bytes = served_ctl(lab)
        assert served_ctl(lab, "cucm-sub1") == ctl_bytes  # the same CTL on every node
        callmanager = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        sub_callmanager = current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER)
        # Each node signs its own ITL with its own CallManager key; the CTL is the publisher's.
        # A phone of the publisher finds the CTL's signer in its ITL (the same certificate);
        # a phone of the subscriber does not, and asks TVS, which knows it.
        for phone, via, asked, itl_signer in (
            (pub_phone, Via.TRUST_LIST, 0, callmanager),
            (sub_phone, Via.TVS, 1, sub_callmanager),
        ):
            report = await phone.boot()
            assert report.status == ["CTL and ITL installed"]
            assert ctl_step(report) == ("accepted", via.value)
            assert report.tvs_queries == asked
            assert not report.locked
            assert report.config_applied
            assert phone_ctl_raw(phone) == ctl_bytes
            ctl, itl = phone_ctl(phone), phone.state.itl
            assert itl is not None
            assert signer_serial_is(ctl, callmanager)
            assert signer_serial_is(itl, itl_signer)
            assert ctl.verify_with(callmanager.public_key()).verified
            assert phone.log.status_text().splitlines()[-1].endswith("CTL and ITL installed")
        assert pub_phone.state.ctl_file == sub_phone.state.ctl_file
        again = await pub_phone.boot()
        assert again.status == []  # nothing changed: nothing to say
        assert ctl_step(again) == ("accepted", Via.UNCHANGED.value)


def test_d1_non_secure_to_mixed_tokenless(lab: Lab) -> None:
    """Phones holding only an ITL take the new CTL because its signer is the ITL's."""
    run_async(_d1(lab))


# -- D2 ----------------------------------------------------------------------------------


async def _d2(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await tokenless_mixed(site, phone)
        ctl = phone_ctl(phone)
        assert [r.role for r in ctl.records] == [Role.SAST, Role.CCM_TFTP, Role.CCM_TFTP, Role.CAPF]
        signer = ctl.signer_index()
        assert signer == 0
        pub_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        sub_cm = current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER)
        capf = current(lab.ctx, "cucm-pub", CertName.CAPF)
        # The signer record (SAST) is the signer's certificate: the publisher's CallManager.
        assert ctl.records[signer].matches_certificate(der(pub_cm))
        tftp = [r for r in ctl.records if r.role is Role.CCM_TFTP]
        assert [(r.dns_name, str(r.ip_address)) for r in tftp] == [
            ("cucm-pub", "10.0.0.10"),
            ("cucm-sub1", "10.0.0.11"),
        ]
        assert tftp[0].matches_certificate(der(pub_cm))
        assert tftp[1].matches_certificate(der(sub_cm))
        capf_records = [r for r in ctl.records if r.role is Role.CAPF]
        assert len(capf_records) == 1
        assert capf_records[0].matches_certificate(der(capf))
        # Tokenless: no eToken among the SAST records, no TVS record (TVS lives in the ITL).
        assert etokens.ctl_tokens(ctl) == []
        assert all(r.role is not Role.TVS for r in ctl.records)
        # What the phone holds is what `show ctl` describes.
        listing = await show(site, "show ctl")
        assert f"Length of CTL file: {len(phone_ctl_raw(phone))}" in listing
        assert listing.rstrip().endswith("The CTL file was verified successfully.")


def test_d2_ctl_contents_tokenless(lab: Lab) -> None:
    """The records a phone finds in a tokenless CTL: signer SAST, CCM+TFTP per node, CAPF."""
    run_async(_d2(lab))


# -- D6 ----------------------------------------------------------------------------------


async def _d6(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        phone = await site.phone(MAC)
        await tokenless_mixed(site, phone)
        old_ctl = phone_ctl_raw(phone)
        await site.admin("set cert regen CallManager", "yes")
        new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        assert served_ctl(lab) == old_ctl  # the CTL waits for `utils ctl update CTLFile`
        out = await site.admin(UPDATE, "y")
        assert "Please Restart the TFTP" in out
        ctl_bytes = served_ctl(lab)
        assert served_ctl(lab, "cucm-sub1") == ctl_bytes
        asked = phone.tvs_queries
        report = await phone.boot()
        # The new CTL's signer is in neither the old CTL nor the ITL: the phone asks TVS,
        # which knows the new CallManager certificate, and accepts.
        assert ctl_step(report) == ("accepted", Via.TVS.value)
        assert report.tvs_queries == 1
        assert phone.tvs_queries == asked + 1
        assert report.status[0] == "Trust List Updated"
        assert not report.locked
        assert report.config_applied
        assert phone_ctl_raw(phone) == ctl_bytes
        assert signer_serial_is(phone_ctl(phone), new_cm)
        itl = phone.state.itl_file
        assert itl is not None
        assert itl.raw == lab.file("cucm-pub", "ITLFile.tlv")
        assert signer_serial_is(itl.trust_list, new_cm)
        # The answer is not needed again: the new signer is now in the lists.
        calm = await phone.boot()
        assert calm.tvs_queries == 0
        assert not calm.locked


def test_d6_tokenless_regeneration_phones_ask_tvs(lab: Lab) -> None:
    """A regenerated publisher CallManager signs the updated CTL; TVS vouches for it."""
    run_async(_d6(lab))


# -- D7 ----------------------------------------------------------------------------------


async def _d7(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        old = await site.phone(OLD_MAC, "7960")
        modern = await site.phone(MAC)
        first = await old.boot()
        assert NOT_FOUND_CTL in first.status
        assert first.config_applied
        await tokenless_mixed(site, old, modern)
        assert old.state.itl is None  # no Security By Default: never an ITL
        before = phone_ctl_raw(old)
        await site.admin("set cert regen CallManager", "yes")
        await site.admin(UPDATE, "y")
        broken = await old.boot()
        assert broken.locked
        assert ctl_step(broken)[0] == "rejected"
        assert Reason.SIGNER_UNKNOWN.value in ctl_step(broken)[1]
        assert "CTL update failed" in broken.status
        assert broken.tvs_queries == 0  # it has no TVS to ask
        assert not broken.config_applied  # nor can it trust the new signer's configuration
        assert phone_ctl_raw(old) == before
        # Rebooting does not help.
        assert (await old.boot()).locked
        # A Security By Default phone of the same cluster goes through TVS.
        assert not (await modern.boot()).locked
        # Only deleting the CTL by hand (Settings > Security > Trust List > Erase) does.
        old.erase()
        assert old.state.ctl is None
        healed = await old.boot()
        assert not healed.locked
        assert healed.config_applied
        assert healed.status == ["CTL Installed"]
        assert phone_ctl_raw(old) == served_ctl(lab)


def test_d7_no_security_by_default_breaks_until_ctl_erased(lab: Lab) -> None:
    """A 7960 has no TVS: a new publisher CallManager key locks it out until its CTL is erased."""
    run_async(_d7(lab))


# -- D8 ----------------------------------------------------------------------------------

NEW_TFTP = "10.0.0.99"


def point_at(site: Site, phone: Phone, address: str, to: str = "cucm-pub") -> None:
    """Change the phone's TFTP server (option 150) to ``address``, served by ``to``'s TFTP."""
    port = site.nodes[to].ports["tftp"]
    site.routes = site.routes.with_route(address, 69, ("127.0.0.1", port))
    phone.routes = site.routes
    phone.tftp = (address, 69)


async def _d8(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        old = await site.phone(OLD_MAC, "7960")
        modern = await site.phone(MAC)
        await tokenless_mixed(site, old, modern)
        held = phone_ctl_raw(old)
        # The same TFTP service under an address the CTL does not list: refused.
        point_at(site, old, NEW_TFTP)
        refused = await old.boot()
        assert refused.locked
        assert ctl_step(refused) == ("rejected", Reason.TFTP_NOT_IN_CTL.value)
        assert "CTL update failed" in refused.status
        assert not refused.config_applied
        assert f"{NEW_TFTP} is not a secure server" in old.log.console_text()
        assert phone_ctl_raw(old) == held
        # A newer model does not apply the rule.
        point_at(site, modern, NEW_TFTP)
        assert not (await modern.boot()).locked
        # An address the CTL lists (the subscriber's TFTP) is fine for the old model.
        point_at(site, old, "10.0.0.11", to="cucm-sub1")
        assert not (await old.boot()).locked
        # Remedy: add the new TFTP address to the CTL first, let the phone take that CTL
        # from a server it trusts, then move it.
        await asyncio.to_thread(
            nodes.add_node,
            lab.ctx,
            Node(
                "cucm-tftp2",
                check_ipv4(NEW_TFTP),
                "lab.example",
                services=frozenset({Service.TFTP}),
            ),
        )
        await site.admin(UPDATE, "y")
        await site.start("cucm-tftp2")
        point_at(site, old, "10.0.0.10")
        updated = await old.boot()
        assert not updated.locked
        assert NEW_TFTP in [str(r.ip_address) for r in phone_ctl(old).records]
        point_at(site, old, NEW_TFTP, to="cucm-tftp2")
        moved = await old.boot()
        assert not moved.locked
        assert moved.config_applied
        assert "lookupCTL: TFTP SRVR secure" in old.log.console_text()


def test_d8_old_models_trust_only_tftp_addresses_in_the_ctl(lab: Lab) -> None:
    """A 7960 refuses a TFTP server whose address is not a TFTP record of its CTL."""
    run_async(_d8(lab))


# -- D9 ----------------------------------------------------------------------------------


async def _d9(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        pub_phone = await site.phone(MAC, tftp="cucm-pub")
        sub_phone = await site.phone(MAC_SUB, tftp="cucm-sub1")
        await tokenless_mixed(site, pub_phone, sub_phone)
        held = phone_ctl_raw(pub_phone)
        out = await site.admin("utils ctl set-cluster non-secure-mode", "y")
        assert "Cluster set to Non Secure Mode" in out
        params = await asyncio.to_thread(inventory.list_params, lab.ctx)
        assert params[P.AUTO_REGISTRATION] == "True"
        assert params[P.CLUSTER_SECURITY_MODE] == "0"
        # The CTL stays on the TFTP servers: phones still fetch it and keep it.
        stale = await pub_phone.boot()
        assert ctl_step(stale) == ("accepted", Via.UNCHANGED.value)
        assert served_ctl(lab) == held
        assert served_ctl(lab, "cucm-sub1") == held
        # Deleting it on one node does not delete it on the others.
        out = await site.admin("file delete tftp CTLFile.tlv", "y")
        assert "files: found = 1, deleted = 1" in out
        gone = await pub_phone.boot()
        assert NOT_FOUND_CTL in gone.status
        still = await sub_phone.boot()
        assert ctl_step(still) == ("accepted", Via.UNCHANGED.value)
        await site.admin("file delete tftp CTLFile.tlv", "y", node="cucm-sub1")
        for phone in (pub_phone, sub_phone):
            report = await phone.boot()
            # No CTL served: the phone says so and keeps the CTL in its flash, which still
            # vouches for the configuration signer; nothing locks.
            assert NOT_FOUND_CTL in report.status
            assert phone_ctl_raw(phone) == held
            assert not report.locked
            assert report.config_applied
        assert (await show(site, "show ctl")) == D10


def test_d9_mixed_to_non_secure_leaves_a_stale_ctl(lab: Lab) -> None:
    """Back to non-secure: the CTL stays until deleted on each node; phones keep theirs."""
    run_async(_d9(lab))


# -- D10 ---------------------------------------------------------------------------------


async def _d10(lab: Lab) -> None:
    async with site_of(lab, *NODES) as site:
        for node in NODES:
            assert (await show(site, "show ctl", node)) == D10
        phone = await site.phone(MAC, tftp="cucm-sub1")
        report = await phone.boot()
        assert report.requested[:2] == [f"CTLSEP{MAC}.tlv", "CTLFile.tlv"]
        assert report.status[0] == NOT_FOUND_CTL
        assert step(report, "CTLFile.tlv") == ("not found", "")
        assert phone.state.ctl is None
        assert not report.locked
        assert report.config_applied
        assert "tftpClient: File not found <CTLFile.tlv>" in phone.log.console_text()
        assert NOT_FOUND_CTL in phone.log.status_text()


def test_d10_ctl_missing(lab: Lab) -> None:
    """No CTL: `show ctl` says so word for word, and a phone shows File Not Found."""
    run_async(_d10(lab))


# -- hardware eTokens (SoftHSM) ------------------------------------------------------------


@pytest.fixture(scope="module")
def hsm() -> Iterator[SoftHsm]:
    """Three fake eTokens for the module: made once (the key generation is the slow part)."""
    if not softhsm_available():
        pytest.skip("SoftHSM is not installed")
    with softhsm_tokens(3) as made:
        yield made


def cert_der(token: TokenInfo) -> bytes:
    assert token.certificate is not None
    return token.certificate


async def client(site: Site, call: object, *args: object, **kwargs: object) -> list[str]:
    """Run one CTL-client action (PKCS#11 in a thread), then wait for the nodes to serve it."""
    assert callable(call)
    out: list[str] = await asyncio.to_thread(call, site.lab.ctx, *args, **kwargs)
    await site.synced()
    return out


async def upload_tokens(site: Site, tokens: list[TokenInfo]) -> None:
    """Upload the eTokens' certificates as Phone-SAST-trust: only then does TVS know them."""
    for n, token in enumerate(tokens, 1):
        await asyncio.to_thread(
            truststores.upload,
            site.lab.ctx,
            TrustStore.PHONE_SAST,
            token.x509_certificate(),
            f"eToken {n}",
        )
    await site.synced()


async def hardware_mixed(site: Site, hsm: SoftHsm, *phones: Phone) -> list[TokenInfo]:
    """The CTL client's mixed mode with eTokens 1 (signing) and 2; every phone takes it.

    A phone that holds the cluster's ITL meets an eToken signer it does not know and asks
    TVS, which vouches for eTokens uploaded as Phone-SAST-trust only (D5): they are.
    """
    tokens = hsm.token_infos()
    await upload_tokens(site, tokens[:2])
    await client(site, ctlclient.tokens_set_mixed_mode, tokens[:2], hsm.tokens[0].pin)
    for phone in phones:
        report = await phone.boot()
        assert not report.locked, report.summary()
        assert signer_serial_is(phone_ctl(phone), tokens[0].x509_certificate())
    return tokens


async def _d2_hardware(lab: Lab, hsm: SoftHsm) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await phone.boot()
        tokens = await hardware_mixed(site, hsm, phone)
        ctl = phone_ctl(phone)
        assert [r.role for r in ctl.records] == [
            Role.SAST,
            Role.SAST,
            Role.CCM_TFTP,
            Role.CCM_TFTP,
            Role.CAPF,
        ]
        # The signer record is the signing token; every eToken record is SAST, at least two.
        signer = ctl.signer_index()
        assert signer is not None
        assert ctl.records[signer].matches_certificate(cert_der(tokens[0]))
        assert sast_records(ctl) == [cert_der(tokens[0]), cert_der(tokens[1])]
        assert len(etokens.ctl_tokens(ctl)) >= 2
        pub_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        sub_cm = current(lab.ctx, "cucm-sub1", CertName.CALLMANAGER)
        tftp = [r for r in ctl.records if r.role is Role.CCM_TFTP]
        assert tftp[0].matches_certificate(der(pub_cm))
        assert tftp[1].matches_certificate(der(sub_cm))


@needs_softhsm
def test_d2_ctl_contents_hardware(lab: Lab, hsm: SoftHsm) -> None:
    """A hardware CTL as the phone holds it: two SAST eTokens, one of them the signer."""
    run_async(_d2_hardware(lab, hsm))


async def _d3(lab: Lab, hsm: SoftHsm) -> None:
    async with site_of(lab, *NODES) as site:
        modern = await site.phone(MAC)
        old = await site.phone(OLD_MAC, "7960")
        for phone in (modern, old):
            await phone.boot()
        tokens = hsm.token_infos()
        pin0, pin1 = hsm.tokens[0].pin, hsm.tokens[1].pin
        # One token is not enough ("Add Tokens"); nothing is published.
        with pytest.raises(etokens.TooFewTokens, match="Add Tokens"):
            await client(site, ctlclient.tokens_set_mixed_mode, tokens[:1], pin0)
        # A wrong password says how many tries remain; a right one resets the count.
        with pytest.raises(WrongTokenPassword, match="You have 14 attempts left"):
            await client(site, ctlclient.tokens_set_mixed_mode, tokens[:2], "wrong")
        assert lab.file("cucm-pub", "CTLFile.tlv") is None
        assert NOT_FOUND_CTL in (await modern.boot()).status
        await hardware_mixed(site, hsm, modern, old)
        with lab.ctx.repo.unit_of_work() as uow:
            assert uow.get_token_counter(tokens[0].serial).failures == 0
        assert modern.state.itl is not None
        assert old.state.itl is None
        # Fifteen wrong passwords lock eToken 1 for good.
        for left in range(14, 0, -1):
            with pytest.raises(WrongTokenPassword, match=f"You have {left} attempt"):
                await client(site, ctlclient.tokens_update_ctl, tokens[0], "wrong")
        with pytest.raises(TokenLocked):
            await client(site, ctlclient.tokens_update_ctl, tokens[0], "wrong")
        with pytest.raises(TokenLocked):
            await client(site, ctlclient.tokens_update_ctl, tokens[0], pin0)
        # The backup eToken 2 signs the next CTL: every phone trusts it because it is a SAST
        # record of the CTL it holds - the 7960 too, which has no TVS to fall back on.
        await client(site, ctlclient.tokens_update_ctl, tokens[1], pin1)
        ctl_bytes = served_ctl(lab)
        for phone in (modern, old):
            report = await phone.boot()
            assert ctl_step(report) == ("accepted", Via.TRUST_LIST.value)
            assert report.status[0] == "Trust List Updated"
            assert report.tvs_queries == 0
            assert not report.locked
            assert report.config_applied
            assert phone_ctl_raw(phone) == ctl_bytes
            assert signer_serial_is(phone_ctl(phone), tokens[1].x509_certificate())


@needs_softhsm
def test_d3_phones_trust_a_ctl_signed_by_any_listed_etoken(lab: Lab, hsm: SoftHsm) -> None:
    """Hardware mode: two tokens, the password counter, and a CTL signed by the backup token."""
    run_async(_d3(lab, hsm))


async def _d4(lab: Lab, hsm: SoftHsm) -> None:
    async with site_of(lab, *NODES) as site:
        modern = await site.phone(MAC)
        old = await site.phone(OLD_MAC, "7960")
        for phone in (modern, old):
            await phone.boot()
        await hardware_mixed(site, hsm, modern, old)
        out = await site.admin(UPDATE, "y")
        assert "Please Restart the TFTP" in out
        ctl_bytes = served_ctl(lab)
        assert served_ctl(lab, "cucm-sub1") == ctl_bytes
        callmanager = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        for phone in (modern, old):
            report = await phone.boot()
            # Signed by the publisher's CallManager, a CCM+TFTP record of the hardware CTL.
            assert ctl_step(report) == ("accepted", Via.TRUST_LIST.value)
            assert report.status[0] == "Trust List Updated"
            assert report.tvs_queries == 0
            assert not report.locked
            assert report.config_applied
            assert phone_ctl_raw(phone) == ctl_bytes
            ctl = phone_ctl(phone)
            assert signer_serial_is(ctl, callmanager)
            assert etokens.ctl_tokens(ctl) == []
            assert sast_records(ctl) == [der(callmanager)]


@needs_softhsm
def test_d4_hardware_to_tokenless(lab: Lab, hsm: SoftHsm) -> None:
    """`utils ctl update CTLFile` drops the eTokens; phones accept the tokenless CTL."""
    run_async(_d4(lab, hsm))


async def _d5(lab: Lab, hsm: SoftHsm, *, upload: bool) -> None:
    async with site_of(lab, *NODES) as site:
        phone = await site.phone(MAC)
        await tokenless_mixed(site, phone)
        held = phone_ctl_raw(phone)
        tokens = hsm.token_infos()
        # The client refuses a token the current (tokenless) CTL does not list.
        with pytest.raises(etokens.TokenNotInCtl) as caught:
            await client(site, ctlclient.tokens_update_ctl, tokens[0], hsm.tokens[0].pin)
        assert str(caught.value) == (
            "The Security Token you have inserted does not exist in the CTL File Please remove "
            "any Security Tokens already inserted and insert another Security Token. "
            "Click Ok when done."
        )
        # The procedure: delete the CTL on every node, (upload the tokens), Update CTL File.
        for node in NODES:
            await site.admin("file delete tftp CTLFile.tlv", "y", node=node)
        if upload:
            await upload_tokens(site, tokens[:2])
        # Fill the TVS cache (the tomcat certificate is in no list): H2 flushes it below.
        opened = await phone.open_url(phone.service_url("directory"))
        assert opened.ok
        assert opened.tvs_asked
        assert phone.state.tvs_cache
        out = await client(
            site, ctlclient.tokens_update_ctl, tokens[0], hsm.tokens[0].pin, extra=[tokens[1]]
        )
        assert out[0] == etokens.NO_CTL_ON_SERVER
        ctl_bytes = served_ctl(lab)
        assert served_ctl(lab, "cucm-sub1") == ctl_bytes
        report = await phone.boot()
        # The eToken signer is in neither list the phone holds: it asks TVS.
        assert report.tvs_queries >= 1
        if not upload:
            assert report.locked
            assert ctl_step(report) == ("rejected", Reason.TVS_REFUSED.value)
            assert report.status[0] == "Trust List Update Failed"
            assert phone_ctl_raw(phone) == held
            return
        assert ctl_step(report) == ("accepted", Via.TVS.value)
        assert report.status[0] == "Trust List Updated"
        assert not report.locked
        assert report.config_applied
        assert phone_ctl_raw(phone) == ctl_bytes
        assert signer_serial_is(phone_ctl(phone), tokens[0].x509_certificate())
        assert phone.state.tvs_cache == {}  # H2: a new list flushes the TVS cache
        assert (
            "tvsFlushCertCache: Completed TVS Certificate cache flush request"
            in (phone.log.console_text().split("tlUpdate: CTL file updated")[-1])
        )
        # From now on the backup token is a SAST record of the phone's CTL: no TVS needed.
        await client(site, ctlclient.tokens_update_ctl, tokens[1], hsm.tokens[1].pin)
        after = await phone.boot()
        assert ctl_step(after) == ("accepted", Via.TRUST_LIST.value)
        assert after.tvs_queries == 0
        assert not after.locked


@needs_softhsm
@pytest.mark.parametrize(
    "upload",
    [
        # Without the tokens in Phone-SAST-trust, TVS does not vouch for the eToken signer.
        pytest.param(False, id="without-sast-upload-phones-reject"),
        # With the tokens uploaded as Phone-SAST-trust, TVS vouches and phones accept.
        pytest.param(True, id="with-sast-upload-tvs-vouches"),
    ],
)
def test_d5_tokenless_to_hardware(lab: Lab, hsm: SoftHsm, upload: bool) -> None:
    run_async(_d5(lab, hsm, upload=upload))
