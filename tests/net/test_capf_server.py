"""The CAPF server over real TLS on 127.0.0.1, with a lab node's own CAPF certificate.

Phones pin the server by the SHA-1 of their ITL's CAPF record; so do these
tests. F1 and H6 end to end: install by null string, authentication string
and existing certificate (LSC first, MIC first, MIC through CAPF-trust), key
types, fetch, delete, expiry, unknown devices, the LSC and status on the
device's record, an encrypted profile's ``.enc.sgn``. Hostile clients
(truncated, oversized, wrong protocol, wrong session id, silent, slow,
bursts) cost only their own connections: a good phone succeeds during and
after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from functools import partial

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.formats.tags import Role
from phonetrust.formats.trustlist import TrustList
from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.net.capf_client import CapfUnreachable, EnrollResult, enroll
from phonetrust.policy.capfauth import AUTH_FAILED
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device, TrustStore
from phonetrust.protocols.capf.client import Credential
from phonetrust.protocols.capf.messages import (
    AuthResponse,
    CapfServerUntrusted,
    Command,
    Element,
    EndSession,
    KeyGenResponse,
    Message,
    Reason,
    Tag,
    framer,
)
from phonetrust.protocols.capf.server import AuthInput, Operation
from phonetrust.service import inventory, nodes, truststores
from phonetrust.service.capfops import (
    CapfStoreError,
    capf_identity,
    load_capf_service,
    status_text,
)
from phonetrust.testing.pki import make_identity, plain_name, rsa_key
from tests.service.conftest import Lab

HOST = "127.0.0.1"
NAME = "SEP001122334455"
ENCRYPTED = "Encrypted Phone Profile with TFTP Encryption"
MANUFACTURING = make_identity(plain_name("Cisco Manufacturing CA SHA2"), slot=11)
ROGUE_CA = make_identity(plain_name("Cisco Manufacturing CA SHA2"), slot=12)


def mic_of(issuer: object = MANUFACTURING, name: str = NAME) -> Credential:
    phone = make_identity(plain_name(f"CP-8845-{name}"), issuer=issuer, slot=13)  # type: ignore[arg-type]
    return phone.certificate, phone.key


def capf_pin(cluster: Lab, node: str = "cucm-pub") -> str:
    """SHA-1 of the node's CAPF certificate, from the CAPF record of the node's ITL."""
    data = cluster.file(node, "ITLFile.tlv")
    assert data is not None
    records = [r for r in TrustList.from_wire(data).records if r.role is Role.CAPF]
    hashes = [r.cert_hash for r in records if r.cert_hash is not None]
    assert hashes, "the ITL has no CAPF record"
    return hashes[0].hex()


Scenario = Callable[[CapfServer], Awaitable[None]]


def serve(cluster: Lab, scenario: Scenario, **options: float) -> None:
    """Run ``scenario`` against CAPF on a free port, then stop it."""

    async def main() -> None:
        service = load_capf_service(cluster.ctx, "cucm-pub", republish_delay=None)
        cert, key = capf_identity(cluster.ctx, "cucm-pub")
        server = await CapfServer.start(
            service,
            tls.server_context(cert, key),
            host=HOST,
            port=0,
            **options,  # type: ignore[arg-type]
        )
        try:
            await scenario(server)
        finally:
            await server.stop()

    asyncio.run(main())


async def phone(server: CapfServer, name: str = NAME, **options: object) -> EnrollResult:
    return await enroll(HOST, server.port, name, timeout=20, **options)  # type: ignore[arg-type]


def schedule(
    cluster: Lab,
    name: str = NAME,
    *,
    operation: CapfOperation = CapfOperation.INSTALL,
    mode: CapfAuthMode = CapfAuthMode.NULL_STRING,
    auth_string: str = "",
    key: str = "EC-P256",
) -> None:
    inventory.schedule_capf(
        cluster.ctx, name, operation=operation, auth_mode=mode, auth_string=auth_string, key=key
    )


def device(cluster: Lab, name: str = NAME) -> Device:
    with cluster.ctx.repo.unit_of_work() as uow:
        found = uow.get_device(name)
    assert found is not None
    return found


def with_phone(lab: Lab) -> Lab:
    """The lab with one phone, NAME."""
    inventory.add_devices(lab.ctx, [Device(NAME, "8845")])
    return lab


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    """The two-node lab cluster of tests/service with one phone, NAME."""
    return with_phone(lab)


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


# -- F1: install, and what the device's record says ---------------------------------------


def test_null_string_install_with_the_itl_pin(
    cluster: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phonetrust.capf")
    schedule(cluster)
    pin = capf_pin(cluster)

    async def scenario(server: CapfServer) -> None:
        result = await phone(server, expected_capf_sha1=pin)
        assert result.success, result
        assert result.operation is Operation.INSTALL
        assert result.reason == Reason.UPDATE_CERTIFICATE
        assert result.server_sha1 == pin
        lsc = result.certificate
        assert lsc is not None
        assert result.key is not None
        assert lsc.public_key() == result.key.public_key()
        capf, _ = capf_identity(cluster.ctx, "cucm-pub")
        assert lsc.issuer == capf.subject
        lsc.verify_directly_issued_by(capf)
        record = device(cluster)
        assert record.lsc == der(lsc)
        assert record.capf_operation is CapfOperation.NONE
        assert status_text(record) == "Upgrade Success"
        again = await phone(server)  # nothing pending any more
        assert again.success
        assert again.operation is Operation.NONE
        assert again.reason == Reason.NO_ACTION

    serve(cluster, scenario)
    lines = [r.getMessage() for r in caplog.records if r.name == "phonetrust.capf"]
    assert any(
        f"device {NAME} operation install: success: Upgrade Success" in line for line in lines
    ), lines


@pytest.mark.parametrize(
    ("key", "bits"),
    [("RSA-2048", 2048), ("EC-P256", 256), ("EC-P384", 384), ("RSA-1024", 1024)],
)
def test_the_phone_generates_the_key_it_is_asked_for(cluster: Lab, key: str, bits: int) -> None:
    schedule(cluster, key=key)
    made = rsa_key(bits, slot=1) if key.startswith("RSA") else None

    async def scenario(server: CapfServer) -> None:
        result = await phone(server, key=made)
        assert result.success, result
        assert result.certificate is not None
        public = result.certificate.public_key()
        size = public.key_size if hasattr(public, "key_size") else 0
        assert size == bits
        assert isinstance(public, ec.EllipticCurvePublicKey) == key.startswith("EC")

    serve(cluster, scenario)


def test_a_phone_generating_another_key_is_refused(cluster: Lab) -> None:
    schedule(cluster, key="RSA-2048")

    async def scenario(server: CapfServer) -> None:
        result = await phone(server, key_spec="EC-P256")
        assert not result.success
        assert result.reason == Reason.INVALID_ELEMENT
        assert "asked for RSA-2048" in result.info
        record = device(cluster)
        assert record.lsc is None
        assert record.capf_operation is CapfOperation.INSTALL
        assert "asked for RSA-2048" in record.capf_status

    serve(cluster, scenario)


def test_the_authentication_string_right_wrong_and_used(cluster: Lab) -> None:
    schedule(cluster, mode=CapfAuthMode.AUTH_STRING, auth_string="13579")

    async def scenario(server: CapfServer) -> None:
        wrong = await phone(server, auth_string="24680")
        assert not wrong.success
        assert wrong.reason == Reason.INVALID_ELEMENT
        assert wrong.certificate is None
        assert device(cluster).lsc is None
        assert device(cluster).capf_status == "Failure: authentication string mismatch"
        right = await phone(server, auth_string="13579")
        assert right.success
        assert device(cluster).lsc is not None
        inventory.update_device(cluster.ctx, NAME, capf_operation=CapfOperation.INSTALL)
        reused = await phone(server, auth_string="13579")
        assert not reused.success
        assert reused.reason == Reason.INVALID_ELEMENT
        assert reused.info == AUTH_FAILED
        assert "already used" in device(cluster).capf_status

    serve(cluster, scenario)


def test_by_existing_certificate_lsc_first_mic_first_and_neither(cluster: Lab) -> None:
    truststores.upload(cluster.ctx, TrustStore.CAPF, MANUFACTURING.certificate)
    schedule(cluster)
    mic = mic_of()

    async def scenario(server: CapfServer) -> None:
        first = await phone(server)
        assert first.success
        assert first.certificate is not None
        assert first.key is not None
        lsc: Credential = (first.certificate, first.key)
        # LSC first: the phone presents its LSC
        schedule(cluster, mode=CapfAuthMode.EXISTING_LSC_FIRST)
        renewed = await phone(server, lsc=lsc, mic=mic)
        assert renewed.success, renewed
        assert renewed.certificate is not None
        assert renewed.certificate.serial_number != first.certificate.serial_number
        # MIC first: the phone presents its MIC, trusted through CAPF-trust
        schedule(cluster, mode=CapfAuthMode.EXISTING_MIC_FIRST)
        by_mic = await phone(server, lsc=lsc, mic=mic, prefer_mic=True)
        assert by_mic.success, by_mic
        # neither: nothing to authenticate with
        schedule(cluster, mode=CapfAuthMode.EXISTING_LSC_FIRST)
        neither = await phone(server)
        assert not neither.success
        assert neither.reason == Reason.INVALID_ELEMENT
        assert "no LSC or MIC" in device(cluster).capf_status

    serve(cluster, scenario)


def test_an_untrusted_mic_is_refused(cluster: Lab) -> None:
    truststores.upload(cluster.ctx, TrustStore.CAPF, MANUFACTURING.certificate)
    schedule(cluster, mode=CapfAuthMode.EXISTING_MIC_FIRST)

    async def scenario(server: CapfServer) -> None:
        rogue = await phone(server, mic=mic_of(ROGUE_CA))
        assert not rogue.success
        assert rogue.reason == Reason.INVALID_ELEMENT
        assert "CAPF-trust" in device(cluster).capf_status
        assert device(cluster).lsc is None
        trusted = await phone(server, mic=mic_of())
        assert trusted.success

    serve(cluster, scenario)


def test_an_lsc_of_an_earlier_capf_certificate_still_authenticates(cluster: Lab) -> None:
    schedule(cluster)
    held: list[EnrollResult] = []

    async def install(server: CapfServer) -> None:
        held.append(await phone(server))

    serve(cluster, install)
    cluster.later(600)
    nodes.regenerate(cluster.ctx, "cucm-pub", CertName.CAPF)
    schedule(cluster, mode=CapfAuthMode.EXISTING_LSC_FIRST)
    old = held[0]
    assert old.certificate is not None
    assert old.key is not None
    held_lsc: Credential = (old.certificate, old.key)

    async def renew(server: CapfServer) -> None:
        result = await phone(server, lsc=held_lsc)
        assert result.success, result
        assert result.certificate is not None
        assert result.certificate.issuer == held_lsc[0].issuer  # the CAPF CN is kept
        assert result.server_sha1 != old.server_sha1  # a new CAPF certificate presented

    serve(cluster, renew)


def test_fetch_and_delete(cluster: Lab) -> None:
    schedule(cluster)

    async def scenario(server: CapfServer) -> None:
        installed = await phone(server)
        assert installed.certificate is not None
        assert installed.key is not None
        lsc: Credential = (installed.certificate, installed.key)
        schedule(cluster, operation=CapfOperation.FETCH)
        fetched = await phone(server, lsc=lsc)
        assert fetched.success
        assert fetched.operation is Operation.FETCH
        assert fetched.reason == Reason.NO_ACTION
        assert device(cluster).capf_status == "Troubleshoot Success"
        schedule(cluster, operation=CapfOperation.DELETE)
        deleted = await phone(server, lsc=lsc)
        assert deleted.success
        assert deleted.operation is Operation.DELETE
        assert deleted.certificate is None  # the phone forgot its LSC
        record = device(cluster)
        assert record.lsc is None
        assert status_text(record) == "Delete Success"

    serve(cluster, scenario)


def test_an_expired_operation_and_an_unknown_device(cluster: Lab) -> None:
    schedule(cluster)
    cluster.later(11 * 86400)

    async def scenario(server: CapfServer) -> None:
        expired = await phone(server)
        assert not expired.success
        assert expired.reason == Reason.INVALID_ELEMENT
        assert expired.info == AUTH_FAILED  # the phone learns no more than any client
        assert device(cluster).capf_status == "Failure: operation expired"
        unknown = await phone(server, "SEP0000000000FF")
        assert not unknown.success
        assert (unknown.reason, unknown.info) == (Reason.INVALID_ELEMENT, AUTH_FAILED)

    serve(cluster, scenario)


def test_an_encrypted_profile_serves_enc_sgn_after_enrolment(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(NAME, "8845", profile=ENCRYPTED)])
    schedule(lab, key="RSA-1024")
    assert lab.file("cucm-pub", f"{NAME}.cnf.xml.enc.sgn") is None

    async def scenario(server: CapfServer) -> None:
        result = await phone(server, key=rsa_key(1024, slot=1))
        assert result.success, result
        for node in ("cucm-pub", "cucm-sub1"):
            assert lab.file(node, f"{NAME}.cnf.xml.enc.sgn") is not None

    serve(lab, scenario)


def test_a_wrong_pin_is_refused_and_the_server_goes_on(cluster: Lab) -> None:
    schedule(cluster)

    async def scenario(server: CapfServer) -> None:
        with pytest.raises(CapfServerUntrusted, match="No valid CAPF server"):
            await phone(server, expected_capf_sha1="00" * 20)
        assert (await phone(server, expected_capf_sha1=capf_pin(cluster))).success

    serve(cluster, scenario)


def test_swap_tls_and_swap_service(cluster: Lab) -> None:
    schedule(cluster)
    for name in ("SEP0011223344AA", "SEP0011223344BB"):
        inventory.add_devices(cluster.ctx, [Device(name, "8845")])
        schedule(cluster, name)

    async def scenario(server: CapfServer) -> None:
        assert (await phone(server)).success
        cluster.later(600)
        nodes.regenerate(cluster.ctx, "cucm-pub", CertName.CAPF)
        cert, key = capf_identity(cluster.ctx, "cucm-pub")
        fresh = load_capf_service(cluster.ctx, "cucm-pub", republish_delay=None)
        server.swap_service(fresh)
        server.swap_tls(tls.server_context(cert, key))
        result = await phone(server, "SEP0011223344AA", expected_capf_sha1=capf_pin(cluster))
        assert result.success
        assert result.certificate is not None
        result.certificate.verify_directly_issued_by(cert)
        server.swap_service(fresh)  # the same one again: nothing to close
        assert (await phone(server, "SEP0011223344BB")).success

    serve(cluster, scenario)


# -- hostile clients ---------------------------------------------------------------------------


async def tls_connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(HOST, port, ssl=tls.client_context())


async def drop(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, ssl.SSLError, OSError):
        await writer.wait_closed()


async def read_messages(reader: asyncio.StreamReader, limit: float = 5.0) -> list[Message]:
    """Every message until the server closes the connection."""
    stream = framer()
    found: list[Message] = []
    with contextlib.suppress(ConnectionError, ssl.SSLError):
        async with asyncio.timeout(limit):
            while data := await reader.read(4096):
                stream.feed(data)
                while (message := stream.pop()) is not None:
                    found.append(message)
    return found


async def hostile(server: CapfServer, send: Callable[[int], bytes]) -> list[Message]:
    """Connect, read the AUTH REQUEST, send ``send(session id)``, collect the answers."""
    reader, writer = await tls_connect(server.port)
    try:
        stream = framer()
        while (request := stream.pop()) is None:
            stream.feed(await reader.read(4096))
        assert request.command is Command.AUTH_REQUEST
        writer.write(send(request.session_id))
        await writer.drain()
        return await read_messages(reader)
    finally:
        await drop(writer)


def reason_of(message: Message) -> int | None:
    return message.reason if isinstance(message, EndSession) else None


def truncated(session_id: int, cut: int) -> bytes:
    return auth_response(session_id)[:cut]


def auth_response(session_id: int) -> bytes:
    return AuthResponse.of(
        session_id, Element.number(Tag.VERSION, 3), Element.text(Tag.DEVICE_NAME, NAME)
    ).to_wire()


HOSTILE: dict[str, Callable[[int], bytes]] = {
    "wrong-protocol-id": lambda sid: b"\x57" + auth_response(sid)[1:],
    "session-id-mismatch": lambda sid: auth_response(sid ^ 1),
    "oversized": lambda sid: bytes([0x55, 2]) + sid.to_bytes(4, "big") + b"\xff\xff",
    "unknown-command": lambda sid: bytes([0x55, 99]) + sid.to_bytes(4, "big") + b"\x00\x00",
    "out-of-order": lambda sid: KeyGenResponse(sid).to_wire(),
    "element-lies": lambda sid: (
        bytes([0x55, 2]) + sid.to_bytes(4, "big") + bytes.fromhex("0004 0d 0010 41")
    ),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_malformed_messages_end_their_session_with_reason_7(cluster: Lab, name: str) -> None:
    schedule(cluster)

    async def scenario(server: CapfServer) -> None:
        answers = await hostile(server, HOSTILE[name])
        assert [(m.command, reason_of(m)) for m in answers] == [
            (Command.END_SESSION, Reason.INVALID_ELEMENT)
        ]
        assert (await phone(server)).success

    serve(cluster, scenario)


def test_truncated_messages_then_hang_up(cluster: Lab) -> None:
    schedule(cluster)

    async def scenario(server: CapfServer) -> None:
        for cut in (1, 5, 9):
            assert await hostile(server, partial(truncated, cut=cut)) == []
        await settled(server)
        assert (await phone(server)).success

    serve(cluster, scenario, read_timeout=0.5)


async def settled(server: CapfServer, limit: float = 4.0) -> float:
    """Seconds until the server holds no connection (fails after ``limit``)."""
    start = time.monotonic()
    while server.open_connections:
        assert time.monotonic() - start < limit, f"{server.open_connections} still open"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


def test_silent_and_slow_clients_are_dropped_in_time(cluster: Lab) -> None:
    schedule(cluster)

    async def scenario(server: CapfServer) -> None:
        raw = socket.create_connection((HOST, server.port))  # never starts TLS
        silent = await tls_connect(server.port)  # reads the AUTH REQUEST, never answers
        slow = await tls_connect(server.port)  # answers a byte every 0.2 s
        started = time.monotonic()
        try:
            await slow[0].read(4096)
            with contextlib.suppress(ConnectionError, ssl.SSLError):
                for byte in auth_response(0)[:12]:
                    slow[1].write(bytes([byte]))
                    await slow[1].drain()
                    await asyncio.sleep(0.2)
            ended = await read_messages(silent[0])
            assert [(m.command, reason_of(m)) for m in ended] == [
                (Command.AUTH_REQUEST, None),
            ] or ended == []
            await settled(server)
            assert time.monotonic() - started < 4.0
        finally:
            raw.close()
            await drop(silent[1])
            await drop(slow[1])
        assert (await phone(server)).success

    serve(cluster, scenario, read_timeout=0.5, session_timeout=1.5)


def test_a_burst_is_bounded_and_a_phone_gets_through_during_and_after(cluster: Lab) -> None:
    limit = 16
    schedule(cluster)
    inventory.add_devices(cluster.ctx, [Device("SEP0011223344AA", "8845")])
    schedule(cluster, "SEP0011223344AA")

    async def scenario(server: CapfServer) -> None:
        bogus: list[socket.socket] = []
        most = 0
        try:
            for n in range(80):
                s = socket.create_connection((HOST, server.port))
                if n % 2:
                    s.sendall(b"\x16\x03\x01\x00\x05garbage")  # a broken TLS hello
                bogus.append(s)
            during = asyncio.create_task(phone(server))
            while not during.done():
                most = max(most, server.open_connections)
                await asyncio.sleep(0.01)
            assert (await during).success
            assert most <= limit
            assert most == limit  # the bound was reached, and held
            await settled(server, limit=8.0)
        finally:
            for s in bogus:
                s.close()
        assert (await phone(server, "SEP0011223344AA")).success
        assert server.open_connections <= limit

    serve(cluster, scenario, max_connections=limit, read_timeout=0.5)


def test_stop_closes_idle_connections_and_the_port(cluster: Lab) -> None:
    async def main() -> None:
        service = load_capf_service(cluster.ctx, "cucm-pub", republish_delay=None)
        cert, key = capf_identity(cluster.ctx, "cucm-pub")
        server = await CapfServer.start(service, tls.server_context(cert, key), host=HOST, port=0)
        idle = await tls_connect(server.port)
        assert (await idle[0].read(4096))[:2] == b"\x55\x01"  # the server speaks first
        started = time.monotonic()
        await server.stop()
        assert time.monotonic() - started < 3
        async with asyncio.timeout(3):
            assert await idle[0].read() == b""
        await drop(idle[1])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, server.port), timeout=1).close()
        with pytest.raises(CapfStoreError, match="the CAPF service is closed"):
            service.submit_decide(NAME, AuthInput(NAME), service.now())

    asyncio.run(main())


def test_the_client_reports_an_unreachable_server() -> None:
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    try:
        with pytest.raises(CapfUnreachable, match=f"CAPF at {HOST}:{port}"):
            asyncio.run(enroll(HOST, port, NAME, timeout=2))
    finally:
        s.close()
