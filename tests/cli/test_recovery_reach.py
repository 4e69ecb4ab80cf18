"""``phonetrust device recovery-reach``: the C6 listing, from what phones really downloaded."""

from __future__ import annotations

import asyncio

from phonetrust.net import tftp_remote
from phonetrust.net.serve import ServeOptions, serving
from phonetrust.policy.domain import Device
from phonetrust.service import inventory
from tests.cli.helpers import run as phonetrust
from tests.service.conftest import Lab

FETCHED, SILENT = "SEP001122334455", "SEP0011223344AA"


async def _download_itl(cluster: Lab) -> None:
    options = ServeOptions(tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1)
    async with serving(cluster.ctx, options) as running:
        await tftp_remote.fetch(("127.0.0.1", running.ports["tftp"]), f"ITLSEP{FETCHED[3:]}.tlv")


def test_lists_reachable_and_unknown_devices(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(FETCHED, "8845"), Device(SILENT, "7975")])
    asyncio.run(_download_itl(lab))
    lab.ctx.repo.close()
    result = phonetrust("device", "recovery-reach", "--data", lab.where.root)
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith(f"{FETCHED}  reachable ") for line in lines), result.stdout
    assert any(line.startswith(f"{SILENT}  unknown ") for line in lines), result.stdout
    assert lines[-1].startswith("1 of 2 devices would take an ITL reset; 0 would not; 1 unknown")
