"""Scenarios A1-A8: a phone's boot and verification with Security By Default, end to end."""

from __future__ import annotations

from tests.scenarios.conftest import run_async, site_of
from tests.service.conftest import Lab, lab, template  # noqa: F401 - fixtures used by name

MAC = "001122334455"


async def _a1(lab: Lab) -> None:  # noqa: F811
    async with site_of(lab) as site:
        phone = await site.phone(MAC)
        report = await phone.boot()
        # Per-device CTL first; a non-secure cluster has none, so CTLFile.tlv, then the ITL.
        assert report.requested == [
            f"CTLSEP{MAC}.tlv",
            "CTLFile.tlv",
            f"ITLSEP{MAC}.tlv",
            f"SEP{MAC}.cnf.xml.sgn",
        ]
        assert report.status == ["File Not Found <CTLFile.tlv>", "ITL installed"]
        assert report.config_applied
        assert not report.locked
        # With a list in force, a reset phone asks for the signed file, never the unsigned one.
        again = await phone.boot()
        assert f"SEP{MAC}.cnf.xml" not in again.requested
        assert again.requested[-1] == f"SEP{MAC}.cnf.xml.sgn"


def test_a1_boot_order(lab: Lab) -> None:  # noqa: F811
    run_async(_a1(lab))
