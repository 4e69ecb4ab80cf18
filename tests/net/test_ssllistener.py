"""The listener and pump TVS and CAPF share, with a small echo service over real TLS.

The servers' own tests cover their sessions, limits and timeouts end to end;
these check the shared pieces on their own: the hooks' order, the context
tuning, retrying after ``accept`` fails, and stop's grace.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar

import pytest

from phonetrust.net import ssllistener, tls
from phonetrust.net.ssllistener import SslConnection, SslListener, peer_name, tuned
from phonetrust.testing.pki import make_identity, plain_name
from tests.net.test_capf_server import drop, tls_connect
from tests.waiting import until

HOST = "127.0.0.1"
IDENTITY = make_identity(plain_name("echo.lab.example"), slot=14)
log = logging.getLogger("phonetrust.test-echo")


class Chunks:
    """A session that keeps what arrives, for :class:`Echo` to act on."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.eof = False

    def receive_data(self, data: bytes) -> None:
        self.chunks.append(data)

    def receive_eof(self) -> None:
        self.eof = True


class Echo(SslConnection["EchoServer", Chunks]):
    """Echoes what it receives; ``hold`` leaves the connection busy (not idle) at stop."""

    __slots__ = ("events",)

    def __init__(self, server: EchoServer, raw: socket.socket, peer: str) -> None:
        super().__init__(server, raw, peer)
        self.session = Chunks()
        self.events: list[str] = []
        server.made.append(self)

    def on_handshake_done(self) -> None:
        self.events.append("handshake")

    def pump(self) -> None:
        session = self.session
        if session.eof:
            self.events.append("eof")
            self.close(notify=True)
            return
        data = b"".join(session.chunks)
        session.chunks.clear()
        self.events.append(f"data {data!r}")
        if data.startswith(b"hold"):
            return
        if not self.send(data):
            self.close()
            return
        self.arm(self.server.read_timeout)

    def on_timeout(self) -> None:
        self.events.append("timeout")
        self.close()

    def at_stop(self) -> bool:
        return not any(e.startswith("data b'hold") for e in self.events)


class EchoServer(SslListener[Echo]):
    logger = log
    label = "ECHO"
    stop_grace = 0.3

    def __init__(self, sock: socket.socket, **options: Any) -> None:
        context = tls.server_context(IDENTITY.certificate, IDENTITY.key)
        super().__init__(Echo, context, sock, **options)
        self.made: list[Echo] = []


class RenegotiatingServer(EchoServer):
    renegotiation: ClassVar[bool] = True


async def started(
    cls: type[EchoServer] = EchoServer,
    max_connections: int = 10,
    read_timeout: float = 5.0,
    **limits: Any,
) -> EchoServer:
    server = cls(
        SslListener.listen(HOST, 0, 16),
        max_connections=max_connections,
        read_timeout=read_timeout,
        **limits,
    )
    server._begin(HOST)
    return server


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


async def settled(server: EchoServer) -> None:
    await until(lambda: not server.open_connections, timeout=3)


def test_tuned_turns_off_tickets_and_renegotiation() -> None:
    context = tuned(tls.server_context(IDENTITY.certificate, IDENTITY.key))
    assert context.num_tickets == 0
    assert context.options & ssl.OP_NO_RENEGOTIATION
    kept = tuned(tls.server_context(IDENTITY.certificate, IDENTITY.key), renegotiation=True)
    assert kept.num_tickets == 0
    assert not kept.options & ssl.OP_NO_RENEGOTIATION


def test_peer_name() -> None:
    assert peer_name(("10.0.0.5", 51234)) == "10.0.0.5:51234"
    assert peer_name(("::1", 2445, 0, 0)) == "::1:2445"
    assert peer_name("/run/socket") == "/run/socket"


def test_hooks_in_order_and_the_slot_freed(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)

    async def scenario() -> None:
        server = await started()
        assert server._tls.num_tickets == 0
        try:
            reader, writer = await tls_connect(server.port)
            writer.write(b"hello")
            assert await reader.readexactly(5) == b"hello"
            await drop(writer)
            await settled(server)
            (conn,) = server.made
            assert conn.events[:2] == ["handshake", "data b'hello'"]
            assert conn.events[-1] == "eof"
            assert conn.closed
        finally:
            await server.stop()

    run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ECHO listening on 127.0.0.1 port ") for m in messages)
    assert any(m.startswith("ECHO on port ") and m.endswith(" stopped") for m in messages)


def test_a_silent_client_and_a_broken_handshake_are_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)

    async def scenario() -> None:
        server = await started(read_timeout=0.3)
        try:
            silent = socket.create_connection((HOST, server.port))
            broken = socket.create_connection((HOST, server.port))
            broken.sendall(b"\x16\x03\x01\x00\x05garbage")
            async with asyncio.timeout(3):
                while len(server.made) < 2:
                    await asyncio.sleep(0.01)
            await settled(server)
            silent.close()
            broken.close()
            reader, writer = await tls_connect(server.port)  # the server goes on
            writer.write(b"after")
            assert await reader.readexactly(5) == b"after"
            await drop(writer)
        finally:
            await server.stop()

    run(scenario)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ECHO: TLS handshake with 127.0.0.1:") for m in messages), messages
    assert any("no TLS handshake within 0.3 s" in m for m in messages), messages


class FlakyListener:
    """A listening socket whose first ``accept`` fails as if out of file descriptors."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.failed = 0

    def accept(self) -> tuple[socket.socket, Any]:
        if not self.failed:
            self.failed += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.sock.accept()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


def test_accepting_pauses_after_an_accept_failure_then_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)

    async def scenario() -> None:
        server = await started()
        flaky = FlakyListener(server._sock)
        server._sock = flaky  # type: ignore[assignment]
        try:
            reader, writer = await tls_connect(server.port)
            writer.write(b"late")
            assert await reader.readexactly(4) == b"late"
            assert flaky.failed == 1
            await drop(writer)
        finally:
            await server.stop()

    run(scenario)
    assert "ECHO: accept failed: [Errno 24] Too many open files" in caplog.messages


def test_stop_closes_idle_connections_at_once_and_waits_its_grace_for_the_others() -> None:
    async def scenario() -> None:
        server = await started()
        idle_reader, idle_writer = await tls_connect(server.port)
        _, busy_writer = await tls_connect(server.port)
        idle_writer.write(b"ping")
        assert await idle_reader.readexactly(4) == b"ping"
        busy_writer.write(b"hold")
        async with asyncio.timeout(3):
            while not any("hold" in e for c in server.made for e in c.events):
                await asyncio.sleep(0.01)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await server.stop()
        took = loop.time() - began
        assert 0.25 <= took < 2.0  # the busy one had its grace (0.3 s), no more
        assert server.open_connections == 0
        async with asyncio.timeout(3):
            assert await idle_reader.read() == b""  # a close_notify, then the end
        await drop(idle_writer)
        await drop(busy_writer)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, server.port), timeout=1).close()

    run(scenario)


def test_the_bound_holds_and_the_backlog_waits() -> None:
    async def scenario() -> None:
        server = await started(max_connections=2)
        try:
            first = await tls_connect(server.port)
            second = await tls_connect(server.port)
            third = asyncio.create_task(tls_connect(server.port))
            await asyncio.sleep(0.2)
            assert server.open_connections == 2
            assert not third.done()  # in the backlog, not refused
            await drop(first[1])
            reader, writer = await asyncio.wait_for(third, 3)
            writer.write(b"in")
            assert await reader.readexactly(2) == b"in"
            await drop(writer)
            await drop(second[1])
        finally:
            await server.stop()

    run(scenario)


def test_a_renegotiating_server_keeps_renegotiation() -> None:
    async def scenario() -> None:
        server = await started(RenegotiatingServer)
        try:
            assert not server._tls.options & ssl.OP_NO_RENEGOTIATION
            server.swap_tls(tls.server_context(IDENTITY.certificate, IDENTITY.key))
            assert not server._tls.options & ssl.OP_NO_RENEGOTIATION
            assert server._tls.num_tickets == 0
        finally:
            await server.stop()

    run(scenario)


async def _echoes(port: int, data: bytes = b"hello") -> None:
    reader, writer = await asyncio.wait_for(tls_connect(port), 3)
    writer.write(data)
    assert await asyncio.wait_for(reader.readexactly(len(data)), 3) == data
    await drop(writer)


def test_the_oldest_idle_connection_makes_room_for_a_new_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ssllistener, "EVICT_AGE", 0.1)
    caplog.set_level(logging.INFO, logger=log.name)

    async def scenario() -> None:
        server = await started(max_connections=3)
        try:
            _, busy = await tls_connect(server.port)  # past its handshake: never dropped
            oldest = socket.create_connection((HOST, server.port))
            newer = socket.create_connection((HOST, server.port))
            await until(lambda: server.open_connections == 3)
            await asyncio.sleep(0.15)
            await _echoes(server.port)  # the oldest silent one made room
            await _echoes(server.port)  # then the next
            assert server.evicted == 2
            for silent in (oldest, newer):
                silent.settimeout(3)
                assert await asyncio.to_thread(silent.recv, 10) == b""  # closed by the server
                silent.close()
            assert not busy.is_closing()
            await drop(busy)
        finally:
            await server.stop()

    run(scenario)
    full = [m for m in caplog.messages if "all 3 connection slots are taken" in m]
    assert len(full) == 1, caplog.messages  # logged once, not once per accept


def test_a_young_idle_connection_is_not_dropped_the_new_one_waits() -> None:
    async def scenario() -> None:
        server = await started(max_connections=1)
        try:
            silent = socket.create_connection((HOST, server.port))
            await until(lambda: server.open_connections == 1)
            waiting = asyncio.create_task(_echoes(server.port))
            await asyncio.sleep(0.2)
            assert not waiting.done()  # in the backlog: the silent one is under EVICT_AGE
            await asyncio.wait_for(waiting, 3)  # then it ages and gives way
            assert server.evicted == 1
            silent.close()
        finally:
            await server.stop()

    run(scenario)


def test_one_address_holds_at_most_max_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ssllistener, "EVICT_AGE", 0.1)

    async def scenario() -> None:
        server = await started(max_connections=10, max_per_address=2)
        try:
            _, first = await tls_connect(server.port)
            _, second = await tls_connect(server.port)
            await until(lambda: server.open_connections == 2)
            # Both busy (past the handshake): a third from the same address is refused at once.
            with pytest.raises((ConnectionError, ssl.SSLError, asyncio.IncompleteReadError)):
                await _echoes(server.port)
            # Another address is not held back.
            reader, writer = await asyncio.open_connection(
                HOST, server.port, ssl=tls.client_context(), local_addr=("127.0.0.2", 0)
            )
            writer.write(b"other")
            assert await reader.readexactly(5) == b"other"
            await drop(writer)
            # A silent one of the address gives way to a newcomer of the same address.
            await drop(second)
            silent = socket.create_connection((HOST, server.port))
            await asyncio.sleep(0.15)
            await _echoes(server.port)
            assert server.evicted == 1
            silent.close()
            await drop(first)
        finally:
            await server.stop()

    run(scenario)


def test_the_handshake_has_its_own_deadline(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=log.name)

    async def scenario() -> None:
        server = await started(read_timeout=5.0, handshake_timeout=0.2)
        try:
            silent = socket.create_connection((HOST, server.port))
            silent.settimeout(3)
            assert await asyncio.to_thread(silent.recv, 10) == b""  # after 0.2 s, not 5
            silent.close()
            reader, writer = await tls_connect(server.port)
            await asyncio.sleep(0.4)  # past the handshake deadline: the read timeout rules now
            writer.write(b"late")
            assert await reader.readexactly(4) == b"late"
            await drop(writer)
        finally:
            await server.stop()

    run(scenario)
    assert any("no TLS handshake within 0.2 s" in m for m in caplog.messages)
