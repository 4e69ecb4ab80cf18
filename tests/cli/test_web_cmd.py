"""``phonetrust web``: HTTPS with the node's tomcat certificate, swapped when it is regenerated."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.net import tls
from phonetrust.policy.domain import CertName
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current


def _presented(port: int) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        tls.client_context().wrap_socket(raw) as wrapped,
    ):
        der = wrapped.getpeercert(binary_form=True)
    assert der is not None
    return der


def test_web_serves_the_tomcat_certificate_and_a_regenerated_one(lab: Lab) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONETRUST_")}
    env.update(PHONETRUST_DATA=str(lab.where.root), PHONETRUST_SECURITY_PASSWORD=PASSWORD)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from phonetrust.cli.main import main; main()",
            "web",
            "--node",
            "cucm-pub",
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"https://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        port = int(found.group(1))
        before = current(lab.ctx, "cucm-pub", CertName.TOMCAT).public_bytes(Encoding.DER)
        assert _presented(port) == before
        lab.admin("set cert regen tomcat", "yes")
        after = current(lab.ctx, "cucm-pub", CertName.TOMCAT).public_bytes(Encoding.DER)
        assert after != before
        deadline = time.monotonic() + 20
        while _presented(port) != after:  # new connections meet it within a poll or two
            assert time.monotonic() < deadline, "the regenerated certificate was not swapped in"
            time.sleep(0.2)
    finally:
        process.terminate()
        process.communicate(timeout=10)  # also closes the pipe
