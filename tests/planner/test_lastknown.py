"""What the planner believes each phone holds, and the servers it boots them against.

A phone is what its recorded downloads say: the lists it last fetched (found
among the plan versions the store keeps), the TVS servers of the
configuration it took. What cannot be known is said to be unknown, never
guessed: no download, a list whose version was pruned, a list that no
longer parses. The offline servers answer as ``serve`` does: a missing file
is TFTP's "file not found", an address no node has answers nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.errors import DecryptionError
from phonetrust.formats.encsgn import EncryptedFile, KnownPlaintext, decrypt_file
from phonetrust.planner.lastknown import last_known
from phonetrust.planner.offline import OfflineNetwork, Servers, Unreachable
from phonetrust.planner.predict import Outcome, reboot_all
from phonetrust.policy.domain import Device
from phonetrust.protocols.tftp.packets import ErrorCode, PeerError, TftpError
from phonetrust.protocols.tvs.messages import TvsServerUntrusted
from phonetrust.service import inventory
from phonetrust.store.repository import Download
from phonetrust.testing.pki import make_identity, plain_name
from tests.planner.booted import ONE_NODE, add_phones, record_boots
from tests.scenarios.test_a_boot import ENCRYPTED_PROFILE
from tests.service.conftest import Lab

MODERN, OLD = "SEP00AA00000001", "SEP00AA00000002"


def test_a_phone_holds_what_it_last_downloaded(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"), (OLD, "7960"))
    record_boots(lab, MODERN, OLD)
    itl = lab.file("cucm-pub", "ITLFile.tlv")
    with lab.ctx.repo.unit_of_work() as uow:
        known = last_known(uow)
    modern, old = known[MODERN], known[OLD]
    assert modern.state is not None
    assert modern.state.itl_file is not None
    assert modern.state.itl_file.raw == itl
    assert modern.tftp == "10.0.0.10"
    assert modern.state.tvs_servers == (("10.0.0.10", 2445), ("10.0.0.11", 2445))
    assert not modern.config_guessed
    assert old.state is not None
    assert old.state.itl_file is None  # a 7960 fetches no ITL


def test_a_phone_never_seen_is_unknown(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"))
    with lab.ctx.repo.unit_of_work() as uow:
        known, prediction = reboot_all(uow, lab.ctx.clock)
    assert known[MODERN].state is None
    verdict = prediction.verdict(MODERN)
    assert verdict is not None
    assert verdict.outcome is Outcome.UNKNOWN
    assert verdict.reason == "never seen: no download recorded"


def _download(lab: Lab, name: str, data: bytes) -> None:
    sha1 = hashlib.sha1(data).hexdigest()
    at = datetime.fromtimestamp(lab.clock.now(), UTC)
    with lab.ctx.repo.unit_of_work() as uow:
        uow.record_downloads([Download(MODERN, name, "cucm-pub", sha1, len(data), at)])


def test_a_list_the_store_no_longer_keeps_is_unknown_not_guessed(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"))
    _download(lab, "ITLFile.tlv", b"an ITL from a plan version pruned long ago")
    with lab.ctx.repo.unit_of_work() as uow:
        known = last_known(uow)[MODERN]
    assert known.state is None
    assert known.why_unknown.startswith("its ITLFile.tlv (")
    assert known.why_unknown.endswith(") is no longer kept")


def test_a_phone_that_later_took_an_older_version_s_list_is_found_there(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"))
    old_itl = lab.file("cucm-pub", "ITLFile.tlv")
    assert old_itl is not None
    record_boots(lab, MODERN)
    lab.admin("set cert regen CallManager", "yes")  # a newer ITL is published
    assert lab.file("cucm-pub", "ITLFile.tlv") != old_itl
    with lab.ctx.repo.unit_of_work() as uow:
        known = last_known(uow)[MODERN]
    assert known.state is not None
    assert known.state.itl_file is not None
    assert known.state.itl_file.raw == old_itl


def fetch(network: OfflineNetwork, host: str, name: str) -> bytes:
    return asyncio.run(
        network.fetch((host, 69), name, timeout=1.0, blksize=None, rto=0.1, retries=1)
    )


def test_the_offline_tftp_answers_as_serve_does(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"))
    pub, sub = lab.file("cucm-pub", "ITLFile.tlv"), lab.file("cucm-sub1", "ITLFile.tlv")
    with lab.ctx.repo.unit_of_work() as uow:  # files are read as phones ask: keep it open
        network = Servers.read(uow).network()
        assert fetch(network, "10.0.0.10", f"ITLSEP{MODERN.removeprefix('SEP')}.tlv") == pub
        assert fetch(network, "cucm-sub1", "ITLFile.tlv") == sub
        with pytest.raises(PeerError) as missing:
            fetch(network, "10.0.0.10", "SEP0000DEADBEEF.cnf.xml.sgn")
        assert missing.value.code == ErrorCode.FILE_NOT_FOUND
        with pytest.raises(PeerError):
            fetch(network, "10.0.0.10", "../../etc/passwd")
        with pytest.raises(TftpError):
            fetch(network, "10.9.9.9", "ITLFile.tlv")


def test_the_offline_tvs_shows_its_certificate_first_and_answers_from_the_directory(
    lab: Lab,
) -> None:
    with lab.ctx.repo.unit_of_work() as uow:
        servers = Servers.read(uow)
    network = servers.network()  # TVS needs no file: the unit of work may close
    presented: list[bytes] = []
    known_cert = servers.tvs["10.0.0.10"]

    def ask(host: str, certificate: bytes, check: bool = True) -> bool:
        def check_server(der: bytes) -> None:
            presented.append(der)
            if not check:
                raise TvsServerUntrusted("not in the ITL")

        answer = asyncio.run(
            network.tvs(
                (host, 2445), certificate, "CP-8845-SEP1", timeout=1.0, check_server=check_server
            )
        )
        return answer.valid

    assert ask("10.0.0.10", known_cert)  # TVS vouches for its own certificate
    assert presented == [known_cert]
    assert not ask("10.0.0.11", b"not a certificate anyone knows")
    with pytest.raises(TvsServerUntrusted):
        ask("10.0.0.10", known_cert, check=False)
    with pytest.raises(Unreachable):
        ask("10.9.9.9", known_cert)


def test_a_phone_that_refused_its_last_itl_holds_the_one_before_and_is_locked(lab: Lab) -> None:
    """B2 on a one-server group: the phone rebooted, fetched the new ITL and refused it.
    The server saw only the download; the phone, replayed, holds the old ITL."""
    add_phones(lab, (MODERN, "8845"), group=ONE_NODE)
    record_boots(lab, MODERN)
    old_itl = lab.file("cucm-pub", "ITLFile.tlv")
    lab.admin("set cert regen CallManager", "yes")
    lab.later(301)
    lab.admin("set cert regen TVS", "yes")
    record_boots(lab, MODERN)  # the reboot that locked it: it fetched the new files
    with lab.ctx.repo.unit_of_work() as uow:
        known, prediction = reboot_all(uow, lab.ctx.clock)
    phone = known[MODERN]
    assert phone.state is not None
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == old_itl
    assert phone.refused.startswith("its last ITLFile.tlv (")
    assert "TVS" in phone.refused
    verdict = prediction.verdict(MODERN)
    assert verdict is not None
    assert verdict.outcome is Outcome.LOCKS


def test_a_phone_that_took_its_last_itl_through_tvs_holds_it(lab: Lab) -> None:
    add_phones(lab, (MODERN, "8845"))  # two TVS servers in its group: it can ask the other
    record_boots(lab, MODERN)
    lab.admin("set cert regen CallManager", "yes")
    record_boots(lab, MODERN)
    with lab.ctx.repo.unit_of_work() as uow:
        phone = last_known(uow)[MODERN]
    assert phone.state is not None
    assert phone.state.itl_file is not None
    assert phone.state.itl_file.raw == lab.file("cucm-pub", "ITLFile.tlv")
    assert phone.refused == ""


def test_an_encrypted_configuration_opens_in_a_prediction_as_on_the_phone(lab: Lab) -> None:
    """A6: the planner holds no phone's key; it renders the document the cluster encrypted
    and opens the file only if the file's plaintext digest is that document's."""
    own = make_identity(plain_name(f"CP-8845-{MODERN}"), slot=21)
    lsc = own.certificate.public_bytes(Encoding.DER)
    inventory.add_devices(lab.ctx, [Device(MODERN, "8845", profile=ENCRYPTED_PROFILE, lsc=lsc)])
    record_boots(lab, MODERN)
    with lab.ctx.repo.unit_of_work() as uow:
        known, prediction = reboot_all(uow, lab.ctx.clock)
    state = known[MODERN].state
    assert state is not None
    assert state.tvs_servers  # read from the document it decrypted
    verdict = prediction.verdict(MODERN)
    assert verdict is not None
    assert verdict.outcome is Outcome.KEEPS, verdict.reason


def test_a_known_plaintext_opens_only_its_own_file(lab: Lab) -> None:
    own = make_identity(plain_name(f"CP-8845-{MODERN}"), slot=21)
    lsc = own.certificate.public_bytes(Encoding.DER)
    inventory.add_devices(lab.ctx, [Device(MODERN, "8845", profile=ENCRYPTED_PROFILE, lsc=lsc)])
    data = lab.file("cucm-pub", f"{MODERN}.cnf.xml.enc.sgn")
    assert data is not None
    encrypted = EncryptedFile.from_wire(data)
    document = decrypt_file(encrypted, own.key)  # what the phone itself reads
    assert decrypt_file(encrypted, KnownPlaintext(document)) == document
    with pytest.raises(DecryptionError):
        decrypt_file(encrypted, KnownPlaintext(document + b" "))
