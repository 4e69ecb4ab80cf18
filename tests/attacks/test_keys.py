"""Keys are never lost, and never left where others can read them (issue 9, items 1-3).

The crash tests stop a real ``phonetrust`` process, as kill -9 would, at
every step that writes key material: before and after each file opened for
writing, each fsync, rename and removal, and each database commit. The
wrapper below patches those calls in the child process, so it counts every
step whatever code writes it. After each crash, the old or the new security
password must open every private key (ITLRecovery's included), and the
services must still start unattended from the cached key.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

OLD = "Old-Security-123"
NEW = "New-Security-456"
TIMEOUT = 120
MAX_STEPS = 200
CRASHED = 86

CLI = "from phonetrust.cli.main import main; main()"
CRASH_AT = """
import atexit, os, sys
target = int(os.environ["CRASH_AT_STEP"])
count = [0]
atexit.register(lambda: os.write(2, f"steps: {count[0]}\\n".encode()))

def step(what):
    count[0] += 1
    if count[0] == target:
        os.write(2, f"crash injected at step {target}: {what}\\n".encode())
        os._exit(86)

def wrap(name, writes=lambda *a, **k: True):
    real = getattr(os, name)
    def patched(*args, **kwargs):
        if not writes(*args, **kwargs):
            return real(*args, **kwargs)
        step(f"before {name} {args[:1]}")
        result = real(*args, **kwargs)
        step(f"after {name} {args[:1]}")
        return result
    setattr(os, name, patched)

WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC
wrap("open", lambda path, flags, *a, **k: bool(flags & WRITE))
for name in ("fsync", "replace", "rename", "unlink", "rmdir"):
    wrap(name)

# Commits of transactions that wrote something (reads commit too, and do not count).
from sqlalchemy.engine.default import DefaultDialect
wrote = [False]
for name in ("do_execute", "do_execute_no_params", "do_executemany"):
    def noting(self, cursor, statement, *args, _real=getattr(DefaultDialect, name)):
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            wrote[0] = True
        return _real(self, cursor, statement, *args)
    setattr(DefaultDialect, name, noting)
real_commit = DefaultDialect.do_commit
def do_commit(self, connection):
    if wrote[0]:
        step("before commit")
    real_commit(self, connection)
    if wrote[0]:
        wrote[0] = False
        step("after commit")
DefaultDialect.do_commit = do_commit
real_rollback = DefaultDialect.do_rollback
def do_rollback(self, connection):
    wrote[0] = False
    real_rollback(self, connection)
DefaultDialect.do_rollback = do_rollback

from phonetrust.cli.main import main
main()
"""


def run(
    data: Path,
    *args: str,
    password: str | None = None,
    stdin: str = "",
    crash_at: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHONETRUST_")}
    env["PHONETRUST_DATA"] = str(data)
    if password is not None:
        env["PHONETRUST_SECURITY_PASSWORD"] = password
    if crash_at is not None:
        env["CRASH_AT_STEP"] = str(crash_at)
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-c", CLI if crash_at is None else CRASH_AT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, f"{done.args[3:]}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-node cluster made by ``cluster init`` (twelve keys), copied by each test."""
    root = tmp_path_factory.mktemp("keys") / "data"
    ok(
        run(
            root,
            *("cluster", "init", "--publisher", "cucm-pub", "--ip", "10.0.0.10"),
            *("--subscriber", "cucm-sub=10.0.0.11"),
            password=OLD,
        )
    )
    return root


def copy(template: Path, where: Path) -> Path:
    shutil.copytree(template, where)
    return where


# -- item 1: a password change interrupted anywhere ---------------------------------------------


def _opens_everything(data: Path, tmp: Path) -> str:
    """The password that opens every key now (checked by exporting them all in a backup)."""
    failures = []
    for password in (OLD, NEW):
        done = run(data, "backup", "create", str(tmp / "check.bak"), password=password)
        if done.returncode == 0:
            return password
        failures.append(done.stderr.strip())
    pytest.fail(f"neither password opens every key: {failures}")


def test_a_password_change_crashed_at_any_step_leaves_one_password_that_opens_every_key(
    template: Path, tmp_path: Path
) -> None:
    crashes = []
    for step in range(1, MAX_STEPS):
        data = copy(template, tmp_path / f"run{step}")
        done = run(
            data,
            *("admin", "-c", "set password user security"),
            stdin=f"{OLD}\n{NEW}\n{NEW}\n",
            crash_at=step,
        )
        if done.returncode == 0:
            assert _opens_everything(data, tmp_path) == NEW
            break
        assert done.returncode == CRASHED, done.stderr
        crashes.append(done.stderr.strip())
        works = _opens_everything(data, tmp_path)
        # Services start unattended, from the cached key, and sign with the nodes' keys.
        ok(run(data, "admin", "--yes", "-c", "utils ctl set-cluster mixed-mode"))
        _check_vault(data, works)
        shutil.rmtree(data)
    else:
        pytest.fail(f"the change never completed in {MAX_STEPS} steps")
    assert any("commit" in c for c in crashes), crashes


def _check_vault(data: Path, password: str) -> None:
    """The ITLRecovery.p12 password follows the security password that works (C5)."""
    from phonetrust.pki import keywrap  # noqa: PLC0415 - the layout under test
    from phonetrust.store.datadir import DataDir  # noqa: PLC0415
    from phonetrust.store.sql import open_repository  # noqa: PLC0415

    where = DataDir.locate(data)
    repo = open_repository(where.db_url)
    try:
        key = where.cluster_key(repo, datetime.now(UTC), password)
        assert where.keystore(repo, key).p12_password() == keywrap.p12_password(password)
    finally:
        repo.close()


# -- item 1: an older data directory moved into the database, crashed anywhere ------------------


def _to_old_layout(data: Path) -> set[str]:
    """Rewrite ``data`` as phonetrust 0.1 kept it: salt, cached master key, p12.pass and
    keys/*.key sealed under the master key; nothing of it in the database. Returns the
    fingerprints. Only the publisher's CallManager and ITLRecovery keys are kept, so the
    crash test stays short."""
    from sqlalchemy import delete  # noqa: PLC0415

    from phonetrust.pki import keywrap  # noqa: PLC0415
    from phonetrust.policy.domain import CertName  # noqa: PLC0415
    from phonetrust.store import schema  # noqa: PLC0415
    from phonetrust.store.datadir import DataDir  # noqa: PLC0415
    from phonetrust.store.keys import fingerprint  # noqa: PLC0415
    from phonetrust.store.sql import open_repository  # noqa: PLC0415

    where = DataDir.locate(data)
    repo = open_repository(where.db_url)
    try:
        cluster_key = where.key_file.read_bytes()
        with repo.unit_of_work() as uow:
            mine = {
                fingerprint(own.der)
                for name in (CertName.CALLMANAGER, CertName.ITLRECOVERY)
                if (own := uow.current_certificate("cucm-pub", name)) is not None
            }
            sealed = {k: v for k, v in uow.list_sealed_keys().items() if k in mine}
        salt = keywrap.new_salt()
        master = keywrap.derive_master_key(OLD, salt)
        (data / "keys").mkdir(mode=0o700)
        for name, blob in sealed.items():
            der = keywrap.unseal(cluster_key, blob, name.encode())
            (data / "keys" / f"{name}.key").write_bytes(keywrap.seal(master, der, name.encode()))
        with repo.engine.begin() as connection:
            connection.execute(delete(schema.private_keys))
            connection.execute(delete(schema.key_vault))
    finally:
        repo.close()
    (data / "master.salt").write_bytes(salt)
    where.key_file.write_bytes(master)
    (data / "p12.pass").write_bytes(keywrap.p12_password(OLD))
    (data / "node").unlink()
    for path in data.rglob("*"):
        path.chmod(0o700 if path.is_dir() else 0o600)
    return set(sealed)


def _every_key_opens(data: Path, fingerprints: set[str]) -> None:
    from phonetrust.pki import keywrap  # noqa: PLC0415
    from phonetrust.store.datadir import DataDir  # noqa: PLC0415
    from phonetrust.store.keys import open_vault  # noqa: PLC0415
    from phonetrust.store.sql import open_repository  # noqa: PLC0415

    where = DataDir.locate(data)
    repo = open_repository(where.db_url)
    try:
        key = where.cluster_key(repo, datetime.now(UTC))  # unattended, from the cache
        with repo.unit_of_work() as uow:
            vault = uow.get_key_vault()
            sealed = uow.list_sealed_keys()
        assert vault is not None
        assert open_vault(vault, OLD) == key  # the password did not change
        assert set(sealed) == fingerprints
        for name, blob in sealed.items():
            keywrap.unseal_private_key(key, blob, name.encode())
        assert where.keystore(repo, key).p12_password() == keywrap.p12_password(OLD)
    finally:
        repo.close()
    assert not {"master.salt", "p12.pass", "keys"} & {p.name for p in data.iterdir()}


def test_an_older_data_directory_is_moved_into_the_database_even_through_crashes(
    template: Path, tmp_path: Path
) -> None:
    old = copy(template, tmp_path / "old")
    fingerprints = _to_old_layout(old)
    assert len(fingerprints) == 2
    crashes = []
    for step in range(1, MAX_STEPS):
        data = copy(old, tmp_path / f"run{step}")
        done = run(data, "cluster", "show", crash_at=step)
        if done.returncode == 0:
            _every_key_opens(data, fingerprints)
            break
        assert done.returncode == CRASHED, done.stderr
        crashes.append(done.stderr.strip())
        _every_key_opens(data, fingerprints)  # the next start finishes the move
        shutil.rmtree(data)
    else:
        pytest.fail(f"the move never completed in {MAX_STEPS} steps")
    assert any("commit" in c for c in crashes), crashes
    assert sum("unlink" in c for c in crashes) >= 2 * len(fingerprints), crashes


# -- items 2 and 3: private files, and refusing to start when they are not ----------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_backups_are_created_private(template: Path, tmp_path: Path) -> None:
    data = copy(template, tmp_path / "data")
    assert _mode(data) == 0o700
    ok(run(data, "cluster", "show"))
    made = [p for p in data.iterdir() if p.name.startswith("phonetrust.db")]
    assert {p.name for p in made} >= {"phonetrust.db"}
    assert {p.name: _mode(p) for p in made} == {p.name: 0o600 for p in made}
    ok(run(data, "backup", "create", str(tmp_path / "b.bak"), password=OLD))
    assert _mode(tmp_path / "b.bak") == 0o600
    # No temporary file is left beside the key material.
    assert not [p for p in data.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("relative", "mode", "fix"),
    [(".", 0o755, "chmod 700"), ("master.key", 0o644, "chmod 600")],
)
def test_a_data_directory_open_to_others_is_refused_on_one_line(
    template: Path, tmp_path: Path, relative: str, mode: int, fix: str
) -> None:
    data = copy(template, tmp_path / "data")
    target = (data / relative).resolve()
    if not target.exists():
        target = data / "master.salt"  # an older layout's key material
    target.chmod(mode)
    done = run(data, "cluster", "show")
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert str(target) in done.stderr
    assert fix in done.stderr
    assert done.stdout == ""


def test_each_private_write_has_its_own_temporary_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from phonetrust.store import durable  # noqa: PLC0415 - the writer under test

    names: list[str] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        names.append(Path(src).name)
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    durable.write_private(tmp_path / "master.key", b"a")
    durable.write_private(tmp_path / "master.salt", b"b")
    durable.write_private(tmp_path / "master.key", b"c")
    assert len(set(names)) == 3
    assert (tmp_path / "master.key").read_bytes() == b"c"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["master.key", "master.salt"]
    assert _mode(tmp_path / "master.key") == 0o600
