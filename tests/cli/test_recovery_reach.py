"""``phonetrust device recovery-reach``: the C6 listing, from what phones really downloaded."""

from __future__ import annotations

import asyncio

import pytest

from phonetrust.net import tftp_remote
from phonetrust.net.serve import Running, ServeOptions, run
from phonetrust.policy.domain import Device
from phonetrust.service import inventory
from tests.cli.helpers import run as phonetrust
from tests.service.conftest import Lab, lab, template  # noqa: F401 - fixtures used by name

FETCHED, SILENT = "SEP001122334455", "SEP0011223344AA"


async def _download_itl(cluster: Lab) -> None:
    started: asyncio.Future[Running] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    options = ServeOptions(tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1)
    task = asyncio.create_task(run(cluster.ctx, options, ready=started.set_result, stop=stop))
    running = await asyncio.wait_for(started, 30)
    try:
        await tftp_remote.fetch(("127.0.0.1", running.ports["tftp"]), f"ITLSEP{FETCHED[3:]}.tlv")
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def test_lists_reachable_and_unknown_devices(request: pytest.FixtureRequest) -> None:
    cluster: Lab = request.getfixturevalue("lab")
    inventory.add_devices(cluster.ctx, [Device(FETCHED, "8845"), Device(SILENT, "7975")])
    asyncio.run(_download_itl(cluster))
    cluster.ctx.repo.close()
    result = phonetrust("device", "recovery-reach", "--data", cluster.where.root)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{FETCHED}  reachable ") for line in lines), result.stdout
    assert any(line.startswith(f"{SILENT}  unknown ") for line in lines), result.stdout
    assert lines[-1].startswith("1 of 2 devices would take an ITL reset; 0 would not; 1 unknown")
