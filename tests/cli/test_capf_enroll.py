"""``phonetrust capf enroll`` through the installed script, against a real CAPF server.

The server runs in this process (its own thread and event loop) on a lab
cluster; the command is the phone. Exit 0 on success with one line saying
what happened, exit 1 with one clear ``Error:`` line otherwise.
"""

from __future__ import annotations

import asyncio
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonetrust.net import tls
from phonetrust.net.capf import CapfServer
from phonetrust.pki import pem
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, Device
from phonetrust.service import inventory
from phonetrust.service.capfops import capf_identity, load_capf_service
from tests.cli.helpers import run
from tests.net.test_capf_server import capf_pin
from tests.service.conftest import Lab

NAME = "SEP001122334455"


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    """The ``capf`` group must be registered in cli/main.py for these tests to mean anything."""
    if "No such command" in run("capf", "--help").stderr:
        pytest.skip("the capf group is not registered in phonetrust.cli.main yet")


@pytest.fixture
def capf(lab: Lab) -> Iterator[tuple[Lab, str]]:
    """CAPF for the lab's publisher on a free port, served from a thread: (lab, HOST:PORT)."""
    started = threading.Event()
    stopping: list[asyncio.Event] = []
    ports: list[int] = []
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        service = load_capf_service(lab.ctx, "cucm-pub", republish_delay=None)
        cert, key = capf_identity(lab.ctx, "cucm-pub")
        capf = await CapfServer.start(service, tls.server_context(cert, key), port=0)
        stop = asyncio.Event()
        stopping.append(stop)
        ports.append(capf.port)
        loops.append(asyncio.get_running_loop())
        started.set()
        await stop.wait()
        await capf.stop()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(30)
    inventory.add_devices(lab.ctx, [Device(NAME, "8845")])
    yield lab, f"127.0.0.1:{ports[0]}"
    loops[0].call_soon_threadsafe(stopping[0].set)
    thread.join(30)


def schedule(cluster: Lab, mode: CapfAuthMode = CapfAuthMode.NULL_STRING, auth: str = "") -> None:
    inventory.schedule_capf(
        cluster.ctx,
        NAME,
        operation=CapfOperation.INSTALL,
        auth_mode=mode,
        auth_string=auth,
        key="EC-P256",
    )


def test_enrol_writes_the_lsc_and_renews_it_with_the_lsc(
    capf: tuple[Lab, str], tmp_path: Path
) -> None:
    cluster, server = capf
    schedule(cluster)
    out = tmp_path / "lsc.pem"
    done = run(
        "capf", "enroll", NAME, "--server", server, "--out", out, "--capf-sha1", capf_pin(cluster)
    ).ok()
    assert done.stdout.startswith(f"{NAME}: Upgrade Success - LSC serial ")
    assert f"LSC and key written to {out}" in done.stdout
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    cert, _ = pem.load_certificate_and_key(out.read_bytes())
    with cluster.ctx.repo.unit_of_work() as uow:
        record = uow.get_device(NAME)
    assert record is not None
    assert record.lsc is not None
    assert pem.load_certificate(record.lsc) == cert
    schedule(cluster, CapfAuthMode.EXISTING_LSC_FIRST)
    renewed = run("capf", "enroll", NAME, "--server", server, "--lsc", out).ok()
    assert "Upgrade Success" in renewed.stdout
    nothing = run("capf", "enroll", NAME, "--server", server).ok()
    assert nothing.stdout == f"{NAME}: no CAPF operation pending\n"


def test_failures_are_one_clear_line(capf: tuple[Lab, str]) -> None:
    cluster, server = capf
    schedule(cluster, CapfAuthMode.AUTH_STRING, "97531")
    # A wrong string and an unknown device get the same answer: no device can be probed for.
    run("capf", "enroll", NAME, "--server", server, "--auth-string", "1111").failure(
        "authentication failed", "reason 7 (invalid element)"
    )
    run("capf", "enroll", "SEP0000000000FF", "--server", server).failure(
        "authentication failed", "reason 7 (invalid element)"
    )
    run("capf", "enroll", NAME, "--server", server, "--capf-sha1", "00" * 20).failure(
        "No valid CAPF server"
    )
    run("capf", "enroll", NAME, "--server", server, "--auth-string", "97531").ok()


def test_unreachable_servers_and_bad_options(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        run("capf", "enroll", NAME, "--server", f"127.0.0.1:{port}", "--timeout", "3").failure(
            "cannot reach CAPF"
        )
    run("capf", "enroll", NAME, "--server", "nowhere").usage_error("HOST:PORT")
    missing = tmp_path / "missing.pem"
    run("capf", "enroll", NAME, "--lsc", missing).usage_error("--lsc")
    not_pem = tmp_path / "junk.pem"
    not_pem.write_text("junk")
    run("capf", "enroll", NAME, "--mic", not_pem).failure("junk.pem")


def test_a_generated_string_is_shown_once_and_only_its_hash_is_kept(
    capf: tuple[Lab, str],
) -> None:
    cluster, server = capf
    scheduled = run(
        "device", "capf", NAME, "--operation", "install", "--auth", "auth-string",
        "--key", "EC-P256", "--data", cluster.where.root,
    ).ok()  # fmt: skip
    shown = [
        line for line in scheduled.stdout.splitlines() if line.startswith("Authentication string:")
    ]
    assert len(shown) == 1, scheduled.stdout
    string = shown[0].split()[2]
    assert string.isdigit()
    assert len(string) == 8
    with cluster.ctx.repo.unit_of_work() as uow:
        record = uow.get_device(NAME)
    assert record is not None
    assert string not in record.capf_auth_hash
    listed = run("device", "list", "--data", cluster.where.root).ok()
    assert string not in listed.stdout
    run("capf", "enroll", NAME, "--server", server, "--auth-string", "00000000").failure(
        "authentication failed"
    )
    enrolled = run("capf", "enroll", NAME, "--server", server, "--auth-string", string).ok()
    assert "Upgrade Success" in enrolled.stdout
