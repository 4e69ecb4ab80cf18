"""Phones that booted, as the TFTP service records them, without serving anything.

The planner reads what each phone last downloaded from the ``downloads``
table the TFTP service writes. :func:`record_boots` writes the same records
for the files a phone of each model fetches from a node (CTL and ITL when
published, its configuration in the form the node publishes), so planner
tests need no running server; :func:`boot_for_real` boots one phone against
``serve`` when a test needs the real thing.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

from phonetrust.policy.domain import Device
from phonetrust.policy.models import model as phone_model
from phonetrust.service import inventory
from phonetrust.sim.phone import Phone
from phonetrust.store.repository import Download
from tests.scenarios.conftest import site_of
from tests.service.conftest import Lab

ONE_NODE = "Publisher only"
"""A CallManager group whose only server (TFTP, TVS) is the publisher: B2 locks phones."""


def add_phones(lab: Lab, *phones: tuple[str, str], group: str | None = None) -> list[str]:
    """Devices (name, model) added to the cluster, in ``group`` if given (made if needed)."""
    if group == ONE_NODE:
        inventory.put_group(lab.ctx, ONE_NODE, ["cucm-pub"])
    devices = [Device(name, model, group=group or "Default") for name, model in phones]
    inventory.add_devices(lab.ctx, devices)
    return [d.name for d in devices]


def record_boots(lab: Lab, *names: str, node: str = "cucm-pub") -> None:
    """Each device downloaded, from ``node``, what its phone fetches there now."""
    downloads: list[Download] = []
    with lab.ctx.repo.unit_of_work() as uow:
        files = uow.published_files(node)
        for name in names:
            device = uow.get_device(name)
            assert device is not None, name
            wanted = ["CTLFile.tlv"]
            if phone_model(device.model).security_by_default:
                wanted.append("ITLFile.tlv")
            config = f"{name}.cnf.xml"
            wanted.append(config + ".sgn" if config + ".sgn" in files else config)
            if config + ".enc.sgn" in files:  # the signed stub, then the encrypted file
                wanted.append(config + ".enc.sgn")
            for file in wanted:
                data = files.get(file)
                if data is not None:
                    sha1 = hashlib.sha1(data).hexdigest()
                    at = lab.ctx.now() + timedelta(milliseconds=len(downloads))  # in order
                    downloads.append(Download(name, file, node, sha1, len(data), at))
        uow.record_downloads(downloads)


async def boot_for_real(lab: Lab, mac: str) -> Phone:
    """An 8845 of a one-server group (the publisher) boots once against ``serve``; the
    TFTP server records its downloads (flushed when it stops, before this returns)."""
    async with site_of(lab) as site:
        await asyncio.to_thread(inventory.put_group, lab.ctx, ONE_NODE, ["cucm-pub"])
        phone = await site.phone(mac)
        await asyncio.to_thread(inventory.update_device, lab.ctx, f"SEP{mac}", group=ONE_NODE)
        await site.synced()
        assert not (await phone.boot()).locked
    return phone
