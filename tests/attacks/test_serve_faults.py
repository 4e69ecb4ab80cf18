"""``serve`` stays up whatever the database does (issue 9, items 11 and 15).

Before the fix any error in the version poll ended the process, and with
it TFTP, TVS and CAPF: a write lock held 12 s by another process, a node
renamed or removed while served, a PostgreSQL restart or a terminated
connection. Each test keeps asking TFTP and TVS during the fault, then
checks that serve caught up with a change made after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from phonetrust.net import serve, tftp_remote, tvs_client
from phonetrust.net.serve import Running, ServeOptions, serving
from phonetrust.policy.domain import CertName, Device, Node
from phonetrust.protocols.tftp.packets import TftpError
from phonetrust.service import inventory, nodes
from phonetrust.service.changes import change, reading
from phonetrust.service.context import Context
from phonetrust.store.repository import Alert
from phonetrust.testing import postgres
from phonetrust.testing.clock import FakeClock
from tests.service.conftest import PASSWORD, START, Lab, install
from tests.service.helpers import current
from tests.waiting import until

LOCK_SECONDS = 12.5
PHONE = "00AA11BB22CC"
"""Longer than SQLite's busy timeout (10 s), after which the old poll failed and serve ended."""
IMPORTED = 3000
"""Devices one import adds, in one transaction (a few seconds of write lock)."""
CATCH_UP = 25.0
"""Seconds serve may take to pick up a change once the fault is over (backoff included)."""


def _options(node: str) -> ServeOptions:
    return ServeOptions(node=node, tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1)


_TOMCAT: dict[int, bytes] = {}
"""The served node's tomcat certificate (DER) by Running, read before a fault: TVS is asked
about it, and the store may be unreachable while it is."""


def _tomcat(ctx: Context, running: Running) -> bytes:
    der = current(ctx, running.node.host, CertName.TOMCAT).public_bytes(Encoding.DER)
    _TOMCAT[id(running)] = der
    return der


async def _answers(ctx: Context, running: Running) -> None:
    """TFTP serves the node's ITL and TVS vouches for tomcat, now."""
    tftp = ("127.0.0.1", running.ports["tftp"])
    data, _ = await asyncio.wait_for(tftp_remote.fetch(tftp, "ITLFile.tlv"), 10)
    assert data
    tomcat = _TOMCAT.get(id(running))
    if tomcat is None:
        tomcat = await asyncio.to_thread(_tomcat, ctx, running)
    answer = await tvs_client.query(
        "127.0.0.1",
        running.ports["tvs"],
        tomcat,
        "CP-8845-SEP001122334455",
        expected_tvs_sha1=hashlib.sha1(running.identities["tvs"]).digest(),
    )
    assert answer.valid


async def _keep_answering(ctx: Context, running: Running, seconds: float) -> int:
    """Ask TFTP and TVS every 0.25 s for ``seconds``; every answer must come."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    asked = 0
    while loop.time() < end:
        await _answers(ctx, running)
        asked += 1
        await asyncio.sleep(0.25)
    return asked


async def _caught_up(ctx: Context, running: Running, node: str) -> None:
    """A CallManager regeneration made now reaches TFTP within CATCH_UP seconds."""
    tftp = ("127.0.0.1", running.ports["tftp"])
    before, _ = await tftp_remote.fetch(tftp, "ITLFile.tlv")
    ctx.clock.advance(301)  # type: ignore[attr-defined] # past the regeneration hold (B3)
    await asyncio.to_thread(nodes.regenerate, ctx, node, CertName.CALLMANAGER)
    with reading(ctx) as uow:
        wanted = uow.published_file(node, "ITLFile.tlv")
    assert wanted is not None
    assert wanted != before
    loop = asyncio.get_running_loop()
    end = loop.time() + CATCH_UP
    while loop.time() < end:
        fresh, _ = await tftp_remote.fetch(tftp, "ITLFile.tlv")
        if fresh == wanted:
            return
        await asyncio.sleep(0.2)
    pytest.fail(f"serve did not pick up the change within {CATCH_UP} s")


# -- SQLite ------------------------------------------------------------------------------

HOLD_LOCK = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_a_write_lock_held_12_s_by_another_process(lab: Lab) -> None:
    """Every service keeps answering through a write lock held past the busy timeout, and
    a phone's download made meanwhile is recorded once the lock goes, not lost."""
    database = make_url(lab.where.db_url).database
    assert database is not None
    inventory.add_devices(lab.ctx, [Device(f"SEP{PHONE}", "8845")])

    async def main() -> None:
        async with serving(lab.ctx, _options("cucm-pub")) as running:
            await _answers(lab.ctx, running)
            holder = subprocess.Popen(
                [sys.executable, "-c", HOLD_LOCK, database, str(LOCK_SECONDS)],
                stdout=subprocess.PIPE,
            )
            try:
                assert holder.stdout is not None
                assert await asyncio.to_thread(holder.stdout.readline) == b"locked\n"
                tftp = ("127.0.0.1", running.ports["tftp"])
                await tftp_remote.fetch(tftp, f"ITLSEP{PHONE}.tlv")  # its flush must wait
                # The poll runs every 0.1 s all along: reads take no lock and wait for none.
                await _keep_answering(lab.ctx, running, LOCK_SECONDS + 1)
            finally:
                holder.kill()
                holder.wait()
                if holder.stdout is not None:
                    holder.stdout.close()
            await _caught_up(lab.ctx, running, "cucm-pub")
            await until(lambda: _downloaded(lab.ctx), timeout=15)

    asyncio.run(main())


def _downloaded(ctx: Context) -> bool:
    with reading(ctx) as uow:
        return [d.filename for d in uow.list_downloads(f"SEP{PHONE}")] == ["ITLFile.tlv"]


def test_the_poll_reads_without_the_write_lock(lab: Lab) -> None:
    database = make_url(lab.where.db_url).database
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(database), "5"], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"locked\n"
        began = time.monotonic()
        with reading(lab.ctx) as uow:
            assert uow.current_version() >= 1
        assert time.monotonic() - began < 1.0  # did not wait for the writer
        with (
            pytest.raises(OperationalError, match=r"readonly|read-only|query_only"),
            reading(lab.ctx) as uow,
        ):
            uow.set_param("x", "y")  # a reader cannot write by mistake
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_transient_read_errors_cost_nothing(
    lab: Lab,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="phonetrust.serve")
    real = serve._look
    failures = {"left": 6}

    def flaky(ctx: Context, running: Running) -> tuple[int, Node | None]:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT version", {}, Exception("disk I/O error"))
        return real(ctx, running)

    monkeypatch.setattr(serve, "_look", flaky)

    async def main() -> None:
        async with serving(lab.ctx, _options("cucm-pub")) as running:
            while failures["left"]:
                await _answers(lab.ctx, running)
                await asyncio.sleep(0.1)
            await _caught_up(lab.ctx, running, "cucm-pub")

    asyncio.run(main())
    cannot = [m for m in caplog.messages if m.startswith("cucm-pub: cannot follow the cluster")]
    assert len(cannot) == 1, caplog.messages  # logged once, not once per poll
    assert "disk I/O error" in cannot[0]
    assert any("following the cluster again" in m for m in caplog.messages)


def test_a_served_node_renamed_keeps_serving_under_its_new_name(
    lab: Lab,
) -> None:

    async def main() -> None:
        async with serving(lab.ctx, _options("cucm-pub")) as running:
            await _answers(lab.ctx, running)
            await asyncio.to_thread(nodes.rename_node, lab.ctx, "cucm-pub", "cucm-pub2")
            async with asyncio.timeout(CATCH_UP):
                while running.node.host != "cucm-pub2":
                    await asyncio.sleep(0.05)
            _tomcat(lab.ctx, running)  # the renamed node's new one
            # It presents the renamed node's new certificates and serves its files.
            await _answers(lab.ctx, running)
            tvs = current(lab.ctx, "cucm-pub2", CertName.TVS).public_bytes(Encoding.DER)
            assert running.identities["tvs"] == tvs
            await _caught_up(lab.ctx, running, "cucm-pub2")

    asyncio.run(main())


def test_a_served_node_removed_keeps_serving_its_last_good_state(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="phonetrust.serve")

    async def main() -> None:
        async with serving(lab.ctx, _options("cucm-sub1")) as running:
            await _answers(lab.ctx, running)
            with change(lab.ctx, "test", "remove cucm-sub1") as ch:
                uow = ch.uow
                uow.delete_node("cucm-sub1")
            await _keep_answering(lab.ctx, running, 2.0)
            assert running.node.host == "cucm-sub1"
            async with asyncio.timeout(10):
                while not any(a.kind.startswith(serve.STALE_ALERT) for a in _open_alerts(lab.ctx)):
                    await asyncio.sleep(0.1)

    asyncio.run(main())
    assert any("cucm-sub1 is no longer in the cluster" in m for m in caplog.messages)


def _open_alerts(ctx: Context) -> list[Alert]:
    with reading(ctx) as uow:
        return uow.list_alerts(open_only=True)


# -- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[str]:
    try:
        with postgres.running_postgres() as url:
            yield url
    except postgres.PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def pg_cluster(postgres_server: str, tmp_path: Path) -> Iterator[tuple[Context, Path, str]]:
    """The lab cluster (tests/service/conftest.py's install) in a schema of its own."""
    url = postgres.create_schema(postgres_server, f"t_{tmp_path.name[-20:].lower()}")
    ctx = install(tmp_path / "data", FakeClock(START), url)
    ctx.clock.advance(3600)  # type: ignore[attr-defined]
    yield ctx, tmp_path / "data", url
    ctx.repo.close()


def _data_directory(server_url: str) -> str:
    engine = create_engine(server_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("SHOW data_directory")).scalar_one())
    finally:
        engine.dispose()


def _pg_ctl(data: str, *action: str) -> None:
    """``pg_ctl ACTION`` on the test server's data directory, as the server's owner."""
    runner = postgres._Runner()  # the helper's own way
    bindir = postgres.find_binaries()
    runner.run([str(bindir / "pg_ctl"), *action, "--pgdata", str(data), "--wait"])


def _cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``phonetrust ARGS`` on the cluster of ``data``."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("phonetrust")), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PHONETRUST_DATA": str(data), "PHONETRUST_SECURITY_PASSWORD": PASSWORD},
        timeout=60,
        check=False,
    )


def test_a_postgresql_restart_and_terminated_connections(
    pg_cluster: tuple[Context, Path, str], postgres_server: str
) -> None:
    ctx, data_dir, url = pg_cluster
    down: list[subprocess.CompletedProcess[str]] = []

    async def main() -> None:
        async with serving(ctx, _options("cucm-pub")) as running:
            await _answers(ctx, running)
            # Every connection of the cluster's database ended by the server.
            engine = create_engine(postgres_server)
            with engine.connect() as conn:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid <> pg_backend_pid() AND datname = current_database()"
                    )
                )
            engine.dispose()
            await _keep_answering(ctx, running, 1.0)
            await _caught_up(ctx, running, "cucm-pub")
            # pg_ctl stop -m fast, two seconds down, start again (with the same options).
            data = _data_directory(postgres_server)
            await asyncio.to_thread(_pg_ctl, data, "stop", "-m", "fast")
            try:
                await _keep_answering(ctx, running, 1.0)
                # Any command now says what is wrong in one line, and fails.
                down.append(await asyncio.to_thread(_cli, data_dir, "device", "list", "--db", url))
                await _keep_answering(ctx, running, 1.0)
            finally:
                # With --log, as the helper starts it: the server must not keep pg_ctl's
                # output pipe open.
                log = str(Path(data).parent / "server.log")
                await asyncio.to_thread(_pg_ctl, data, "restart", "--log", log)
            await _keep_answering(ctx, running, 1.0)
            await _caught_up(ctx, running, "cucm-pub")

    asyncio.run(main())
    (result,) = down
    assert result.returncode == 1, result
    port = make_url(url).port
    assert result.stderr.startswith(f"Error: cannot reach the database at 127.0.0.1:{port}: ")
    assert result.stderr.endswith("; is PostgreSQL running?\n"), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


def test_a_large_device_import_in_progress(lab: Lab) -> None:
    devices = [Device(f"SEP0AA0{i:08X}", "8845") for i in range(IMPORTED)]

    async def main() -> None:
        async with serving(lab.ctx, _options("cucm-pub")) as running:
            await _answers(lab.ctx, running)
            importing = asyncio.create_task(
                asyncio.to_thread(inventory.add_devices, lab.ctx, devices)
            )
            asked = 0
            while not importing.done():  # one transaction holding the write lock throughout
                await _answers(lab.ctx, running)
                asked += 1
                await asyncio.sleep(0.1)
            assert await importing == IMPORTED
            assert asked >= 2
            tftp = ("127.0.0.1", running.ports["tftp"])
            async with asyncio.timeout(CATCH_UP):
                while True:  # serve picks up the imported phones' files
                    with contextlib.suppress(TftpError):
                        await tftp_remote.fetch(tftp, f"{devices[-1].name}.cnf.xml")
                        break
                    await asyncio.sleep(0.2)

    asyncio.run(main())
