"""A TFTP burst must not take the descriptors TVS and CAPF need (issue 9, item 7).

Before the fix, under the usual 1,024 open-file limit, ~1,500 UDP packets
made TFTP open a socket per request (plus a pool of 1,024 idle ones) until
nothing was left: TVS and CAPF ``accept`` then failed for minutes. Here
``serve`` runs in a process of its own whose hard limit is 256 (so raising
the soft limit cannot help), a burst of 1,500 read requests from as many
silent ports hits TFTP while silent TCP connections pile up on TVS, CAPF
and HTTPS, and a good client must still be answered by TVS and CAPF.

The cluster is made by ``phonetrust cluster demo`` in a subprocess too, so
the whole test runs on whatever code ``PYTHONPATH`` names.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from phonetrust.net import capf_client, tls, tvs_client

LIMIT = 256
BURST = 1500
SILENT = 200
"""Silent TCP connections to each TLS service."""
PROMPT = 5.0
DEMO_PASSWORD = "phonetrust-demo"  # noqa: S105 - the demo cluster's documented password
CLI = "from phonetrust.cli.main import main; main()"
SERVE = f"""
import resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, ({LIMIT}, {LIMIT}))
from phonetrust.cli.main import main
main()
"""
SERVING = re.compile(r"^Serving node \S+: (.*)\.$")


def _ports(line: str) -> dict[str, int]:
    found = SERVING.match(line)
    assert found is not None, line
    return {
        name.lower(): int(port) for name, port in re.findall(r"(\w+) on port (\d+)", found.group(1))
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, int]]:
    """``serve`` of a two-phone demo cluster, under a hard limit of LIMIT descriptors."""
    data = tmp_path / "demo"
    env = {**os.environ, "PHONETRUST_SECURITY_PASSWORD": ""}
    subprocess.run(
        [sys.executable, "-c", CLI, "cluster", "demo", "--devices", "2", "--data", str(data)],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    env["PHONETRUST_SECURITY_PASSWORD"] = DEMO_PASSWORD
    ports = ["--tftp-port", "0", "--tvs-port", "0", "--capf-port", "0", "--https-port", "0"]
    server = subprocess.Popen(
        [sys.executable, "-c", SERVE, "serve", "--data", str(data), *ports],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        yield _ports(line)
        assert server.poll() is None, "serve ended"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if server.stdout is not None:
            server.stdout.close()


def _burst(port: int) -> list[socket.socket]:
    """BURST read requests, each from a port of its own that never answers."""
    request = b"\x00\x01ITLFile.tlv\x00octet\x00"
    held = []
    for _ in range(BURST):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.sendto(request, ("127.0.0.1", port))
        held.append(sock)
    return held


def _silent(port: int) -> list[socket.socket]:
    """SILENT connections from an address of their own (the good clients use 127.0.0.1)."""
    held = []
    for _ in range(SILENT):
        with contextlib.suppress(OSError):
            held.append(
                socket.create_connection(
                    ("127.0.0.1", port), timeout=2, source_address=("127.0.0.2", 0)
                )
            )
    return held


def _tomcat(port: int) -> bytes:
    """The certificate the HTTPS stand-in presents (TVS vouches for it)."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=PROMPT) as raw,
        tls.client_context().wrap_socket(raw) as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_a_tftp_burst_leaves_tvs_and_capf_their_descriptors(
    served: dict[str, int],
) -> None:
    tomcat = _tomcat(served["https"])
    held = _burst(served["tftp"])
    try:
        for name in ("tvs", "capf", "https"):
            held += _silent(served[name])

        async def good_clients() -> None:
            async with asyncio.timeout(PROMPT):
                answer = await tvs_client.query(
                    "127.0.0.1", served["tvs"], tomcat, "CP-8845-SEP001122330001"
                )
            assert answer.valid
            async with asyncio.timeout(PROMPT):
                # No operation is pending for it: CAPF accepts, talks, and has nothing to do.
                result = await capf_client.enroll(
                    "127.0.0.1", served["capf"], "SEP001122330001", key_spec="EC-P256"
                )
            assert result.session_id

        asyncio.run(good_clients())
    except (TimeoutError, OSError, ssl.SSLError) as exc:
        pytest.fail(f"a good client was not served during the burst: {exc!r}")
    finally:
        for sock in held:
            sock.close()
