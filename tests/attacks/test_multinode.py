"""Two machines, one PostgreSQL: each serves its node through database restarts and node loss.

As two machines would: a data directory made by ``cluster init`` and one by
``cluster join``, each with its own ``phonetrust serve`` process on its own
loopback address (127.0.0.11, 127.0.0.12). Simulated phones boot against
each; changes are made from either machine; the database is restarted; one
node is killed while phones boot against the other.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from phonetrust.testing.postgres import (
    create_schema,
    drop_schema,
    restart_postgres,
    running_postgres,
)

PASSWORD = "Cluster-Password-1"  # noqa: S105 - the test cluster's
A_ADDR, B_ADDR = "127.0.0.11", "127.0.0.12"
PHONES = [f"00:11:22:33:44:{n:02X}" for n in range(4)]
LATE = "00:11:22:33:44:AA"
"""Added after the database restart: only a node that reconnected can serve its files."""
SETTLE = 20.0
"""Seconds a change may take to reach a node's TFTP (the poll is 1 s; a database restart adds
the serve loop's back-off, at most 10 s)."""


def _env(data: Path, db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONETRUST_")}
    env.update(PHONETRUST_DATA=str(data), PHONETRUST_DB=db, PHONETRUST_SECURITY_PASSWORD=PASSWORD)
    return env


def _exe() -> str:
    return str(Path(sys.executable).with_name("phonetrust"))


def cli(data: Path, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [_exe(), *args],
        capture_output=True,
        text=True,
        env=_env(data, db),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done


@dataclass
class Machine:
    """One ``serve`` process and the phone boot command it printed."""

    name: str
    data: Path
    db: str
    process: subprocess.Popen[str]
    boot: list[str]
    output: list[str]
    reader: threading.Thread

    def alive(self) -> bool:
        return self.process.poll() is None

    def phone(self, mac: str, state: Path) -> subprocess.CompletedProcess[str]:
        argv = [a if a != "<MAC>" else mac for a in self.boot]
        return subprocess.run(
            [*argv, "--state", str(state)],
            capture_output=True,
            text=True,
            env=_env(self.data, self.db),
            timeout=60,
            check=False,
        )

    def stop(self) -> None:
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def serve(name: str, data: Path, db: str, bind: str) -> Machine:
    ports = ("--tftp-port", "0", "--tvs-port", "0", "--capf-port", "0", "--https-port", "0")
    process = subprocess.Popen(
        [_exe(), "serve", "--bind", bind, *ports],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(data, db),
    )
    output: list[str] = []
    boot: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line)
        found = re.search(r"boot a simulated phone: phonetrust (phone boot .*)$", line)
        if found:
            command = found.group(1).replace("<a device's MAC>", "<MAC>")
            boot = [_exe(), *command.split()]
            break
        assert time.monotonic() < deadline, "".join(output)
    assert boot, "".join(output)

    def drain() -> None:  # keep reading, or a full pipe would stall the server's log
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    return Machine(name, data, db, process, boot, output, reader)


def boots_ok(machine: Machine, mac: str, state: Path, *, within: float = SETTLE) -> str:
    """Boot the phone until it ends unlocked with its configuration applied; its output."""
    deadline = time.monotonic() + within
    while True:
        done = machine.phone(mac, state)
        if done.returncode == 0 and "configuration applied" in done.stdout:
            return done.stdout
        assert time.monotonic() < deadline, (machine.name, done.stdout[-3000:], done.stderr)
        time.sleep(0.5)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def machines(server: str, tmp_path: Path) -> Iterator[tuple[Machine, Machine, str]]:
    db = create_schema(server, "multinode")
    a_data, b_data = tmp_path / "a", tmp_path / "b"
    started: list[Machine] = []
    try:
        cli(
            a_data,
            db,
            *("cluster", "init", "--publisher", "cucm-pub", "--ip", "10.0.0.10"),
            *("--subscriber", "cucm-sub=10.0.0.11"),
        )
        cli(b_data, db, "cluster", "join", "--node", "cucm-sub")
        for mac in PHONES[:2]:
            cli(a_data, db, "device", "add", mac, "--model", "8845", "--protocol", "SIP")
        started.append(serve("A", a_data, db, A_ADDR))
        started.append(serve("B", b_data, db, B_ADDR))
        yield started[0], started[1], db
    finally:
        for machine in started:
            machine.stop()
        drop_schema(server, "multinode")


def test_two_nodes_serve_through_changes_a_database_restart_and_a_lost_node(
    machines: tuple[Machine, Machine, str], server: str, tmp_path: Path
) -> None:
    a, b, db = machines
    assert "Serving node cucm-pub" in "".join(a.output)
    assert "Serving node cucm-sub" in "".join(b.output)  # B serves its own node by default
    mac0, mac1, mac2, mac3 = PHONES
    boots_ok(a, mac0, tmp_path / "p0")
    boots_ok(b, mac1, tmp_path / "p1")

    # A change made on B reaches A's TFTP, and one made on A reaches B's.
    cli(b.data, db, "device", "add", mac2, "--model", "8845", "--protocol", "SIP")
    boots_ok(a, mac2, tmp_path / "p2a")
    cli(a.data, db, "device", "add", mac3, "--model", "8845", "--protocol", "SIP")
    boots_ok(b, mac3, tmp_path / "p3b")

    # The database goes away for two seconds: both keep serving what they have ...
    restart_postgres(server, down_for=2.0)
    assert a.alive(), "".join(a.output)
    assert b.alive(), "".join(b.output)
    boots_ok(a, mac0, tmp_path / "p0")
    boots_ok(b, mac1, tmp_path / "p1")
    # ... and reconnect: a regeneration for A's node made on B (with A's key), then a
    # phone added on B, whose files A can only serve once it has caught up.
    cli(b.data, db, "admin", "--node", "cucm-pub", "--yes", "-c", "set cert regen TVS")
    cli(b.data, db, "device", "add", LATE, "--model", "8845", "--protocol", "SIP")
    boots_ok(a, LATE, tmp_path / "late")

    # A is killed while phones boot against B: every one of them still boots.
    with ThreadPoolExecutor(4) as pool:
        booting = [
            pool.submit(boots_ok, b, mac, tmp_path / f"kill-{n}", within=30.0)
            for n, mac in enumerate(PHONES)
        ]
        time.sleep(0.2)
        a.process.kill()
        a.process.wait(10)
        for future in booting:
            future.result()
    assert b.alive(), "".join(b.output)
    # With A gone for good, B's machine still makes changes and serves them.
    boots_ok(b, LATE, tmp_path / "late-b")
    cli(b.data, db, "device", "remove", "SEP" + LATE.replace(":", ""))
    deadline = time.monotonic() + SETTLE
    while "configuration applied" in b.phone(LATE, tmp_path / "late-b").stdout:
        assert time.monotonic() < deadline, "B still serves a removed phone's configuration"
        time.sleep(0.5)
    assert b.alive()
