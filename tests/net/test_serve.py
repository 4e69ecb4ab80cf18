"""``serve`` end to end: a node's TFTP, TVS and CAPF on real sockets, reloaded on change."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from contextlib import AbstractAsyncContextManager

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.serialization import Encoding

from phonetrust.cli.main import cli
from phonetrust.errors import LocalError
from phonetrust.formats.trustlist import TrustList
from phonetrust.net import capf_client, limits, tftp_remote, tvs_client
from phonetrust.net.serve import PortInUse, Running, ServeOptions, serving
from phonetrust.policy.domain import CapfAuthMode, CapfOperation, CertName, Device
from phonetrust.service import inventory
from tests.service.conftest import PASSWORD, Lab
from tests.service.helpers import current, signed_by
from tests.waiting import reloaded

DEVICE = "SEP001122334455"


def _serving(cluster: Lab, node: str = "cucm-pub") -> AbstractAsyncContextManager[Running]:
    options = ServeOptions(node=node, tftp_port=0, tvs_port=0, capf_port=0, https_port=0, poll=0.1)
    return serving(cluster.ctx, options)


async def _changes_reach_the_running_services(lab: Lab) -> None:
    inventory.add_devices(lab.ctx, [Device(DEVICE, "8845")])
    async with _serving(lab) as running:
        assert set(running.ports) == {"tftp", "tvs", "capf", "https"}
        tftp = ("127.0.0.1", running.ports["tftp"])
        itl, _ = await tftp_remote.fetch(tftp, f"ITLSEP{DEVICE[3:]}.tlv")
        assert itl == lab.file("cucm-pub", "ITLFile.tlv")
        # TVS presents the certificate the ITL's TVS record pins, and vouches for tomcat.
        tvs_der = current(lab.ctx, "cucm-pub", CertName.TVS).public_bytes(Encoding.DER)
        tomcat = current(lab.ctx, "cucm-pub", CertName.TOMCAT).public_bytes(Encoding.DER)
        answer = await tvs_client.query(
            "127.0.0.1",
            running.ports["tvs"],
            tomcat,
            f"CP-8845-{DEVICE}",
            expected_tvs_sha1=hashlib.sha1(tvs_der).digest(),  # the ITL pins SHA-1
        )
        assert answer.valid
        # An administrator's change reaches TFTP without a restart.
        await asyncio.to_thread(lab.admin, "set cert regen CallManager", "yes")
        new_cm = current(lab.ctx, "cucm-pub", CertName.CALLMANAGER)
        for _ in range(50):
            fresh, _ = await tftp_remote.fetch(tftp, "ITLFile.tlv")
            if fresh != itl:
                break
            await asyncio.sleep(0.1)
        assert signed_by(TrustList.from_wire(fresh), new_cm)
        # CAPF issues an LSC for a pending install.
        await asyncio.to_thread(
            inventory.schedule_capf,
            lab.ctx,
            DEVICE,
            operation=CapfOperation.INSTALL,
            auth_mode=CapfAuthMode.NULL_STRING,
            key="EC-P256",
        )
        await reloaded(lab.ctx, running)
        result = await capf_client.enroll(
            "127.0.0.1", running.ports["capf"], DEVICE, key_spec="EC-P256"
        )
        assert result.success, result
    with lab.ctx.repo.unit_of_work() as uow:
        device = uow.get_device(DEVICE)
        downloads = uow.list_downloads(DEVICE)
    assert device is not None
    assert device.lsc is not None
    assert [d.filename for d in downloads] == ["ITLFile.tlv"]


def test_serve_runs_the_three_services_and_reloads_on_change(lab: Lab) -> None:
    asyncio.run(_changes_reach_the_running_services(lab))


def test_serving_raises_why_the_services_could_not_start(lab: Lab) -> None:

    async def main() -> None:
        with pytest.raises(LocalError, match="nosuch"):
            async with _serving(lab, node="nosuch"):
                pytest.fail("services of an unknown node must not start")

    asyncio.run(main())


def test_a_port_in_use_names_the_service_and_what_to_do(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def main() -> None:
            options = ServeOptions(
                node="cucm-pub", tftp_port=0, tvs_port=port, capf_port=0, https_port=0
            )
            with pytest.raises(PortInUse) as raised:
                async with serving(lab.ctx, options):
                    pytest.fail("TVS must not start on a port in use")
            assert (raised.value.service, raised.value.port) == ("tvs", port)

        asyncio.run(main())
        monkeypatch.setenv("PHONETRUST_SECURITY_PASSWORD", PASSWORD)
        result = CliRunner().invoke(
            cli,
            [
                "serve",
                "--data",
                str(lab.where.root),
                "--tftp-port",
                "0",
                "--tvs-port",
                str(port),
                "--capf-port",
                "0",
                "--no-https",
            ],
        )
    assert result.exit_code == 1, result.output
    assert result.output.splitlines()[-1] == (
        f"Error: TVS: port {port} on 127.0.0.1 is already in use (another phonetrust serve?); "
        "stop it or choose --tvs-port"
    )


@pytest.mark.parametrize("limit", [256, 1024, 20_000, 1_048_576])
def test_descriptor_budgets_never_overlap_nor_exceed_the_limit(limit: int) -> None:
    services = ["tftp", "tvs", "capf", "https"]
    budgets = limits.budgets(services, limit=limit, in_use=20)
    assert sum(budgets.values()) <= limit - 20 - limits.PROCESS_RESERVE
    for name in services:
        assert limits.FLOOR <= budgets[name] <= limits.CEILINGS[name]
    assert budgets["tvs"] > budgets["capf"] > budgets["https"]
    # A node without TFTP leaves its share to the others.
    assert limits.budgets(["tvs", "capf"], limit=limit, in_use=20)["tvs"] >= budgets["tvs"]
    assert limits.per_address(budgets["tvs"]) * 2 <= budgets["tvs"]
