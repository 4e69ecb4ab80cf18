"""Issue 9, items 4 and 5: guessing a device's CAPF authentication string.

The attack as it was found: parallel CAPF clients guess a 4-digit string;
wrong strings were counted but stopped nothing, so 8 clients found one in
23 s and received a valid LSC. Here the same attack is run, bounded, over
loopback: real TLS CAPF clients, each from its own 127.0.0.x address (so
that the slow-down per address does not hide the lock), against a real
CAPF server of a lab cluster. The right string is among the guesses, after
the fifth wrong one. Expected: the operation locks after exactly 5 wrong
strings, no guess - not even the right one, tried during and after the
attack - receives an LSC, the audit records the lock once, an alert is
raised, and only scheduling the operation again unlocks it.

Also: a client cannot tell an unknown device from a wrong string or a
locked operation (same reason, same text), and an address that keeps
failing is refused while another address is not.
"""

from __future__ import annotations

import asyncio

import pytest

from phonetrust.net.capf import CapfServer
from phonetrust.net.capf_client import EnrollResult
from phonetrust.policy.domain import CapfAuthMode, Device
from phonetrust.protocols.capf.messages import Reason
from phonetrust.service import inventory
from tests.cli.helpers import run
from tests.net.test_capf_server import NAME, device, phone, schedule, serve, with_phone
from tests.service.conftest import Lab

SECRET = "0042"  # noqa: S105 - the test device's authentication string
"""The device's string: guessed in order from 0000, it comes after 42 wrong ones."""
GUESSES = 64
CLIENTS = 8
LIMIT = 5


def attacker(n: int) -> str:
    """The address attacker ``n`` connects from."""
    return f"127.0.0.{10 + n}"


@pytest.fixture
def cluster(lab: Lab) -> Lab:
    """The two-node lab cluster with one phone, NAME (as in tests/net/test_capf_server.py)."""
    return with_phone(lab)


def audit(cluster: Lab, action: str) -> list[str]:
    with cluster.ctx.repo.unit_of_work() as uow:
        return [e.detail for e in uow.list_audit(10_000) if e.action == action]


def alerts(cluster: Lab) -> list[str]:
    with cluster.ctx.repo.unit_of_work() as uow:
        return [a.kind for a in uow.list_alerts(open_only=True)]


async def guess_in_parallel(server: CapfServer) -> list[tuple[str, EnrollResult]]:
    """CLIENTS clients share the guesses 0000 .. GUESSES-1, in order, as fast as answered."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for n in range(GUESSES):
        queue.put_nowait(f"{n:04}")
    results: list[tuple[str, EnrollResult]] = []

    async def client(n: int) -> None:
        while not queue.empty():
            guess = queue.get_nowait()
            result = await phone(server, auth_string=guess, local_address=attacker(n))
            results.append((guess, result))

    await asyncio.gather(*(client(n) for n in range(CLIENTS)))
    return results


def test_parallel_guessing_locks_after_5_wrong_strings_and_never_gets_an_lsc(
    cluster: Lab,
) -> None:
    schedule(cluster, mode=CapfAuthMode.AUTH_STRING, auth_string=SECRET)

    async def scenario(server: CapfServer) -> None:
        results = await guess_in_parallel(server)
        assert len(results) == GUESSES
        won = [guess for guess, r in results if r.success or r.certificate is not None]
        assert won == [], f"the attack received an LSC with {won}"
        assert device(cluster).lsc is None
        # the right string, from an address that never failed: still refused
        after = await phone(server, auth_string=SECRET, local_address="127.0.0.99")
        assert not after.success
        assert after.certificate is None
        assert device(cluster).lsc is None
        locked = device(cluster)
        assert locked.capf_auth_failures == LIMIT
        assert locked.capf_locked_at is not None
        assert len(audit(cluster, "capf lock")) == 1
        assert f"CapfAuthLocked {NAME}" in alerts(cluster)
        assert SECRET not in locked.capf_auth_hash  # only a salted hash is stored
        listed = run("device", "list", "--data", cluster.where.root).ok()
        assert f"{NAME}" in listed.stdout
        assert "CAPF:install(locked)" in listed.stdout
        # an administrator schedules the operation again: unlocked, the new string works
        schedule(cluster, mode=CapfAuthMode.AUTH_STRING, auth_string="97531")
        assert device(cluster).capf_auth_failures == 0
        assert f"CapfAuthLocked {NAME}" not in alerts(cluster)
        enrolled = await phone(server, auth_string="97531", local_address="127.0.0.98")
        assert enrolled.success, enrolled
        assert enrolled.certificate is not None
        assert len(audit(cluster, "capf lock")) == 1

    serve(cluster, scenario)


def test_unknown_devices_wrong_strings_and_locks_answer_alike(cluster: Lab) -> None:
    other = "SEP0011223344AA"
    inventory.add_devices(cluster.ctx, [Device(other, "8845")])
    schedule(cluster, mode=CapfAuthMode.AUTH_STRING, auth_string="13579")
    schedule(cluster, other, mode=CapfAuthMode.AUTH_STRING, auth_string="24680")

    async def scenario(server: CapfServer) -> None:
        for n in range(LIMIT):  # lock the other device, from several addresses
            await phone(server, other, auth_string="0000", local_address=attacker(n))
        answers = {
            "unknown device": await phone(
                server, "SEP0000000000FF", auth_string="13579", local_address="127.0.0.31"
            ),
            "wrong string": await phone(server, auth_string="11111", local_address="127.0.0.32"),
            "locked": await phone(server, other, auth_string="24680", local_address="127.0.0.33"),
            "malformed name": await phone(
                server, "SEP001122", auth_string="13579", local_address="127.0.0.34"
            ),
        }
        seen = {(r.success, r.reason, r.info, r.certificate) for r in answers.values()}
        assert len(seen) == 1, answers
        (answer,) = seen
        assert answer[:2] == (False, Reason.INVALID_ELEMENT)

    serve(cluster, scenario)


def test_an_address_that_keeps_failing_is_refused_and_others_are_not(
    cluster: Lab,
) -> None:
    schedule(cluster, mode=CapfAuthMode.AUTH_STRING, auth_string="13579")

    async def scenario(server: CapfServer) -> None:
        for guess in ("1111", "2222", "3333", "4444"):
            result = await phone(server, auth_string=guess, local_address="127.0.0.40")
            assert not result.success
        counted = device(cluster).capf_auth_failures
        assert counted == 4
        # slowed down: refused without the device being consulted, even with the right string
        blocked = await phone(server, auth_string="13579", local_address="127.0.0.40")
        assert not blocked.success
        assert device(cluster).capf_auth_failures == counted
        # another address goes through at once
        good = await phone(server, auth_string="13579", local_address="127.0.0.41")
        assert good.success, good

    serve(cluster, scenario)
