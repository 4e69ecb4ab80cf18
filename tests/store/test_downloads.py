"""The downloads table: each device's latest download of each file, and the one before.

The server cannot see a phone refuse a trust list, so what a phone holds
is either its latest download or the different one it had before; the
planner and the doctor tell the two apart. Both backends must keep the
previous SHA-1 the same way, in one statement per download.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from phonetrust.store.repository import Download
from phonetrust.store.sql import SqlRepository

T0 = datetime(2026, 3, 6, 12, 0, tzinfo=UTC)
PHONE = "SEP001122334455"


def _record(repo: SqlRepository, sha1: str, minutes: int, *, device: str = PHONE) -> None:
    at = T0 + timedelta(minutes=minutes)
    with repo.unit_of_work() as uow:
        uow.record_downloads([Download(device, "ITLFile.tlv", "cucm-pub", sha1, 10, at)])


def _row(repo: SqlRepository, device: str = PHONE) -> Download:
    with repo.unit_of_work() as uow:
        (row,) = uow.list_downloads(device)
    return row


@pytest.mark.parametrize(
    ("sequence", "latest", "previous"),
    [
        (["a"], "a", None),
        (["a", "a"], "a", None),
        (["a", "b"], "b", "a"),
        (["a", "b", "b"], "b", "a"),  # the same file again keeps what came before it
        (["a", "b", "c"], "c", "b"),
        (["a", "b", "a"], "a", "b"),
    ],
)
def test_a_different_download_keeps_the_one_it_replaced(
    repo: SqlRepository, sequence: list[str], latest: str, previous: str | None
) -> None:
    for minutes, sha1 in enumerate(sequence):
        _record(repo, sha1, minutes)
    row = _row(repo)
    assert (row.sha1, row.previous_sha1) == (latest, previous)
    assert row.at == T0 + timedelta(minutes=len(sequence) - 1)


def test_devices_keep_their_own_history(repo: SqlRepository) -> None:
    _record(repo, "a", 0, device="SEP000000000001")
    _record(repo, "b", 1, device="SEP000000000002")
    _record(repo, "c", 2, device="SEP000000000001")
    assert _row(repo, "SEP000000000001").previous_sha1 == "a"
    assert _row(repo, "SEP000000000002").previous_sha1 is None


def test_counts_of_held_lists_and_the_mark_follow_the_rows(repo: SqlRepository) -> None:
    with repo.unit_of_work() as uow:
        assert uow.count_downloads(["ITLFile.tlv"]) == {}
        assert uow.downloads_mark() == (0, None)
    _record(repo, "a", 0, device="SEP000000000001")
    _record(repo, "a", 1, device="SEP000000000002")
    _record(repo, "b", 2, device="SEP000000000003")
    with repo.unit_of_work() as uow:
        uow.record_downloads([Download("SEP000000000001", "CTLFile.tlv", "cucm-pub", "c", 5, T0)])
    with repo.unit_of_work() as uow:
        counted = uow.count_downloads(["ITLFile.tlv", "CTLFile.tlv"])
        expected: dict[tuple[str, str], int] = {}
        for d in uow.list_downloads():
            expected[(d.filename, d.sha1)] = expected.get((d.filename, d.sha1), 0) + 1
        assert (
            counted
            == expected
            == {
                ("ITLFile.tlv", "a"): 2,
                ("ITLFile.tlv", "b"): 1,
                ("CTLFile.tlv", "c"): 1,
            }
        )
        assert uow.count_downloads(["CTLFile.tlv"]) == {("CTLFile.tlv", "c"): 1}
        assert uow.downloads_mark() == (4, T0 + timedelta(minutes=2))
    _record(repo, "b", 9, device="SEP000000000001")  # a phone boots again: the mark moves
    with repo.unit_of_work() as uow:
        assert uow.downloads_mark() == (4, T0 + timedelta(minutes=9))
