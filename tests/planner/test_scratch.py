"""The planner's scratch copy: every row of the real store, openable with the same cluster key,
and changed by a step without the real cluster changing at all."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, Table, inspect, select

from phonetrust.errors import LocalError
from phonetrust.planner.scratch import scratch_copy
from phonetrust.planner.steps import parse_steps, run_step
from phonetrust.policy.domain import CertName
from phonetrust.service import backup, inventory
from phonetrust.service.changes import reading
from phonetrust.service.context import Context
from phonetrust.store import schema
from phonetrust.store.datadir import DataDir
from phonetrust.store.engine import make_engine
from phonetrust.store.sql import SqlRepository
from phonetrust.testing.clock import FakeClock
from phonetrust.testing.cluster import open_context
from phonetrust.testing.postgres import create_schema, drop_schema
from tests.service.conftest import PASSWORD, START, Lab, install

TTL = "TVS Certificate Cache TTL (seconds)"
PASSWORD_ENV = "PHONETRUST_SECURITY_PASSWORD"  # noqa: S105 - the name of a variable
PLAN_TABLES = {"plan_versions", "published_files", "blobs"}
"""Of these, a copy from PostgreSQL holds the current plan version only."""


def rows(engine: Engine, table: Table) -> list[tuple[Any, ...]]:
    query = select(table).order_by(*table.primary_key.columns)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def views(engine: Engine) -> set[str]:
    return set(inspect(engine).get_view_names())


def revision(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar())


@pytest.fixture
def engines(lab: Lab, tmp_path: Path) -> Iterator[tuple[DataDir, Engine, Engine]]:
    """The scratch copy of the lab, the lab's engine and the scratch's."""
    scratch = scratch_copy(lab.ctx, lab.where, tmp_path / "scratch")
    real, copy = make_engine(lab.where.db_url), make_engine(scratch.db_url)
    yield scratch, real, copy
    real.dispose()
    copy.dispose()


def current_cert(ctx: Context) -> bytes:
    with reading(ctx) as uow:
        cert = uow.current_certificate("cucm-pub", CertName.CALLMANAGER)
        assert cert is not None
        return cert.der


def test_a_copy_of_sqlite_holds_every_row_view_and_the_schema_version(
    engines: tuple[DataDir, Engine, Engine], tmp_path: Path
) -> None:
    scratch, real, copy = engines
    for table in schema.metadata.sorted_tables:
        assert rows(copy, table) == rows(real, table), table.name
    assert views(copy) == views(real)
    assert views(copy)  # migration 0006's CUCM views
    assert revision(copy) == revision(real)
    assert scratch.root == tmp_path / "scratch" / "data"


def test_a_copy_caches_the_same_cluster_key_and_node_privately(
    lab: Lab, engines: tuple[DataDir, Engine, Engine]
) -> None:
    scratch, _, _ = engines
    assert scratch.key_file.read_bytes() == lab.where.key_file.read_bytes()
    assert stat.S_IMODE(scratch.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(scratch.root.stat().st_mode) == 0o700
    assert scratch.node_uid() == lab.where.node_uid()
    copied = open_context(scratch, FakeClock(START + 3600))
    try:
        der = current_cert(copied)
        assert copied.keys.get(der) is not None  # a sealed private key unseals in the copy
    finally:
        copied.repo.close()


def test_a_copy_needs_a_new_directory(lab: Lab, tmp_path: Path) -> None:
    scratch_copy(lab.ctx, lab.where, tmp_path / "scratch")
    with pytest.raises(LocalError, match="exists already"):
        scratch_copy(lab.ctx, lab.where, tmp_path / "scratch")


def test_a_step_changes_the_copy_and_not_the_real_cluster(
    lab: Lab, engines: tuple[DataDir, Engine, Engine]
) -> None:
    scratch, real, _ = engines
    before = {table.name: rows(real, table) for table in schema.metadata.sorted_tables}
    with reading(lab.ctx) as uow:
        version = uow.current_version()
    cert = current_cert(lab.ctx)

    [regen, param] = parse_steps(
        f'admin -c "set cert regen CallManager"\nphonetrust param set "{TTL}" 3600\n',
        "steps.txt",
    )
    for step in (regen, param):
        run = run_step(step, scratch)
        assert run.ok, run.output

    copied = open_context(scratch, FakeClock(START + 3600))
    try:
        assert current_cert(copied) != cert
        with reading(copied) as uow:
            assert uow.current_version() > version
            assert uow.get_params()[TTL] == "3600"
    finally:
        copied.repo.close()
    after = {table.name: rows(real, table) for table in schema.metadata.sorted_tables}
    assert after == before
    assert current_cert(lab.ctx) == cert


def test_a_failing_step_is_a_result(engines: tuple[DataDir, Engine, Engine]) -> None:
    scratch, _, _ = engines
    [step] = parse_steps("device set SEP000000000000 --group nowhere", "steps.txt")
    run = run_step(step, scratch)
    assert not run.ok
    assert "SEP000000000000" in run.output


def test_a_restore_replaces_the_copy_with_the_archive_s_cluster(
    lab: Lab, engines: tuple[DataDir, Engine, Engine], tmp_path: Path
) -> None:
    scratch, _, _ = engines
    archive = tmp_path / "lab.backup"
    archive.write_bytes(backup.create(lab.ctx, PASSWORD))
    inventory.set_param(lab.ctx, TTL, "3600")  # the real cluster moves on; the archive does not
    [step] = parse_steps(f"backup restore {archive}", "steps.txt")
    run = run_step(step, scratch, env={**os.environ, PASSWORD_ENV: PASSWORD})
    assert run.ok, run.output
    assert scratch.key_file.read_bytes() != lab.where.key_file.read_bytes()  # a new cluster key
    restored = open_context(scratch, FakeClock(START + 3600))
    try:
        assert current_cert(restored) == current_cert(lab.ctx)
        with reading(restored) as uow:
            assert TTL not in uow.get_params()
    finally:
        restored.repo.close()


def test_a_copy_of_postgresql_holds_every_row_of_the_current_plan(
    postgres_server: str, tmp_path: Path
) -> None:
    name = f"t_{uuid.uuid4().hex}"
    url = create_schema(postgres_server, name)
    where = DataDir.locate(tmp_path / "real", url)
    ctx = install(where.root, FakeClock(START), db=url)
    try:
        inventory.set_param(ctx, TTL, "3600")  # one more version
        scratch = scratch_copy(ctx, where, tmp_path / "scratch")
        assert isinstance(ctx.repo, SqlRepository)
        real, copy = ctx.repo.engine, make_engine(scratch.db_url)
        try:
            with reading(ctx) as uow:
                version = uow.current_version()
            assert version > 1
            for table in schema.metadata.sorted_tables:
                if table.name not in PLAN_TABLES:
                    assert rows(copy, table) == rows(real, table), table.name
            files = rows(copy, schema.published_files)
            assert files
            assert files == [f for f in rows(real, schema.published_files) if f[0] == version]
            assert rows(copy, schema.plan_versions) == [
                v for v in rows(real, schema.plan_versions) if v[0] == version
            ]
            served = {f[3] for f in files}
            assert {b[0] for b in rows(copy, schema.blobs)} == served
            assert views(copy) >= {"processconfig", "device"}
            assert revision(copy) == revision(real)
        finally:
            copy.dispose()
        copied = open_context(scratch, FakeClock(START))
        try:
            assert copied.keys.get(current_cert(copied)) is not None
            with reading(copied) as uow:
                assert uow.current_version() == version
        finally:
            copied.repo.close()
    finally:
        ctx.repo.close()
        drop_schema(postgres_server, name)
