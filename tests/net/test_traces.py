"""Service traces (issue 10, item 9): CUCM's lines, rotated files, and never a stopped service.

Real servers on 127.0.0.1 write real files; the lines are compared with
the ones reference 004 (TFTP, CAPF) and reference 000 (TVS) print.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import resource
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.cli.admin.activelog_cmds import tail
from phonetrust.net import capf_client, tftp_remote, tvs_client
from phonetrust.net.serve import Running, ServeOptions, serving
from phonetrust.net.tftp import TftpServer
from phonetrust.net.trace import CapfFrames, TftpTrace, capf_message, open_tracers
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device
from phonetrust.protocols.tftp.packets import PeerError
from phonetrust.service import inventory
from phonetrust.service.tftpfiles import Stored, TftpSource
from phonetrust.store.tracefiles import TraceFile, component_dir, newest, numbered
from tests.service.conftest import Lab
from tests.service.helpers import current
from tests.waiting import reloaded, until

STAMP = r"\d\d:\d\d:\d\d\.\d{3} \|"
DEVICE = "SEP0011215A1AE3"
CONTENT = b"x" * 3000


def _source() -> TftpSource:
    return TftpSource(
        "cucm-pub", 1, plan={"CTLFile.tlv": Stored.of(CONTENT)}, devices=frozenset({DEVICE})
    )


def _lines(directory: Path) -> list[str]:
    return [line for _, p in numbered(directory, directory.parts[-2]) for line in _read(p)]


def _read(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _requested(path: Path | None) -> bool:
    """The trace file at ``path`` holds a read request."""
    return path is not None and any("isReadRequest" in line for line in _read(path))


# -- the writer ----------------------------------------------------------------------------


def test_files_rotate_by_size_and_the_oldest_go(tmp_path: Path) -> None:
    trace = TraceFile(tmp_path, "ctftp", max_bytes=100, keep=3, flush_every=0)
    lines = [f"line {i:04d} {'.' * 39}\n" for i in range(21)]  # 50 bytes: two fill a file
    for line in lines:
        trace.write(line)
    trace.close()
    kept = numbered(tmp_path, "ctftp")
    assert [p.name for _, p in kept] == [f"ctftp{n:08d}.txt" for n in (9, 10, 11)]
    assert "".join(p.read_text() for _, p in kept) == "".join(lines[16:])
    assert [p.stat().st_size for _, p in kept] == [100, 100, 50]


def test_a_restart_continues_the_newest_file(tmp_path: Path) -> None:
    first = TraceFile(tmp_path, "tvs", max_bytes=1000, flush_every=0)
    first.write("before\n")
    first.close()
    again = TraceFile(tmp_path, "tvs", max_bytes=1000, flush_every=0)
    again.write("after\n")
    again.close()
    assert (tmp_path / "tvs00000001.txt").read_text() == "before\nafter\n"


def test_buffered_lines_reach_the_file_within_the_flush_interval(tmp_path: Path) -> None:
    trace = TraceFile(tmp_path, "capf", flush_every=0.05)
    trace.write("one\n")
    path = tmp_path / "capf00000001.txt"
    for _ in range(100):
        if path.read_text() == "one\n":
            break
        threading.Event().wait(0.02)
    assert path.read_text() == "one\n"
    trace.close()


def test_an_unwritable_directory_costs_lines_not_errors(tmp_path: Path) -> None:
    blocked = tmp_path / "activelog"
    blocked.write_text("a file where the directory should be")
    now = [0.0]
    trace = TraceFile(blocked / "sdi", "ctftp", flush_every=0, monotonic=lambda: now[0])
    trace.write("lost\n")
    trace.write("lost too\n")
    assert trace.dropped == 2
    blocked.unlink()
    trace.write("still waiting\n")  # the retry waits RETRY seconds
    assert trace.dropped == 3
    now[0] += 60
    trace.write("back\n")
    trace.close()
    assert (blocked / "sdi" / "ctftp00000001.txt").read_text() == "back\n"


def test_network_text_cannot_forge_a_line(tmp_path: Path) -> None:
    trace = TftpTrace(TraceFile(tmp_path, "ctftp", flush_every=0))
    trace.request(("10.0.0.1", 5000), "a.tlv\n11:00:00.000 |Transferred[ITLFile.tlv]", "octet", 0)
    trace.close()
    [line] = _read(tmp_path / "ctftp00000001.txt")
    assert "\\n11:00:00.000" in line


def test_capf_message_names_and_frames_cut_anywhere() -> None:
    assert capf_message(1) == "CAPF_MSG_AUTH_REQ"
    assert capf_message(4) == "CAPF_MSG_KEY_GEN_RES"
    assert capf_message(17) == "CAPF_MSG_REQ_IN_PROGRESS"
    assert capf_message(9) == "CAPF_MSG_STORE_CERT_REQ"
    two = bytes([0x55, 2, 0, 0, 0, 1, 0, 3]) + b"abc" + bytes([0x55, 17, 0, 0, 0, 1, 0, 0])
    for cut in range(len(two) + 1):
        frames = CapfFrames()
        assert frames.feed(two[:cut]) + frames.feed(two[cut:]) == [2, 17]


# -- the TFTP server -----------------------------------------------------------------------


async def _tftp_traced(root: Path) -> None:
    tracers = open_tracers(root, flush_every=0)
    server = await TftpServer.start(_source(), port=0, tracer=tracers.tftp)
    try:
        data, _ = await tftp_remote.fetch(("127.0.0.1", server.port), f"CTL{DEVICE}.tlv")
        assert data == CONTENT
        with pytest.raises(PeerError):
            await tftp_remote.fetch(("127.0.0.1", server.port), "SEPFFFFFFFFFFFF.cnf.xml")
    finally:
        await server.stop()
        tracers.close()


def test_tftp_writes_cucms_request_and_transfer_lines(tmp_path: Path) -> None:
    asyncio.run(_tftp_traced(tmp_path))
    request, transferred, refused_request, refused = _read(
        component_dir(tmp_path, "ctftp") / "ctftp00000001.txt"
    )
    key = r"\[(0x[0-9a-f]{7}~\d+~127\.0\.0\.1~\d+)\]"
    first = re.fullmatch(
        STAMP + rf"TFTPEngine::isReadRequest{key}, \[CTL{DEVICE}\.tlv\] opcode\(1\), "
        r"Mode\(octet\), Serving Count\(0\)",
        request,
    )
    assert first, request
    # The phone asked for CTLSEP<MAC>.tlv and was given CTLFile.tlv, as in reference 004.
    second = re.fullmatch(
        STAMP + rf"TID\[[0-9a-f]{{8}}\] TFTPEngine::processMessage{key}, "
        r"Transferred\[CTLFile\.tlv\] Socket\[\d+\]",
        transferred,
    )
    assert second, transferred
    assert first.group(1) == second.group(1)
    assert "[SEPFFFFFFFFFFFF.cnf.xml] opcode(1)" in refused_request
    assert re.fullmatch(
        STAMP + r"TFTPEngine::sendErrorPacket\[\S+\], \[SEPFFFFFFFFFFFF\.cnf\.xml\] "
        r"ErrorCode\(1\), ErrorMsg\(.+\)",
        refused,
    ), refused


@contextlib.contextmanager
def _file_size_capped(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG, as on a full disk (SIGXFSZ ignored)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old)


async def _serves_while_traces_fail(root: Path, *, full: bool) -> TraceFile:
    tracers = open_tracers(root, flush_every=0.01)
    server = await TftpServer.start(_source(), port=0, tracer=tracers.tftp)
    try:
        if full:  # the trace file already holds more than the cap allows
            tracers.tftp.file.write("x" * 70_000 + "\n")
            tracers.tftp.file.flush()
        with _file_size_capped(65_536) if full else contextlib.nullcontext():
            for _ in range(3):
                data, _ = await tftp_remote.fetch(("127.0.0.1", server.port), "CTLFile.tlv")
                assert data == CONTENT
                await asyncio.sleep(0.05)  # the flusher meets the failure
    finally:
        await server.stop()
        tracers.close()
    return tracers.tftp.file


def test_a_full_disk_does_not_stop_tftp(tmp_path: Path) -> None:
    trace = asyncio.run(_serves_while_traces_fail(tmp_path, full=True))
    assert trace.dropped > 0


def test_an_unwritable_trace_directory_does_not_stop_tftp(tmp_path: Path) -> None:
    (tmp_path / "cm").write_text("not a directory")
    trace = asyncio.run(_serves_while_traces_fail(tmp_path, full=False))
    assert trace.dropped == 6


# -- tail, following a real server ------------------------------------------------------------


async def _follow(root: Path) -> list[str]:
    directory = component_dir(root, "ctftp")
    tracers = open_tracers(root, max_bytes=400, flush_every=0.02)  # two requests a file
    server = await TftpServer.start(_source(), port=0, tracer=tracers.tftp)
    seen: list[str] = []
    done = threading.Event()

    def write(text: str) -> None:
        seen.append(text)
        if "Transferred" in text and any(f"CTL{DEVICE}" in s for s in seen):
            done.set()

    try:
        await tftp_remote.fetch(("127.0.0.1", server.port), "CTLFile.tlv")
        await until(lambda: _requested(newest(directory)))  # the flusher wrote it
        follower = asyncio.create_task(
            asyncio.to_thread(
                tail,
                lambda: newest(directory),
                write,
                lines=5,
                follow=True,
                stop=lambda: done.wait(0) or False,
                poll=0.02,
            )
        )
        await until(lambda: any("isReadRequest" in text for text in seen))  # then it follows
        for name in ("CTLFile.tlv", "CTLFile.tlv", f"CTL{DEVICE}.tlv"):
            await tftp_remote.fetch(("127.0.0.1", server.port), name)
        await asyncio.wait_for(follower, 10)
    finally:
        done.set()
        await server.stop()
        tracers.close()
    assert len(numbered(directory, "ctftp")) > 1  # it followed across rotations
    return "".join(seen).splitlines()


def test_tail_follows_the_newest_file_as_the_server_writes(tmp_path: Path) -> None:
    lines = asyncio.run(_follow(tmp_path))
    requested = [line for line in lines if "isReadRequest" in line]
    assert len(requested) == 4  # the first, shown by the tail, and the three that followed
    assert f"[CTL{DEVICE}.tlv]" in requested[-1]


def test_tail_without_follow_prints_the_last_lines_and_returns(tmp_path: Path) -> None:
    asyncio.run(_tftp_traced(tmp_path))
    out: list[str] = []
    path = component_dir(tmp_path, "ctftp") / "ctftp00000001.txt"
    tail(lambda: path, out.append, lines=2, follow=False, stop=lambda: True)
    assert "".join(out).splitlines() == _read(path)[-2:]


# -- serve: TVS and CAPF, by default under the data directory -------------------------------


async def _schedule_install(cluster: Lab, running: Running) -> None:
    """An install with the string 97531, once the running CAPF has seen it."""
    await asyncio.to_thread(
        inventory.schedule_capf,
        cluster.ctx,
        DEVICE,
        operation=CapfOperation.INSTALL,
        auth_mode=CapfAuthMode.AUTH_STRING,
        auth_string="97531",
        key="EC-P256",
    )
    await reloaded(cluster.ctx, running)


async def _serve_traced(cluster: Lab) -> None:
    inventory.add_devices(cluster.ctx, [Device(DEVICE, "7965")])
    options = ServeOptions(tftp_port=0, tvs_port=0, capf_port=0, https=False, poll=0.1)
    async with serving(cluster.ctx, options) as running:
        tomcat = current(cluster.ctx, "cucm-pub", CertName.TOMCAT)
        answer = await tvs_client.query(
            "127.0.0.1",
            running.ports["tvs"],
            tomcat.public_bytes(Encoding.DER),
            f"CP-7965-{DEVICE}",
        )
        assert answer.valid
        await _schedule_install(cluster, running)
        wrong = await capf_client.enroll(
            "127.0.0.1", running.ports["capf"], DEVICE, key_spec="EC-P256", auth_string="86420"
        )
        assert not wrong.success
        await _schedule_install(cluster, running)
        result = await capf_client.enroll(
            "127.0.0.1", running.ports["capf"], DEVICE, key_spec="EC-P256", auth_string="97531"
        )
        assert result.success, result


def test_serve_traces_tvs_and_capf_under_the_data_directory(lab: Lab) -> None:
    asyncio.run(_serve_traced(lab))
    root = lab.where.activelog
    tvs = "\n".join(_lines(component_dir(root, "tvs")))
    assert re.search(STAMP + r" debug tvsHandleQueryCertReq$", tvs, re.M)
    assert re.search(r" debug tvsHandleQueryCertReq : Subject Name is: \S*CN=cucm-pub", tvs)
    assert re.search(r" debug tvsHandleQueryCertReq : Serial Number is: [0-9A-F]+$", tvs, re.M)
    assert "CertificateDBCache::getCertificateInformation - Found entry {rolecount : " in tvs
    capf = _lines(component_dir(root, "capf"))
    text = "\n".join(capf)
    assert re.search(
        STAMP + r" debug (\d+):UNKNOWN:Got a new ph conn 127\.0\.0\.1 on \1$", text, re.M
    )
    assert " debug TLS HS Done for ph_conn ." in text
    assert " debug MsgType : CAPF_MSG_AUTH_REQ" in text
    assert " debug MsgType : CAPF_MSG_AUTH_RES" in text
    assert f":{DEVICE}:Incoming Phone Msg:" in text
    assert " debug MsgType : CAPF_MSG_KEY_GEN_RES" in text
    assert " debug Generated the cert" in text
    assert re.search(rf" debug \d+:{DEVICE}:Certificate upgrade successful$", text, re.M)
    assert re.search(rf" debug \d+:{DEVICE}:Certificate \w+ failed: reason 7: ", text)
    # Neither authentication string, wrong or right, is ever written.
    everything = "".join(p.read_text() for p in root.rglob("*.txt"))
    assert "97531" not in everything
    assert "86420" not in everything


def test_serve_can_leave_traces_off(lab: Lab) -> None:
    async def main() -> None:
        options = ServeOptions(tftp_port=0, tvs_port=0, capf_port=0, https=False, traces=False)
        async with serving(lab.ctx, options) as running:
            await tftp_remote.fetch(("127.0.0.1", running.ports["tftp"]), "ITLFile.tlv")

    asyncio.run(main())
    assert not lab.where.activelog.exists()
