"""Scenarios F1-F3: LSC install through CAPF, secure registration, call security.

F2 and F3 use a minimal endpoint and a pure function: no call manager is in
phonetrust's scope, so F2 runs against a minimal TLS registration endpoint
defined here (it presents the node's CallManager certificate and requires a
client certificate issued by the node's CAPF certificate, as CallManager
does on 5061) with the phone-side check of
:func:`phonetrust.policy.phone_calls.check_registration_server`, and F3 is the pure
function :func:`phonetrust.policy.phone_calls.call_security` fed with the security
modes real phones took from their configuration files.

F1 is end to end: CAPF operations are scheduled in the database, the
phone's configuration announces them, and the phone enrols with the node's
real CAPF service over TLS during its boot.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from phonetrust.cli.main import cli
from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.pki.lsc import common_name
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device
from phonetrust.policy.phone_calls import (
    CallSecurity,
    RegistrationReason,
    Transport,
    call_security,
    check_registration_server,
    registration_transport,
)
from phonetrust.service import inventory
from phonetrust.service.capfops import load_capf_service
from phonetrust.service.changes import reading
from phonetrust.sim.phone import Phone
from phonetrust.sim.storage import DeviceIdentity, DeviceKeys
from phonetrust.testing.pki import make_identity, plain_name
from tests.scenarios.conftest import Site, run_async, site_of
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current

MAC = "001122334455"
OTHER_MAC = "0011223344AA"
AUTHENTICATED = "Authenticated Phone Profile"
ENCRYPTED = "Encrypted Phone Profile"


# -- helpers ------------------------------------------------------------------------------------


async def schedule(
    site: Site,
    mac: str,
    mode: CapfAuthMode,
    *,
    auth_string: str = "",
    key: str = "EC-P256",
) -> None:
    """Device > Phone > CAPF Certificate Operation: Install/Upgrade, then wait until served."""
    await asyncio.to_thread(
        inventory.schedule_capf,
        site.lab.ctx,
        f"SEP{mac}",
        operation=CapfOperation.INSTALL,
        auth_mode=mode,
        auth_string=auth_string,
        key=key,
    )
    await site.synced()


def record(lab: Lab, mac: str = MAC) -> Device:
    with lab.ctx.repo.unit_of_work() as uow:
        found = uow.get_device(f"SEP{mac}")
    assert found is not None
    return found


def store_version(lab: Lab) -> int:
    with reading(lab.ctx) as uow:
        return uow.current_version()


async def republished(site: Site, before: int, timeout: float = 10) -> None:
    """Wait until CAPF, idle again, has republished the file plan (configs say nothing pending)."""
    async with asyncio.timeout(timeout):
        while await asyncio.to_thread(store_version, site.lab) <= before:
            await asyncio.sleep(0.1)
    await site.synced()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """``cert`` carries ``issuer``'s name and a signature ``issuer``'s key verifies."""
    key = issuer.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert cert.signature_hash_algorithm is not None
    key.verify(
        cert.signature,
        cert.tbs_certificate_bytes,
        padding.PKCS1v15(),
        cert.signature_hash_algorithm,
    )
    return cert.issuer == issuer.subject


def capf_step(phone_report_steps: list[object]) -> str:
    return " | ".join(str(s) for s in phone_report_steps if "CAPF" in str(s))


def manufacturing_ca() -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """A stand-in for "Cisco Manufacturing CA SHA2", made with cryptography."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Cisco Manufacturing CA SHA2")])
    start = datetime(2020, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 20))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def mic_for(mac: str, model: str, ca: tuple[x509.Certificate, rsa.RSAPrivateKey]) -> DeviceIdentity:
    """The phone's MIC: its own key, CN ``CP-<model>-SEP<MAC>``, issued by the manufacturing CA."""
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime(2021, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"CP-{model}-SEP{mac}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * 15))
        .sign(ca_key, hashes.SHA256())
    )
    return DeviceIdentity(cert, key)


def upload_capf_trust(lab: Lab, cert: x509.Certificate, directory: Path) -> str:
    """``phonetrust truststore upload CAPF-trust CA.pem``: the administrator's trust upload."""
    pem = directory / "manufacturing-ca.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    result = CliRunner().invoke(
        cli,
        ["truststore", "upload", "CAPF-trust", str(pem), "--data", str(lab.where.root)],
        env={"PHONETRUST_SECURITY_PASSWORD": PASSWORD},
    )
    assert result.exit_code == 0, result.output
    return result.output


# -- F1: LSC install ----------------------------------------------------------------------------


async def _f1_null(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied  # the ITL, with its CAPF record
        await schedule(site, MAC, CapfAuthMode.NULL_STRING)
        version = await asyncio.to_thread(store_version, lab)
        report = await phone.boot()
        assert report.enrolled, report.steps
        assert not report.locked
        assert phone.keys.lsc is not None
        lsc = phone.keys.lsc.certificate
        capf = current(lab.ctx, "cucm-pub", CertName.CAPF)
        assert issued_by(lsc, capf)
        assert common_name(lsc) == f"SEP{MAC}"
        assert isinstance(phone.keys.lsc.key, ec.EllipticCurvePrivateKey)  # the key it was asked
        # The phone checked CAPF against the CAPF record of its ITL before anything else.
        console = phone.log.console_text()
        assert "capf_cert_vfy: CAPF cert verified with the CAPF record" in console
        device = record(lab)
        assert device.lsc == der(lsc)
        assert device.capf_status == "Upgrade Success"
        assert device.capf_operation is CapfOperation.NONE
        # Nothing pending any more once CAPF republished the configuration: no CAPF next time.
        await republished(site, version)
        again = await phone.boot()
        assert not again.enrolled
        assert not any("CAPF" in s.what for s in again.steps)
        assert phone.keys.lsc.certificate == lsc


def test_f1_lsc_install_by_null_string(lab: Lab) -> None:
    run_async(_f1_null(lab))


async def _f1_auth_string(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC, auth_string="24680")
        assert (await phone.boot()).config_applied
        await schedule(site, MAC, CapfAuthMode.AUTH_STRING, auth_string="13579")
        wrong = await phone.boot()
        assert not wrong.enrolled
        assert phone.keys.lsc is None
        assert record(lab).capf_status == "Failure: authentication string mismatch"
        assert record(lab).lsc is None
        # The user types the right string on the phone's keypad.
        phone.auth_string = "13579"
        right = await phone.boot()
        assert right.enrolled
        assert phone.keys.lsc is not None
        assert record(lab).lsc == der(phone.keys.lsc.certificate)


def test_f1_lsc_install_by_authentication_string(lab: Lab) -> None:
    run_async(_f1_auth_string(lab))


async def _f1_existing(lab: Lab, directory: Path) -> None:
    ca = manufacturing_ca()
    mic = mic_for(MAC, "8845", ca)
    async with site_of(lab) as site:
        phone = await site.phone(MAC, keys=DeviceKeys(mic=mic))
        assert (await phone.boot()).config_applied
        await schedule(site, MAC, CapfAuthMode.EXISTING_LSC_FIRST)
        # The MIC's issuer is not in CAPF-trust yet: CAPF cannot authenticate the phone.
        untrusted = await phone.boot()
        assert not untrusted.enrolled
        assert "CAPF-trust" in record(lab).capf_status
        out = await asyncio.to_thread(upload_capf_trust, lab, ca[0], directory)
        assert "Certificate uploaded to CAPF-trust." in out
        await site.synced()
        by_mic = await phone.boot()
        assert by_mic.enrolled, capf_step(list(by_mic.steps))
        assert phone.keys.lsc is not None
        first_lsc = phone.keys.lsc.certificate
        assert phone.keys.mic == mic  # the MIC stays; the LSC is added
        # A renewal authenticated by the LSC the phone now holds (LSC first).
        await schedule(site, MAC, CapfAuthMode.EXISTING_LSC_FIRST)
        renewed = await phone.boot()
        assert renewed.enrolled
        assert phone.keys.lsc.certificate.serial_number != first_lsc.serial_number


def test_f1_lsc_install_by_existing_certificate(lab: Lab, tmp_path: Path) -> None:
    run_async(_f1_existing(lab, tmp_path))


async def _f1_expiry(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        await schedule(site, MAC, CapfAuthMode.NULL_STRING)  # expires in 10 days (the default)
        lab.later(timedelta(days=10, minutes=1).total_seconds())
        late = await phone.boot()
        assert not late.enrolled
        assert phone.keys.lsc is None
        assert record(lab).capf_status == "Failure: operation expired"
        # the phone is told what any client is told (no device can be probed for)
        assert "authentication failed" in capf_step(list(late.steps))


def test_f1_operation_expiry_is_enforced(lab: Lab) -> None:
    run_async(_f1_expiry(lab))


async def _f1_rogue(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        assert (await phone.boot()).config_applied
        await schedule(site, MAC, CapfAuthMode.NULL_STRING)
        # Something else answers on the CAPF address, with a certificate of its own.
        impostor = make_identity(plain_name("CAPF-impostor"), slot=21)
        service = await asyncio.to_thread(load_capf_service, lab.ctx, "cucm-pub")
        rogue = await CapfServer.start(
            service, tls.server_context(impostor.certificate, impostor.key), port=0
        )
        real = phone.routes
        try:
            phone.routes = real.with_route("10.0.0.10", 3804, ("127.0.0.1", rogue.port))
            refused = await phone.boot()
        finally:
            await rogue.stop()
            service.close()
        assert not refused.enrolled
        assert phone.keys.lsc is None
        assert "capf_cert_vfy: No valid CAPF server" in phone.log.console_text()
        assert record(lab).lsc is None
        # The real CAPF, whose certificate is the ITL's CAPF record, is accepted.
        phone.routes = real
        assert (await phone.boot()).enrolled


def test_f1_a_capf_with_another_certificate_is_refused(lab: Lab) -> None:
    run_async(_f1_rogue(lab))


# -- F2: secure registration (a minimal TLS registration endpoint) -------------------------------


@asynccontextmanager
async def registrar(
    lab: Lab,
    node: str = "cucm-pub",
    presenting: tuple[x509.Certificate, PrivateKeyTypes] | None = None,
) -> AsyncIterator[int]:
    """SIP over TLS as CallManager runs it, reduced to one exchange.

    The server presents ``presenting`` (by default the node's CallManager
    certificate) and accepts only clients with a certificate issued by the
    node's CAPF certificate (an LSC) whose name is the device's.
    Client: ``REGISTER SEP<MAC>``; server: ``200 OK`` or ``403 <why>``.
    """
    if presenting is None:
        cm = current(lab.ctx, node, CertName.CALLMANAGER)
        presenting = (cm, lab.ctx.keys.get(der(cm)))
    capf = current(lab.ctx, node, CertName.CAPF)
    context = tls.mutual_server_context(*presenting, [capf])

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
            peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            if not peer:
                writer.write(b"403 a device certificate (LSC) is required\n")
            else:
                cn = common_name(x509.load_der_x509_certificate(peer))
                wanted = line.removeprefix("REGISTER ").strip()
                ok = line.startswith("REGISTER ") and cn == wanted
                writer.write(b"200 OK\n" if ok else f"403 certificate of {cn}\n".encode())
            await writer.drain()
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def client_context(identity: DeviceIdentity | None) -> ssl.SSLContext:
    """The phone's side: no CA checks by ssl (the phone checks against its CTL), its LSC."""
    context = tls.client_context()
    if identity is not None:
        pem = identity.certificate.public_bytes(serialization.Encoding.PEM) + (
            identity.key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "lsc.pem"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
            context.load_cert_chain(path)
    return context


async def register(phone: Phone, port: int) -> str:
    """The phone registers as its configuration says; what came of it."""
    assert phone.config is not None
    transport = registration_transport("SIP", phone.config.device_security_mode)
    if not transport.tls:
        return "non-secure registration"
    try:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(phone.keys.lsc)
        )
    except (OSError, ssl.SSLError) as exc:
        return f"TLS failed: {exc}"
    try:
        peer = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        verdict = check_registration_server(phone.state, peer or b"")
        if not verdict.accepted:
            assert verdict.reason is not None
            return verdict.reason.value
        writer.write(f"REGISTER {phone.name}\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readline(), 5)).decode().strip()
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        return f"TLS failed: {exc}"
    finally:
        writer.close()


async def _f2(lab: Lab) -> None:
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        await asyncio.to_thread(inventory.update_device, lab.ctx, f"SEP{MAC}", profile=ENCRYPTED)
        await schedule(site, MAC, CapfAuthMode.NULL_STRING)
        first = await phone.boot()
        assert first.enrolled
        assert phone.config is not None
        assert phone.config.device_security_mode == 3
        assert registration_transport("SIP", 3).port == 5061
        async with registrar(lab) as port:
            # An LSC but no CTL (the cluster is not in mixed mode): no secure registration.
            assert phone.state.ctl is None
            assert await register(phone, port) == RegistrationReason.NO_CTL.value
            await site.admin("utils ctl set-cluster mixed-mode", "y")
            assert (await phone.boot()).ctl_md5 is not None
            # CTL and LSC: the server's CallManager certificate is the CTL's CCM+TFTP record.
            assert await register(phone, port) == "200 OK"
            # A phone without an LSC: it trusts the server, the server refuses it.
            bare = await site.phone(OTHER_MAC)
            await asyncio.to_thread(
                inventory.update_device, lab.ctx, f"SEP{OTHER_MAC}", profile=AUTHENTICATED
            )
            await site.synced()
            assert (await bare.boot()).config_applied
            assert bare.state.ctl is not None
            assert bare.keys.lsc is None
            assert await register(bare, port) == "403 a device certificate (LSC) is required"
        # A server presenting another certificate (here the node's TVS certificate).
        tvs = current(lab.ctx, "cucm-pub", CertName.TVS)
        async with registrar(lab, presenting=(tvs, lab.ctx.keys.get(der(tvs)))) as port:
            assert await register(phone, port) == RegistrationReason.NOT_CALLMANAGER.value


def test_f2_secure_registration_checks_the_ctl_and_the_lsc(lab: Lab) -> None:
    run_async(_f2(lab))


# -- F3: call security ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (3, 3, CallSecurity.ENCRYPTED),
        (3, 2, CallSecurity.AUTHENTICATED),
        (2, 2, CallSecurity.AUTHENTICATED),
        (3, 1, CallSecurity.NONE),
        (2, 1, CallSecurity.NONE),
        (1, 1, CallSecurity.NONE),
    ],
)
def test_f3_the_least_secure_party_decides(a: int, b: int, expected: CallSecurity) -> None:
    assert call_security(a, b) is expected
    assert call_security(b, a) is expected


def test_f2_the_security_mode_chooses_the_transport() -> None:
    assert registration_transport("SIP", 1) == Transport("SIP", 5060, tls=False)
    assert registration_transport("sip", 2) == Transport("SIP", 5061, tls=True)
    assert registration_transport("SCCP", 1) == Transport("SCCP", 2000, tls=False)
    assert registration_transport("SCCP", 3) == Transport("SCCP", 2443, tls=True)
    with pytest.raises(ValueError, match="SIP or SCCP"):
        registration_transport("H.323", 3)
    with pytest.raises(ValueError, match="two parties"):
        call_security(3)


async def _f3(lab: Lab) -> None:
    profiles = {
        "00AA00000001": ENCRYPTED,
        "00AA00000002": ENCRYPTED,
        "00AA00000003": AUTHENTICATED,
        "00AA00000004": "Universal Device Template - Model-independent Security Profile",
    }
    async with site_of(lab) as site:
        await site.admin("utils ctl set-cluster mixed-mode", "y")
        phones: dict[str, Phone] = {}
        for mac, profile in profiles.items():
            phones[mac] = await site.phone(mac)
            await asyncio.to_thread(inventory.update_device, lab.ctx, f"SEP{mac}", profile=profile)
        await site.synced()
        modes = {}
        for mac, phone in phones.items():
            report = await phone.boot()
            assert report.config_applied
            assert phone.config is not None
            modes[mac] = phone.config.device_security_mode
        assert list(modes.values()) == [3, 3, 2, 1]
        enc1, enc2, auth, plain = modes.values()
        assert call_security(enc1, enc2).icon == "lock"
        assert call_security(enc1, auth).icon == "shield"
        assert call_security(enc1, plain) is CallSecurity.NONE
        assert call_security(enc1, enc2, auth) is CallSecurity.AUTHENTICATED  # a conference


def test_f3_call_icons_from_the_phones_security_modes(lab: Lab) -> None:
    run_async(_f3(lab))
