"""One cluster on several machines: ``cluster init`` on one, ``cluster join`` on another (#9).

Two data directories on one real PostgreSQL stand for two machines. Changes
are made from each side (regenerations, a TVS regeneration for the other
machine's node, an ITL reset, a password change, a trust upload) and each
side must then make changes and open every key, with no file copied by hand.
"""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from phonetrust.clock import SystemClock
from phonetrust.pki import keywrap
from phonetrust.pki.pem import to_pem
from phonetrust.policy.domain import CertName
from phonetrust.service.identity import own_identity
from phonetrust.store.datadir import DataDir
from phonetrust.testing.cluster import open_context
from phonetrust.testing.pki import make_identity, plain_name
from phonetrust.testing.postgres import create_schema, drop_schema, running_postgres
from tests.cli.helpers import TIMEOUT, Result, executable

OLD = "Cluster-Password-1"
NEW = "Cluster-Password-2"
WRONG = "Not-The-Password"


def phonetrust(
    data: Path, db: str | None, *args: str, password: str | None = None, stdin: str = ""
) -> Result:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONETRUST_")}
    env["PHONETRUST_DATA"] = str(data)
    if db is not None:
        env["PHONETRUST_DB"] = db
    if password is not None:
        env["PHONETRUST_SECURITY_PASSWORD"] = password
    done = subprocess.run(
        [executable(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )
    return Result(tuple(args), done.returncode, done.stdout, done.stderr)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with running_postgres() as url:
        yield url


@pytest.fixture
def db(server: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = f"join_{request.node.name[-20:].lower().strip('_')}"
    url = create_schema(server, name)
    yield url
    drop_schema(server, name)


def init(data: Path, db: str) -> Result:
    """``cluster init`` (it says on stderr that it is generating keys)."""
    return phonetrust(
        data,
        db,
        *("cluster", "init", "--publisher", "cucm-pub", "--ip", "10.0.0.10"),
        *("--subscriber", "cucm-sub=10.0.0.11"),
        password=OLD,
    )


def opens_every_key(data: Path, db: str, password: str) -> None:
    """From the cached cluster key alone: every private key, and the p12 password."""
    where = DataDir.locate(data, db)
    ctx = open_context(where, SystemClock())
    try:
        ctx.keys.check_password(password)
        assert ctx.keys.p12_password() == keywrap.p12_password(password)
        with ctx.repo.unit_of_work() as uow:
            owns = [
                own
                for n in uow.list_nodes()
                for name in CertName
                if (own := uow.current_certificate(n.host, name)) is not None
            ]
            assert len(owns) == 12
            for own in owns:
                key = ctx.keys.get(own.der, uow)
                cert = own_identity(ctx, own.node, own.name)[0]
                assert key.public_key() == cert.public_key()
    finally:
        ctx.repo.close()


def test_two_machines_make_changes_from_either_side(db: str, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    assert init(a, db).code == 0
    joined = phonetrust(b, db, "cluster", "join", "--node", "cucm-sub", password=OLD).ok()
    assert "node cucm-sub" in joined.stdout
    assert sorted(p.name for p in b.iterdir()) == ["master.key", "node"]
    assert stat.S_IMODE(b.stat().st_mode) == 0o700
    assert stat.S_IMODE((b / "master.key").stat().st_mode) == 0o600

    # Each machine acts as its own node by default (B's is a subscriber).
    phonetrust(b, db, "admin", "-c", "utils ctl update CTLFile").failure("publisher")

    # A CallManager regeneration made on A; then a change made on B signs with the new key.
    phonetrust(a, db, "admin", "--yes", "-c", "set cert regen CallManager").ok()
    phonetrust(
        b, db, "admin", "--node", "cucm-pub", "--yes", "-c", "utils ctl set-cluster mixed-mode"
    ).ok()

    # A TVS regeneration made on A for B's node: B's TVS gets the new key at once.
    phonetrust(a, db, "admin", "--node", "cucm-sub", "--yes", "-c", "set cert regen TVS").ok()
    where_b = DataDir.locate(b, db)
    ctx = open_context(where_b, SystemClock())
    try:
        cert, key = own_identity(ctx, "cucm-sub", CertName.TVS)
        assert isinstance(key, rsa.RSAPrivateKey)
        assert key.public_key() == cert.public_key()
    finally:
        ctx.repo.close()

    # An ITL reset made from B (ITLRecovery signs), ended by a TFTP restart on A.
    phonetrust(
        b, db, "admin", "--node", "cucm-pub", "-c", "utils itl reset localkey", stdin=f"{OLD}\n"
    ).ok()
    phonetrust(a, db, "admin", "-c", "utils service restart Cisco Tftp").ok()

    # The password changed on A: B goes on from its cached cluster key; only NEW opens.
    phonetrust(
        a, db, "admin", "-c", "set password user security", stdin=f"{OLD}\n{NEW}\n{NEW}\n"
    ).ok()
    pem = tmp_path / "ca.pem"
    pem.write_bytes(to_pem(make_identity(plain_name("Some CA"), slot=5).certificate))
    phonetrust(b, db, "truststore", "upload", "CallManager-trust", str(pem)).ok()
    phonetrust(b, db, "cluster", "show", password=OLD).failure("wrong security password")
    phonetrust(b, db, "cluster", "show", password=NEW).ok()
    phonetrust(a, db, "admin", "--yes", "-c", "utils ctl update CTLFile").ok()

    for data in (a, b):
        opens_every_key(data, db, NEW)


def test_join_and_init_refuse_cleanly(db: str, tmp_path: Path) -> None:
    a = tmp_path / "a"
    assert init(a, db).code == 0
    # A second `init` on the same database: refused, and no half-made directory (item 13).
    again = tmp_path / "again"
    init(again, db).failure("already holds a cluster", "cluster join")
    assert not again.exists()
    # An unknown node is named with the known ones; a wrong password is refused.
    b = tmp_path / "b"
    phonetrust(b, db, "cluster", "join", "--node", "cucm-x", password=OLD).failure(
        "Unknown node 'cucm-x'", "cucm-pub", "cucm-sub"
    )
    phonetrust(b, db, "cluster", "join", "--node", "cucm-sub", password=WRONG).failure(
        "wrong security password"
    )
    assert not b.exists()
    phonetrust(b, None, "cluster", "join", "--node", "cucm-sub", password=OLD).failure("--db")
    phonetrust(a, db, "cluster", "join", "--node", "cucm-sub", password=OLD).failure(
        "already holds a cluster"
    )
    # Without a data directory of its own, a machine is told how to make or join one.
    phonetrust(tmp_path / "none", db, "cluster", "show").failure("cluster join")
