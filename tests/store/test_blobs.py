"""Published contents are stored once; old versions are pruned; 0002 data survives 0003."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from phonetrust.store import migrations
from phonetrust.store import schema as t
from phonetrust.store.sql import KEEP_VERSIONS, PRUNE_EVERY, SqlRepository, open_repository


def _blob_count(repo: SqlRepository) -> int:
    with repo.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(t.blobs)).scalar_one())


def test_unchanged_contents_are_stored_once_across_versions_and_nodes(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        uow.publish({("a", "ITLFile.tlv"): b"itl", ("b", "ITLFile.tlv"): b"itl", ("a", "x"): b"x"})
        uow.publish({("a", "ITLFile.tlv"): b"itl", ("b", "ITLFile.tlv"): b"itl2", ("a", "x"): b"x"})
        assert uow.published_file("b", "ITLFile.tlv", 1) == b"itl"
        assert uow.published_file("b", "ITLFile.tlv") == b"itl2"
        assert uow.published_names("a") == {"ITLFile.tlv": 3, "x": 1}
    assert _blob_count(repo) == 3


def test_old_versions_and_unused_contents_are_pruned(repo: SqlRepository) -> None:
    total = KEEP_VERSIONS + 2 * PRUNE_EVERY
    with repo.unit_of_work() as uow:
        for i in range(1, total + 1):
            uow.publish({("a", "f"): f"content {i}".encode()})
        assert uow.current_version() == total
        assert uow.published_file("a", "f") == f"content {total}".encode()
        assert uow.published_file("a", "f", 1) is None
        assert uow.published_file("a", "f", total - KEEP_VERSIONS + 1) is not None
    assert _blob_count(repo) <= KEEP_VERSIONS + PRUNE_EVERY


def test_files_published_before_0003_are_moved_into_blobs(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    migrations.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO plan_versions (version, created_at) VALUES (1, :at)"),
            {"at": datetime.now(UTC)},
        )
        for node, data in (("a", b"same"), ("b", b"same"), ("c", b"other")):
            conn.execute(
                sa.text(
                    "INSERT INTO published_files (version, node, filename, data) "
                    "VALUES (1, :n, 'f', :d)"
                ),
                {"n": node, "d": data},
            )
    engine.dispose()
    repo = open_repository(db_url)
    try:
        with repo.unit_of_work() as uow:
            assert [uow.published_file(n, "f") for n in "abc"] == [b"same", b"same", b"other"]
        assert _blob_count(repo) == 2
    finally:
        repo.close()
