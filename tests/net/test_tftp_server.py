"""The TFTP server over real UDP sockets on 127.0.0.1, serving a real lab cluster's file plan.

Phones fetch ``CTLSEP``/``ITLSEP``/``SEP<MAC>.cnf.xml.sgn`` (A1); the server
answers from a snapshot of the plan and the TFTP directory, refuses
anything else with error 1, relays from remote clusters (E2), records
downloads, and swaps in a new plan without disturbing running transfers.
Hostile input (garbage, floods of bad names, clients that never ACK) is
bounded in count and time, and a good client succeeds during and after.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from phonetrust.errors import LocalError
from phonetrust.net.tftp import (
    IDLE_REST,
    RESERVED_DESCRIPTORS,
    TftpServer,
    default_max_descriptors,
)
from phonetrust.net.tftp_pool import grow_receive_buffer
from phonetrust.net.tftp_remote import fetch
from phonetrust.policy.domain import Device
from phonetrust.protocols.tftp.packets import (
    Ack,
    Data,
    Error,
    ErrorCode,
    PeerError,
    ReadRequest,
    WriteRequest,
    parse,
)
from phonetrust.protocols.tftp.transfer import ServerConfig
from phonetrust.service import inventory, security
from phonetrust.service.tftpfiles import DownloadLog, Stored, TftpSource, load_source
from tests.service.conftest import Lab

HOST = "127.0.0.1"
MAC = "001122334455"
PHONE = f"SEP{MAC}"
STRANGER = "SEPAABBCCDDEEFF"
QUICK = ServerConfig(timeout=0.2, max_timeout=0.4, retries=3, max_transfers=2000, max_queue=2000)
"""Short retransmission times, so that silent clients are given up within about two seconds."""


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 30))


async def get(server: TftpServer, name: str, **options: int | bool) -> bytes:
    data, _ = await fetch((HOST, server.port), name, timeout=5, rto=0.2, **options)  # type: ignore[arg-type]
    return data


async def not_found(server: TftpServer, name: str) -> None:
    with pytest.raises(PeerError) as caught:
        await get(server, name)
    assert caught.value.code == ErrorCode.FILE_NOT_FOUND


def exchange(port: int, datagram: bytes) -> tuple[bytes, tuple[str, int]]:
    """Send one datagram from a fresh socket; the first answer and where it came from."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(3)
        sock.sendto(datagram, (HOST, port))
        data, addr = sock.recvfrom(65536)
        return data, addr


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    """The lab in mixed mode with one phone, and a TFTP directory with firmware and a key file."""
    security.set_mixed_mode(lab.ctx, "cucm-pub")
    inventory.add_devices(lab.ctx, [Device(PHONE, "8845")])
    tftp = lab.where.tftp_dir
    (tftp / "firmware").mkdir(parents=True)
    (tftp / "firmware" / "sip88xx.14-2.loads").write_bytes(b"F" * 3000)
    (tftp / "RingList.xml").write_bytes(b"<CiscoIPPhoneRingList/>")
    (tftp / "ITLRecovery.p12").write_bytes(b"secret")
    (tftp / "tomcat.pem").write_bytes(b"secret")
    (tftp / "ITLFile.tlv").write_bytes(b"not the plan's")
    return lab


async def serve(cluster: Lab, node: str = "cucm-pub", **kw: object) -> TftpServer:
    source = await asyncio.to_thread(load_source, cluster.ctx, node)
    return await TftpServer.start(source, port=0, **kw)  # type: ignore[arg-type]


def test_a_phone_gets_its_trust_lists_and_signed_config(cluster: Lab) -> None:
    async def body() -> None:
        server = await serve(cluster)
        try:
            assert await get(server, f"CTLSEP{MAC}.tlv") == cluster.file("cucm-pub", "CTLFile.tlv")
            assert await get(server, f"ITLSEP{MAC}.tlv") == cluster.file("cucm-pub", "ITLFile.tlv")
            assert await get(server, "ITLFile.tlv") == cluster.file("cucm-pub", "ITLFile.tlv")
            config = await get(server, f"{PHONE}.cnf.xml.sgn")
            assert config == cluster.file("cucm-pub", f"{PHONE}.cnf.xml.sgn")
            # lower-case MAC, as some phones spell it
            assert await get(server, f"ITLSEP{MAC.lower()}.tlv") == cluster.file(
                "cucm-pub", "ITLFile.tlv"
            )
        finally:
            await server.stop()
        sub = await serve(cluster, "cucm-sub1")
        try:
            itl = await get(sub, f"ITLSEP{MAC}.tlv")
            assert itl == cluster.file("cucm-sub1", "ITLFile.tlv")
            assert itl != cluster.file("cucm-pub", "ITLFile.tlv")
        finally:
            await sub.stop()

    run(body)


def test_unknown_devices_and_names_outside_the_plan_get_file_not_found(
    cluster: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="phonetrust.tftp")

    async def body() -> None:
        server = await serve(cluster)
        try:
            for name in (
                f"ITLSEP{STRANGER[3:]}.tlv",
                f"CTLSEP{STRANGER[3:]}.tlv",
                f"{STRANGER}.cnf.xml.sgn",
                f"{PHONE}.cnf.xml.enc.sgn",
                "nothing.bin",
                "../phonetrust.db",
                "firmware/../../master.key",
                "/etc/passwd",
                "C:\\boot.ini",
                "..\\..\\phonetrust.db",
                "ITLRecovery.p12",
                "tomcat.pem",
                "keys/x.key",
                ".hidden",
                "x" * 300,
            ):
                await not_found(server, name)
        finally:
            await server.stop()

    run(body)
    assert "unknown device SEPAABBCCDDEEFF" in caplog.text
    assert "path outside the TFTP directory" in caplog.text
    assert "key material is never served" in caplog.text
    assert "absolute path" in caplog.text
    assert "longer than 255 characters" in caplog.text


def test_files_of_the_tftp_directory_but_never_its_trust_lists(cluster: Lab) -> None:
    async def body() -> None:
        server = await serve(cluster)
        try:
            assert await get(server, "firmware/sip88xx.14-2.loads") == b"F" * 3000
            assert await get(server, "firmware\\sip88xx.14-2.loads") == b"F" * 3000
            assert await get(server, "RingList.xml") == b"<CiscoIPPhoneRingList/>"
            assert await get(server, "ITLFile.tlv") == cluster.file("cucm-pub", "ITLFile.tlv")
        finally:
            await server.stop()

    run(body)


def test_write_requests_and_odd_modes_are_refused(cluster: Lab) -> None:
    async def body() -> None:
        server = await serve(cluster)
        try:
            answer, _ = await asyncio.to_thread(
                exchange, server.port, WriteRequest("ITLFile.tlv").to_wire()
            )
            assert parse(answer) == Error(ErrorCode.ACCESS_VIOLATION, "Access violation")
            answer, _ = await asyncio.to_thread(
                exchange, server.port, ReadRequest("ITLFile.tlv", "mail").to_wire()
            )
            packet = parse(answer)
            assert isinstance(packet, Error)
            assert packet.code == ErrorCode.ILLEGAL_OPERATION
            # netascii: the same bytes as octet (translation would break signatures)
            answer, addr = await asyncio.to_thread(
                exchange, server.port, ReadRequest("RingList.xml", "netascii").to_wire()
            )
            assert parse(answer) == Data(1, b"<CiscoIPPhoneRingList/>")
            assert addr[1] != server.port  # DATA comes from the transfer's own port
        finally:
            await server.stop()

    run(body)


def test_options_end_to_end(cluster: Lab) -> None:
    expected = cluster.file("cucm-pub", f"{PHONE}.cnf.xml.sgn")
    assert expected is not None

    async def body() -> None:
        server = await serve(cluster)
        try:
            for options in (
                {"blksize": 1428, "tsize": True},
                {"blksize": 65464},
                {"blksize": 8, "windowsize": 16},
                {"windowsize": 4, "tsize": True},
            ):
                data, transfer = await fetch(
                    (HOST, server.port),
                    f"{PHONE}.cnf.xml.sgn",
                    timeout=5,
                    **options,  # type: ignore[arg-type]
                )
                assert data == expected
                assert transfer.blksize == options.get("blksize", 512)
                assert transfer.windowsize == options.get("windowsize", 1)
                assert transfer.tsize == (len(expected) if "tsize" in options else None)
        finally:
            await server.stop()

    run(body)


def test_a_plan_change_is_swapped_in_and_running_transfers_keep_their_bytes(
    cluster: Lab,
) -> None:
    old_itl = cluster.file("cucm-pub", "ITLFile.tlv")
    assert old_itl is not None

    async def body() -> None:
        server = await serve(cluster)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as slow:
                slow.settimeout(3)
                slow.sendto(ReadRequest(f"ITLSEP{MAC}.tlv").to_wire(), (HOST, server.port))
                first, tid = await asyncio.to_thread(slow.recvfrom, 65536)
                await asyncio.to_thread(cluster.admin, "set cert regen CallManager", "yes")
                new_itl = cluster.file("cucm-pub", "ITLFile.tlv")
                assert new_itl is not None
                assert new_itl != old_itl
                source = await asyncio.to_thread(load_source, cluster.ctx, "cucm-pub")
                server.swap_source(source)
                assert await get(server, f"ITLSEP{MAC}.tlv") == new_itl
                # the transfer started before the swap finishes with the old bytes
                got = [Data.from_wire(first)]
                while len(got[-1].data) == 512:
                    slow.sendto(Ack(got[-1].block).to_wire(), tid)
                    packet, _ = await asyncio.to_thread(slow.recvfrom, 65536)
                    got.append(Data.from_wire(packet))
                slow.sendto(Ack(got[-1].block).to_wire(), tid)
                assert b"".join(d.data for d in got) == old_itl
        finally:
            await server.stop()

    run(body)


def test_downloads_are_recorded_per_device(cluster: Lab) -> None:
    itl = cluster.file("cucm-pub", "ITLFile.tlv")
    assert itl is not None

    async def body() -> None:
        server = await serve(cluster, downloads=DownloadLog(cluster.ctx))
        try:
            await get(server, f"ITLSEP{MAC}.tlv")
            await get(server, f"CTLSEP{MAC}.tlv")
            await get(server, f"{PHONE}.cnf.xml.sgn")
            await get(server, "ITLFile.tlv")  # no device named: nothing to record
            await get(server, "RingList.xml")
        finally:
            await server.stop()

    run(body)
    with cluster.ctx.repo.unit_of_work() as uow:
        rows = uow.list_downloads()
    assert [(r.device, r.filename, r.node) for r in rows] == [
        (PHONE, "CTLFile.tlv", "cucm-pub"),
        (PHONE, "ITLFile.tlv", "cucm-pub"),
        (PHONE, f"{PHONE}.cnf.xml.sgn", "cucm-pub"),
    ]
    itl_row = rows[1]
    assert (itl_row.size, len(itl_row.sha1)) == (len(itl), 40)
    import hashlib  # noqa: PLC0415 - only this check needs it

    assert itl_row.sha1 == hashlib.sha1(itl).hexdigest()


def test_centralized_tftp_relays_what_it_lacks_from_a_remote_cluster(cluster: Lab) -> None:
    remote_itl = b"remote cluster ITL" * 100
    remote = TftpSource(
        "remote-tftp",
        1,
        {
            "ITLFile.tlv": Stored.of(remote_itl),
            f"{STRANGER}.cnf.xml.sgn": Stored.of(b"remote config"),
        },
        devices=frozenset({STRANGER}),
    )

    async def body() -> None:
        far = await TftpServer.start(remote, port=0)
        central = await serve(cluster, alternates=[(HOST, far.port)])
        try:
            # the remote phone's files come from its own cluster, not ours (E2)
            assert await get(central, f"ITLSEP{STRANGER[3:]}.tlv") == remote_itl
            assert await get(central, f"{STRANGER}.cnf.xml.sgn") == b"remote config"
            # our own phone still gets our files
            assert await get(central, f"ITLSEP{MAC}.tlv") == cluster.file("cucm-pub", "ITLFile.tlv")
            await not_found(central, "neither-has-it.bin")
            await not_found(central, "../escape")  # never asked of the remote
            fetched = far.stats.requests
            await far.stop()
            # cached: the remote is gone, the answer is still there
            assert await get(central, f"ITLSEP{STRANGER[3:]}.tlv") == remote_itl
            assert far.stats.requests == fetched
        finally:
            await central.stop()
            await far.stop()

    run(body)


def test_alternates_come_from_the_enterprise_parameter(cluster: Lab) -> None:
    remote = TftpSource("far", 1, {"only-there.bin": Stored.of(b"far away")})

    async def body() -> None:
        far = await TftpServer.start(remote, port=0)
        try:
            await asyncio.to_thread(
                inventory.set_param,
                cluster.ctx,
                "Alternate Cisco File Servers",
                f"{HOST}:{far.port}",
            )
            central = await serve(cluster)
            try:
                assert central.source.alternates == ((HOST, far.port),)
                assert await get(central, "only-there.bin") == b"far away"
            finally:
                await central.stop()
        finally:
            await far.stop()

    run(body)


def flood(port: int, datagrams: list[bytes], senders: int = 8) -> None:
    """Send every datagram from a few sockets, as fast as the loopback takes them."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(senders)]
    try:
        for i, datagram in enumerate(datagrams):
            socks[i % senders].sendto(datagram, (HOST, port))
    finally:
        for sock in socks:
            sock.close()


def silent_clients(port: int, count: int, name: str) -> list[socket.socket]:
    """Clients that ask for a file and never acknowledge anything."""
    socks = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(ReadRequest(name).to_wire(), (HOST, port))
        socks.append(sock)
    return socks


def test_hostile_input_is_bounded_and_a_good_client_still_succeeds(cluster: Lab) -> None:
    itl = cluster.file("cucm-pub", "ITLFile.tlv")
    garbage = [bytes([i % 256]) * (i % 700) for i in range(3000)]
    garbage += [b"\x00\x01" + b"A" * 600, b"\x00\x03\x00\x01x", b"\x00\x04\x00\x01"] * 300
    missing = [ReadRequest(f"missing-{i}.bin").to_wire() for i in range(1500)]
    tricks = [ReadRequest(f"../../etc/shadow{i}").to_wire() for i in range(500)]

    async def body() -> None:
        server = await serve(cluster, config=QUICK)
        held: list[socket.socket] = []
        try:
            started = time.monotonic()
            attack = asyncio.gather(
                asyncio.to_thread(flood, server.port, garbage),
                asyncio.to_thread(flood, server.port, missing + tricks),
            )
            held = await asyncio.to_thread(silent_clients, server.port, 300, f"ITLSEP{MAC}.tlv")
            during = await asyncio.gather(*(get(server, f"ITLSEP{MAC}.tlv") for _ in range(20)))
            assert during == [itl] * 20
            await attack
            for _ in range(200):  # the silent clients are given up within about two seconds
                if server.active == 0:
                    break
                await asyncio.sleep(0.05)
            assert server.active == 0
            assert server.stats.failed >= 300
            assert await get(server, f"ITLSEP{MAC}.tlv") == itl
            assert time.monotonic() - started < 15
        finally:
            for sock in held:
                sock.close()
            await server.stop()

    run(body)


def test_over_the_cap_requests_wait_and_a_full_queue_tells_its_oldest_busy(
    cluster: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    tight = ServerConfig(timeout=0.2, max_timeout=0.4, retries=2, max_transfers=5, max_queue=5)

    async def body() -> None:
        server = await serve(cluster, config=tight)
        held: list[socket.socket] = []
        try:
            held = await asyncio.to_thread(silent_clients, server.port, 5, f"ITLSEP{MAC}.tlv")
            await asyncio.sleep(0.05)
            assert server.active == 5
            # five more wait in the queue; the eleventh takes the place of the oldest of them,
            # which is told the server is busy
            queued = await asyncio.to_thread(silent_clients, server.port, 5, "RingList.xml")
            held += queued
            answer, _ = await asyncio.to_thread(
                exchange, server.port, ReadRequest("RingList.xml").to_wire()
            )
            # once the silent ones are given up (or grow stale), the fresh one is served
            assert parse(answer) == Data(1, b"<CiscoIPPhoneRingList/>")
            data, _ = await asyncio.to_thread(queued[0].recvfrom, 65536)
            assert parse(data) == Error(0, "Server busy, try again later")
            data, _ = await asyncio.to_thread(queued[1].recvfrom, 65536)
            assert parse(data) == Data(1, b"<CiscoIPPhoneRingList/>")
            assert await get(server, "RingList.xml") == b"<CiscoIPPhoneRingList/>"
        finally:
            for sock in held:
                sock.close()
            await server.stop()
        assert caplog.text.count("all 5 transfer slots are taken") == 1

    run(body)


def test_stop_lets_a_running_transfer_finish(cluster: Lab) -> None:
    """A client in the middle of a transfer when stop() is called still gets the whole file.

    The client holds its first ACK until stop() has begun (and stopped taking
    requests), then acknowledges the rest: the transfer must finish within the
    grace, not be aborted with "server stopped".
    """
    firmware = b"F" * 3000  # six blocks of 512

    async def body() -> None:
        server = await serve(cluster)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            client.sendto(ReadRequest("firmware/sip88xx.14-2.loads").to_wire(), (HOST, server.port))
            first, tid = await asyncio.to_thread(client.recvfrom, 65536)
            got = [Data.from_wire(first)]
            assert server.active == 1
            stopping = asyncio.ensure_future(server.stop())
            await asyncio.sleep(0)  # stop() runs up to its first wait: the grace
            assert not stopping.done(), "stop() returned with a transfer running"
            while len(got[-1].data) == 512:
                client.sendto(Ack(got[-1].block).to_wire(), tid)
                packet = parse((await asyncio.to_thread(client.recvfrom, 65536))[0])
                assert isinstance(packet, Data), f"the transfer was cut short: {packet}"
                if packet.block == got[-1].block + 1:  # else a retransmission: already held
                    got.append(packet)
            client.sendto(Ack(got[-1].block).to_wire(), tid)
            await stopping
        assert b"".join(d.data for d in got) == firmware
        assert (server.stats.completed, server.stats.failed) == (1, 0)

    run(body)


def _has_cap_net_admin() -> bool:
    """Whether this process may pass net.core.rmem_max (SO_RCVBUFFORCE), per /proc/self/status."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 12 & 1)  # CAP_NET_ADMIN is capability 12
    return False


RMEM_MAX = Path("/proc/sys/net/core/rmem_max")
WANTED_BUFFER = 8 * 1024 * 1024
"""What ``TftpServer.start`` asks for by default."""
_rmem_max = int(RMEM_MAX.read_text()) if RMEM_MAX.is_file() else 0


@pytest.mark.skipif(not RMEM_MAX.is_file(), reason="Linux's socket buffer rules")
def test_the_listener_gets_the_receive_buffer_linux_grants(
    cluster: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    """The server asks for 8 MiB; Linux caps a request at net.core.rmem_max and reports it doubled.

    With CAP_NET_ADMIN, SO_RCVBUFFORCE passes the cap: the full 8 MiB, doubled.
    Without it, a cap below 8 MiB is what the listener gets, and a warning says so.
    """
    capped = _rmem_max < WANTED_BUFFER and not _has_cap_net_admin()
    expected = 2 * (_rmem_max if capped else WANTED_BUFFER)

    async def body() -> None:
        server = await serve(cluster)
        try:
            assert server.recv_buffer == expected
        finally:
            await server.stop()

    run(body)
    assert ("the OS caps the receive buffer" in caplog.text) == capped


class CappedSocket:
    """A socket whose OS grants at most 212,992 bytes of receive buffer (Linux's default cap)."""

    def __init__(self) -> None:
        self.size = 0

    def setsockopt(self, level: int, option: int, value: int) -> None:
        if option != socket.SO_RCVBUF:
            raise PermissionError("CAP_NET_ADMIN needed")
        self.size = min(value, 212_992) * 2

    def getsockopt(self, level: int, option: int) -> int:
        return self.size


def test_an_os_cap_on_the_receive_buffer_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    granted = grow_receive_buffer(CappedSocket(), 8 * 1024 * 1024)  # type: ignore[arg-type]
    assert granted == 425_984
    assert "the OS caps the receive buffer at 425984 bytes (asked for 8388608)" in caplog.text


def test_the_tftp_dir_defaults_to_the_data_directory(tmp_path: Path, cluster: Lab) -> None:
    source = load_source(cluster.ctx, "cucm-pub")
    assert "RingList.xml" in source.directory
    assert "ITLRecovery.p12" not in source.directory
    assert "ITLFile.tlv" not in source.directory
    assert load_source(cluster.ctx, "cucm-pub", tftp_dir=tmp_path / "none").directory == {}
    with pytest.raises(LocalError, match="cannot be the TFTP directory"):
        load_source(cluster.ctx, "cucm-pub", tftp_dir=tmp_path)


def test_transfer_ports_rest_before_they_serve_again_and_late_datagrams_are_dropped() -> None:
    """A finished transfer's socket is kept, but its port (TID) serves no one at once.

    After IDLE_REST it serves a new client; datagrams its old client sent late
    are read and dropped, never taken for the new transfer's ACKs.
    """
    content = bytes(range(256)) * 5  # 1,280 bytes: three blocks
    source = TftpSource("n", 1, directory={"RingList.xml": Stored.of(content)})
    rrq = ReadRequest("RingList.xml").to_wire()

    def download(sock: socket.socket, port: int) -> tuple[bytes, tuple[str, int]]:
        """A lock-step read with a blocking socket; the file and the server's TID."""
        sock.settimeout(3)
        sock.sendto(rrq, (HOST, port))
        got, tid, block = b"", ("", 0), 0
        while True:
            data, tid = sock.recvfrom(65536)
            assert data[:4] == Data(block + 1, b"").to_wire()[:4]
            block += 1
            got += data[4:]
            sock.sendto(Ack(block).to_wire(), tid)
            if len(data) < 4 + 512:
                return got, tid

    async def body() -> None:
        server = await TftpServer.start(source, port=0)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as first:
                got, tid1 = await asyncio.to_thread(download, first, server.port)
                assert got == content
                # a late duplicate ACK to the kept socket, from the client it served
                first.sendto(Ack(3).to_wire(), tid1)
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as second:
                    got, tid2 = await asyncio.to_thread(download, second, server.port)
                assert (got, tid2 != tid1) == (content, True)  # no port reused at once
                await asyncio.sleep(IDLE_REST + 0.2)
                first.sendto(Ack(1).to_wire(), tid1)  # later still: dropped as well
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as third:
                    got, tid3 = await asyncio.to_thread(download, third, server.port)
                assert got == content
                assert tid3[1] in (tid1[1], tid2[1])  # a rested socket serves again
            assert server.stats.completed == 3
            assert server.stats.failed == 0
        finally:
            await server.stop()

    run(body)


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts /proc/self/fd")
def test_the_server_keeps_within_its_descriptor_budget(caplog: pytest.LogCaptureFixture) -> None:
    """Transfer sockets, running and idle, never exceed the budget less the reserved ones."""
    source = TftpSource("n", 1, directory={"f.bin": Stored.of(b"f" * 3000)})
    budget = RESERVED_DESCRIPTORS + 8

    async def body() -> None:
        before = open_descriptors()
        server = await TftpServer.start(source, port=0, max_descriptors=budget)
        try:
            assert server.max_descriptors == budget
            # a flood of 200 never-answering requests and 20 good clients, 10 at a time
            held = await asyncio.to_thread(silent_clients, server.port, 200, "f.bin")
            peak = open_descriptors() - before
            for _ in range(2):
                got = await asyncio.gather(*(get(server, "f.bin") for _ in range(10)))
                assert got == [b"f" * 3000] * 10
                peak = max(peak, open_descriptors() - before)
            for sock in held:
                sock.close()
            # the server's own: listener, epoll, transfer sockets (the relay makes none here);
            # the clients' sockets (10 at a time) are in this process too
            assert peak <= 2 + 8 + 10 + 200
            assert server.active <= 8
        finally:
            await server.stop()
        assert open_descriptors() <= before + 1
        assert caplog.text.count("all 8 transfer slots are taken") == 1

    run(body)
    with pytest.raises(LocalError, match="TFTP needs at least"):
        asyncio.run(TftpServer.start(source, port=0, max_descriptors=RESERVED_DESCRIPTORS))


def test_the_default_budget_is_half_the_soft_open_file_limit() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert default_max_descriptors() == max(RESERVED_DESCRIPTORS + 4, soft // 2)
